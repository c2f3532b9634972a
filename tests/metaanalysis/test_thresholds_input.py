"""The long-format table of the multiple-thresholds model, its command line and exit codes.

Checks by construction: a mirrored data set (``--direction lower`` on negated cut-offs)
gives the same fit; a simulated data set with logistic test values of known means and
scales has a known optimal cut-off (the midpoint of the two means when the scales are
equal), which the fit recovers within its interval.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaanalysis.cli import main
from metaanalysis.errors import AnalysisError, InputError
from metaanalysis.models.thresholds import thresholds
from metaanalysis.thresholds_table import ThresholdsTable

HEADER = "study,cutoff,TP,FP,FN,TN\n"


def simulated(mean0: float = 2.0, mean1: float = 4.0, scale: float = 0.6, k: int = 12,
              seed: int = 1, n: int = 200) -> pd.DataFrame:
    """Studies of n diseased and n non-diseased with logistic values; 3 cut-offs each."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(k):
        shift = rng.normal(0, 0.15)
        v0 = rng.logistic(mean0 + shift, scale, n)
        v1 = rng.logistic(mean1 + shift, scale, n)
        for c in np.sort(rng.choice(np.arange(1.5, 4.6, 0.25), 3, replace=False)):
            rows.append({"study": f"s{i}", "cutoff": c, "TP": int(np.sum(v1 >= c)),
                         "FP": int(np.sum(v0 >= c)), "FN": int(np.sum(v1 < c)),
                         "TN": int(np.sum(v0 < c))})
    return pd.DataFrame(rows)


def fit(df: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return thresholds(ThresholdsTable(df, direction=kw.pop("direction", "higher")), **kw)


def write(tmp_path, text: str, name: str = "t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_recovers_a_known_optimal_cutoff():
    """Equal scales: the Youden-optimal cut-off is the midpoint of the means, 3.0."""
    res = fit(simulated(), model="CI")
    oc = res.optimal_cutoff
    assert oc["lower"] < 3.0 < oc["upper"]
    assert abs(oc["value"] - 3.0) < 0.15
    assert 0 < oc["upper"] - oc["lower"] < 1.0


def test_direction_lower_is_the_mirror_image():
    df = simulated()
    mirrored = df.assign(cutoff=-df["cutoff"])
    # positive when value <= cutoff, on negated values: the same counts
    a = fit(df, model="CICS")
    b = fit(mirrored, model="CICS", direction="lower")
    assert b.loglik == pytest.approx(a.loglik, abs=1e-7)
    assert b.optimal_cutoff["value"] == pytest.approx(-a.optimal_cutoff["value"], rel=1e-6)
    assert b.sens_spec([-3.0])["sens"].iloc[0] == pytest.approx(
        a.sens_spec([3.0])["sens"].iloc[0], rel=1e-6)


def test_lambda_moves_the_cutoff_towards_sensitivity():
    df = simulated()
    assert fit(df, model="CI", lam=0.8).optimal_cutoff["value"] < \
        fit(df, model="CI", lam=0.5).optimal_cutoff["value"]


def test_random_cutoffs_carry_no_threshold_information():
    """VBQ studies with one random cut-off each: random slopes refused, CI refuses too."""
    df = pd.read_csv(Path(__file__).parents[2] / "data" / "vbq_subsequent_fracture" / "studies.csv")
    t = ThresholdsTable(df)
    assert set(t.cutoffs_per_study().values()) == {1}
    with pytest.raises(AnalysisError, match=r"fit model CI or DI instead"):
        thresholds(t, model="CICS")
    with pytest.raises(AnalysisError, match=r"does not rise as the cut-off rises"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            thresholds(t, model="CI")


@pytest.mark.parametrize(("body", "match"), [
    ("a,x,5,2,1,8\n", r"row 1 \(study 'a'\), column cutoff: 'x' is not a number"),
    ("a,,5,2,1,8\n", r"row 1 \(study 'a'\), column cutoff: the cut-off is missing"),
    ("a,2,5,2,1,8\na,2,4,1,2,9\n", r"rows 1 and 2 \(study 'a'\).*given twice"),
    ("a,2,5,2,1,8\na,3,6,1,0,9\n",
     r"rows 1 and 2 \(study 'a'\), column TP: TP rises from 5 to 6"),
    ("a,3,5,1,1,9\na,2,6,0,0,10\n", r"rows 2 and 1 \(study 'a'\), column FP: FP rises"),
    ("a,2,-5,2,1,8\n", r"row 1 \(study 'a'\), column TP: the count '-5' is negative"),
])
def test_malformed_tables_name_the_rows(tmp_path, body, match):
    with pytest.raises(InputError, match=match):
        ThresholdsTable.from_csv(write(tmp_path, HEADER + body))


def test_ties_and_single_cutoff_studies_are_valid(tmp_path):
    text = HEADER + "a,2,5,2,1,8\na,3,5,2,1,8\nb,2,4,2,2,8\n"
    t = ThresholdsTable.from_csv(write(tmp_path, text))
    assert t.cutoffs_per_study() == {"a": 2, "b": 1}
    assert t.warnings == ()


def test_unequal_totals_warn_naming_the_study(tmp_path):
    t = ThresholdsTable.from_csv(write(tmp_path, HEADER + "a,2,5,2,1,8\na,3,4,2,1,8\n"))
    assert t.warning_codes == ("unequal_totals",)
    assert "study 'a'" in t.warnings[0] and "(5, 6)" in t.warnings[0]


def test_study_key_never_author(tmp_path):
    text = "author,cutoff,TP,FP,FN,TN\nSmith,2,5,2,1,8\n"
    with pytest.raises(InputError, match=r"missing column\(s\) study"):
        ThresholdsTable.from_csv(write(tmp_path, text))
    t = ThresholdsTable.from_csv(write(tmp_path, "Study_ID,author,cutoff,TP,FP,FN,TN\n"
                                                 "1,Smith,2,5,2,1,8\n2,Smith,2,5,2,1,8\n"))
    assert t.studies == ("1", "2") and t.study_column == "Study_ID"


def test_cli_exit_codes_one_sentence(tmp_path, capsys):
    bad = write(tmp_path, HEADER + "a,2,5,2,1,8\na,3,6,1,0,9\n")
    assert main(["thresholds", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "TP rises" in err
    single = write(tmp_path, HEADER + "a,2,5,2,1,8\nb,2,4,2,2,8\nc,2,6,1,1,9\n", "s.csv")
    assert main(["thresholds", single, "--model", "CI"]) == 1
    assert "same cut-off" in capsys.readouterr().err
    one_each = write(tmp_path, HEADER + "a,2,5,2,1,8\nb,3,4,2,2,8\nc,4,2,1,4,9\n", "o.csv")
    assert main(["thresholds", one_each]) == 1
    err = capsys.readouterr().err
    assert "fit model CI or DI instead" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as stop:
        main(["thresholds", bad, "--lambda", "1.5"])
    assert stop.value.code == 2
    with pytest.raises(SystemExit) as stop:
        main(["thresholds", bad, "--model", "XX"])
    assert stop.value.code == 2


def test_cli_json_and_plots(tmp_path, capsys):
    path = tmp_path / "sim.csv"
    simulated().to_csv(path, index=False)
    out = tmp_path / "figs"
    assert main(["thresholds", str(path), "--model", "CI", "--json", "--at", "3",
                 "--plots", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "CI" and data["at"][0]["cutoff"] == 3.0
    assert math.isfinite(data["optimal_cutoff"]["lower"])
    assert (out / "sroc.png").stat().st_size > 0 and (out / "sens_spec.png").stat().st_size > 0


def _workbook(tmp_path, df: pd.DataFrame, name: str = "t.xlsx"):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active.append(["extracted by hand"])
    sheet = book.create_sheet("Cutoffs")
    sheet.append(list(df.columns))
    for row in df.itertuples(index=False):
        sheet.append([v.item() if hasattr(v, "item") else v for v in row])
    sheet.append([None] * len(df.columns))  # a trailing empty row is skipped
    path = tmp_path / name
    book.save(path)
    return path


def test_xlsx_sheet_reads_as_the_csv(tmp_path, capsys):
    """The same table from a CSV file and from a workbook's named sheet: the same fit."""
    df = simulated()
    csv_path = tmp_path / "sim.csv"
    df.to_csv(csv_path, index=False)
    book = _workbook(tmp_path, df)
    a = ThresholdsTable.from_csv(csv_path)
    b = ThresholdsTable.read(book, sheet="cutoffs")
    for attr in ("study", "cutoff", "tp", "fp", "fn", "tn", "rows"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
    assert b.source == f"{book}, sheet 'Cutoffs'"
    assert main(["thresholds", str(csv_path), "--model", "CI", "--json"]) == 0
    from_csv = json.loads(capsys.readouterr().out)
    assert main(["thresholds", str(book), "--sheet", "2", "--model", "CI", "--json"]) == 0
    from_xlsx = json.loads(capsys.readouterr().out)
    assert from_xlsx["optimal_cutoff"] == from_csv["optimal_cutoff"]


def test_xlsx_errors_name_the_sheet(tmp_path, capsys):
    df = pd.DataFrame({"study": ["a", "a"], "cutoff": [2, 3], "TP": [5, 6], "FP": [2, 1],
                       "FN": [1, 0], "TN": [8, 9]})
    book = _workbook(tmp_path, df)
    with pytest.raises(InputError, match=r"sheet 'Cutoffs': rows 1 and 2 \(study 'a'\), "
                                         r"column TP: TP rises from 5 to 6"):
        ThresholdsTable.read(book, sheet="Cutoffs")
    assert main(["thresholds", str(book), "--sheet", "Nope"]) == 2
    err = capsys.readouterr().err
    assert "no sheet named 'Nope'" in err and err.count("\n") == 1
    csv_path = tmp_path / "t.csv"
    df.to_csv(csv_path, index=False)
    assert main(["thresholds", str(csv_path), "--sheet", "1"]) == 2
    assert "--sheet applies to .xlsx workbooks only" in capsys.readouterr().err


def test_falling_line_under_ci_suggests_no_simpler_model():
    """CI is the simplest structure: its refusal points at the direction only."""
    df = simulated(k=12, seed=3).groupby("study").head(1).reset_index(drop=True)
    # one cut-off per study, the highest where the most test positive: the lines fall
    sens = df.TP / (df.TP + df.FN)
    df["cutoff"] = np.sort(df["cutoff"].to_numpy())[sens.rank(method="first").astype(int) - 1]
    with pytest.raises(AnalysisError) as err:
        fit(df, model="CI")
    msg = str(err.value)
    assert "does not rise" in msg and "--direction" in msg and "simpler model" not in msg
    with pytest.raises(AnalysisError, match="does not rise.*or fit a simpler model"):
        fit(df, model="DI")


def test_a_cutoff_of_hundreds_of_digits_is_named_in_a_short_sentence(tmp_path):
    body = f"a,{'9' * 400},5,2,1,8\n"
    with pytest.raises(InputError) as info:
        ThresholdsTable.from_csv(write(tmp_path, HEADER + body))
    assert str(info.value).endswith(f"row 1 (study 'a'), column cutoff: '{'9' * 20}... (400 "
                                    "characters)' is not a finite cut-off.")
