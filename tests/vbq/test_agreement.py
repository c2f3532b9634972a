"""Reader agreement (vbq.agreement, `vbq agreement`): ICC against R's psych, Bland-Altman and
kappa by hand, the bootstrap, warnings, and the command line's outputs and exit codes."""

from __future__ import annotations

import csv
import doctest
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "agreement"
REF = json.loads((FIX / "icc_psych.json").read_text())["data"]


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


def _readings(name: str, **kw):
    from vbq.agreement import read_readings

    return read_readings(FIX / name, **kw)


def _icc_rows(res, scope="inter", reader=None):
    t = res.icc[res.icc["scope"] == scope]
    return t[t["reader"].isna()] if reader is None else t[t["reader"] == reader]


# --------------------------------------------------------------------------- ICC vs psych

CASES = {
    # data set in icc_psych.json -> (file, read options, scope, reader)
    "shrout_fleiss_1979": ("shrout_fleiss_1979.csv", {"subject": "subject", "wide": True},
                           "inter", None),
    "reader_bias_inter": ("reader_bias.csv", {}, "inter", None),
    "reader_bias_intra_A": ("reader_bias.csv", {}, "intra", "A"),
    "two_readers": ("two_readers.csv", {}, "inter", None),
    "negative_rater_variance": ("negative_rater_variance.csv", {}, "inter", None),
}


@pytest.mark.rref
@pytest.mark.parametrize("name", list(CASES))
def test_icc_matches_psych(name):
    from vbq.agreement import analyze

    file, opts, scope, reader = CASES[name]
    res = analyze(_readings(file, **opts))
    rows = _icc_rows(res, scope, reader)
    ref = REF[name]
    assert list(rows["type"]) == [r["type"] for r in ref["icc"]]
    for r in ref["icc"]:
        got = rows[rows["type"] == r["type"]].iloc[0]
        assert got["n_subjects"] == ref["n_subjects"] and got["n_raters"] == ref["n_raters"]
        for key in ("icc", "F", "df1", "df2", "p", "lower", "upper"):
            # psych's intervals are closed-form F quantiles: deterministic
            assert got[key] == pytest.approx(r[key], abs=1e-6), (name, r["type"], key)


def test_icc_names_both_conventions():
    from vbq.agreement import analyze

    rows = _icc_rows(analyze(_readings("two_readers.csv")))
    assert dict(zip(rows["type"], rows["mcgraw_wong"], strict=True)) == {
        "ICC1": "ICC(1)", "ICC2": "ICC(A,1)", "ICC3": "ICC(C,1)",
        "ICC1k": "ICC(k)", "ICC2k": "ICC(A,k)", "ICC3k": "ICC(C,k)"}
    assert list(rows["shrout_fleiss"]) == ["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)",
                                           "ICC(2,k)", "ICC(3,k)"]


def test_negative_rater_variance_fixture_and_warning():
    from vbq.agreement import analyze

    ref = REF["negative_rater_variance"]
    # the data set is what it claims: MS(raters) < MS(error) in R's ANOVA
    assert ref["ms_raters"] < ref["ms_error"]
    res = analyze(_readings("negative_rater_variance.csv"))
    assert "negative_variance" in res.warning_codes
    me = res.measurement_error.iloc[0]
    n = ref["n_subjects"]
    assert me["var_raters"] == pytest.approx((ref["ms_raters"] - ref["ms_error"]) / n, abs=1e-12)
    # the negative component is taken as 0: SEM = sqrt(MSE)
    assert me["sem"] == pytest.approx(math.sqrt(ref["ms_error"]), abs=1e-12)


@pytest.mark.rref
@pytest.mark.parametrize("name", ["reader_bias_inter", "shrout_fleiss_1979"])
def test_measurement_error_from_psych_mean_squares(name):
    from vbq.agreement import analyze

    file, opts, scope, reader = CASES[name]
    me = analyze(_readings(file, **opts)).measurement_error.iloc[0]
    ref = REF[name]
    n, k = ref["n_subjects"], ref["n_raters"]
    var_r = (ref["ms_raters"] - ref["ms_error"]) / n
    assert var_r > 0
    sem = math.sqrt(var_r + ref["ms_error"])
    wsd = math.sqrt(ref["ms_within"])
    assert me["sem"] == pytest.approx(sem, abs=1e-9)
    assert me["mdc95"] == pytest.approx(1.96 * math.sqrt(2) * sem, abs=1e-9)
    assert me["within_subject_sd"] == pytest.approx(wsd, abs=1e-9)
    assert me["repeatability_coefficient"] == pytest.approx(2.7718585822512662 * wsd, abs=1e-9)
    assert me["sem_consistency"] == pytest.approx(math.sqrt(ref["ms_error"]), abs=1e-9)
    assert me["var_subjects"] == pytest.approx((ref["ms_subjects"] - ref["ms_error"]) / k,
                                               abs=1e-9)


def test_module_doctest():
    import vbq.agreement

    failed, attempted = doctest.testmod(vbq.agreement, verbose=False)
    assert attempted >= 4 and failed == 0


# --------------------------------------------------------------------------- Bland-Altman

A = [3.0, 3.5, 4.0, 2.5, 3.2]
B = [3.1, 3.4, 4.3, 2.6, 3.5]


def _pairs_frame(a, b):
    return pd.DataFrame({"s": [f"s{i}" for i in range(len(a))] * 2,
                         "r": ["A"] * len(a) + ["B"] * len(b), "v": list(a) + list(b)})


def test_bland_altman_by_hand():
    from vbq.agreement import bland_altman

    t = bland_altman(_pairs_frame(A, B), subject="s", rater="r", value="v")
    row = t.iloc[0]
    # d = B - A = 0.1, -0.1, 0.3, 0.1, 0.3: sum 0.7, mean 0.14; squared deviations
    # 0.0016 + 0.0576 + 0.0256 + 0.0016 + 0.0256 = 0.112, variance 0.112 / 4 = 0.028
    n, bias, sd = 5, 0.14, math.sqrt(0.028)
    t4 = 2.7764451051977987  # t(0.975, 4), from a t table
    assert (row["rater_a"], row["rater_b"], row["n"]) == ("A", "B", 5)
    assert row["bias"] == pytest.approx(bias, abs=1e-12)
    assert row["sd_diff"] == pytest.approx(sd, abs=1e-12)
    assert row["bias_lower"] == pytest.approx(bias - t4 * sd / math.sqrt(5), abs=1e-9)
    assert row["bias_upper"] == pytest.approx(bias + t4 * sd / math.sqrt(5), abs=1e-9)
    assert row["loa_lower"] == pytest.approx(bias - 1.96 * sd, abs=1e-12)
    assert row["loa_upper"] == pytest.approx(bias + 1.96 * sd, abs=1e-12)
    # Bland & Altman 1999: SE of a limit = SD sqrt(1/n + 1.96^2 / (2 (n - 1)))
    se = sd * math.sqrt(1 / n + 1.96**2 / 8)
    assert se == pytest.approx(0.1380058, abs=1e-7)  # 0.1673320 x 0.8247424
    for key, centre in (("loa_lower", bias - 1.96 * sd), ("loa_upper", bias + 1.96 * sd)):
        assert row[f"{key}_ci_lower"] == pytest.approx(centre - t4 * se, abs=1e-9)
        assert row[f"{key}_ci_upper"] == pytest.approx(centre + t4 * se, abs=1e-9)
    # proportional bias: least squares of d on the means 3.05, 3.45, 4.15, 2.55, 3.35
    m = [3.05, 3.45, 4.15, 2.55, 3.35]
    d = [0.1, -0.1, 0.3, 0.1, 0.3]
    mbar = sum(m) / 5
    sxx = sum((x - mbar) ** 2 for x in m)
    sxy = sum((x - mbar) * (y - bias) for x, y in zip(m, d, strict=True))
    assert row["slope"] == pytest.approx(sxy / sxx, abs=1e-12)
    assert row["intercept"] == pytest.approx(bias - sxy / sxx * mbar, abs=1e-12)
    assert 0 < row["slope_p"] < 1


def test_bland_altman_log_gives_ratio_limits():
    from vbq.agreement import bland_altman

    row = bland_altman(_pairs_frame(A, B), subject="s", rater="r", value="v", log=True).iloc[0]
    logs = [math.log(b / a) for a, b in zip(A, B, strict=True)]
    mean = sum(logs) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 4)
    assert row["scale"] == "log"
    assert row["ratio_bias"] == pytest.approx(math.exp(mean), abs=1e-12)
    assert row["ratio_loa_lower"] == pytest.approx(math.exp(mean - 1.96 * sd), abs=1e-12)
    assert row["ratio_loa_upper"] == pytest.approx(math.exp(mean + 1.96 * sd), abs=1e-12)


def test_bland_altman_plot_draws_the_limits():
    from matplotlib.figure import Figure

    from vbq.agreement import bland_altman, plot_bland_altman

    row = bland_altman(_pairs_frame(A, B), subject="s", rater="r", value="v").iloc[0].to_dict()
    ax = Figure().add_subplot()
    assert plot_bland_altman(A, B, row, ax=ax) is ax
    ys = {round(line.get_ydata()[0], 9) for line in ax.get_lines()}
    for key in ("bias", "loa_lower", "loa_upper"):
        assert round(row[key], 9) in ys
    assert len(ax.collections[0].get_offsets()) == 5
    assert plot_bland_altman(A, B) is not None  # ax=None: a new figure's Axes


# --------------------------------------------------------------------------- kappa


@pytest.mark.rref
def test_cohen_kappa_by_hand_psych_and_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa

    from vbq.agreement import analyze

    res = analyze(_readings("two_readers.csv"), cutoffs=[3.0, 4.28])
    k = res.kappa.set_index("cutoff")
    ref = {str(r["cutoff"]) if not isinstance(r["cutoff"], list) else "3;4.28": r
           for r in REF["two_readers"]["kappa"]}
    row = k.loc["3"]
    # R1 x R2 table at 3.0 (psych's, rows R1): [[5, 1], [3, 15]], n = 24
    assert ref["3"]["table"] == [[5, 1], [3, 15]]
    # po = 20/24; marginals R1 (6, 18)/24, R2 (8, 16)/24; pe = 1/4*1/3 + 3/4*2/3 = 7/12
    po, pe = 20 / 24, 7 / 12
    assert row["kappa"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)  # = 0.6
    assert row["percent_agreement"] == pytest.approx(po, abs=1e-12)
    assert row["pabak"] == pytest.approx(2 * po - 1, abs=1e-12)
    # SE under kappa = 0 (Fleiss, Cohen & Everitt 1969), by hand:
    # (pe + pe^2 - sum p_i. p_.i (p_i. + p_.i)) / ((1 - pe)^2 n)
    # = (7/12 + 49/144 - (1/12 * 7/12 + 1/2 * 17/12)) / ((5/12)^2 * 24) = 0.04
    assert row["se0"] == pytest.approx(0.2, abs=1e-12)
    assert row["z"] == pytest.approx(3.0, abs=1e-12)
    assert row["p"] == pytest.approx(0.0026997960632601866, abs=1e-12)
    # the reported SE is the large-sample (non-null) one: psych's var.kappa
    for cut in ("3", "4.28"):
        assert k.loc[cut, "kappa"] == pytest.approx(ref[cut]["kappa"], abs=1e-12)
        assert k.loc[cut, "se"] == pytest.approx(math.sqrt(ref[cut]["var_kappa"]), abs=1e-9)
        sm = cohens_kappa(np.array(ref[cut]["table"], float))
        # statsmodels' Wald interval, cut to kappa's range (it reaches 1.065 at 4.28)
        assert k.loc[cut, "ci_lower"] == pytest.approx(max(-1.0, sm.kappa_low), abs=1e-9)
        assert k.loc[cut, "ci_upper"] == pytest.approx(min(1.0, sm.kappa_upp), abs=1e-9)
        assert k.loc[cut, "statistic"] == "cohen"
    w = k.loc["3;4.28"]
    assert w["statistic"] == "cohen_linear_weighted" and w["categories"] == 3
    assert w["kappa"] == pytest.approx(ref["3;4.28"]["weighted_kappa_linear"], abs=1e-12)
    assert w["pabak"] == pytest.approx((3 * w["percent_agreement"] - 1) / 2, abs=1e-12)


def _three_raters(cats_rows):
    rows = []
    for i, cats in enumerate(cats_rows):
        for j, c in enumerate(cats):
            rows.append({"s": f"s{i}", "r": f"R{j}", "v": 2.0 + 2.0 * c})
    return pd.DataFrame(rows)


def test_fleiss_kappa_by_hand():
    from vbq.agreement import kappa

    df = _three_raters([[1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 1]])
    row = kappa(df, [3.0], subject="s", rater="r", value="v", n_boot=200).iloc[0]
    # P_i = 1, 1, 1/3, 1/3 -> P = 2/3; p(above) = 6/12 -> Pe = 1/2; kappa = 1/3
    assert row["statistic"] == "fleiss"
    assert row["kappa"] == pytest.approx(1 / 3, abs=1e-12)
    assert row["percent_agreement"] == pytest.approx(2 / 3, abs=1e-12)
    assert row["pabak"] == pytest.approx(1 / 3, abs=1e-12)
    assert row["ci_method"] == "bootstrap percentile"


def test_weighted_fleiss_reduces_to_fleiss_and_matches_statsmodels():
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    from vbq.agreement import _counts, _fleiss_weighted, _linear_weights

    rng = np.random.default_rng(3)
    cats = rng.integers(0, 3, size=(30, 4))
    counts = _counts(cats, 3)
    agg, _ = aggregate_raters(cats, n_cat=3)
    assert _fleiss_weighted(counts, np.eye(3)) == pytest.approx(fleiss_kappa(agg), abs=1e-12)
    binary = (cats > 0).astype(int)
    assert _fleiss_weighted(_counts(binary, 2), _linear_weights(2)) == pytest.approx(
        fleiss_kappa(aggregate_raters(binary, n_cat=2)[0]), abs=1e-12)


def test_fleiss_bootstrap_reproducible_and_covers():
    from vbq.agreement import analyze

    readings = _readings("reader_bias.csv")
    a = analyze(readings, cutoffs=[3.0], seed=11)
    b = analyze(readings, cutoffs=[3.0], seed=11)
    c = analyze(readings, cutoffs=[3.0], seed=12)

    def inter(res):
        return res.kappa[res.kappa["scope"] == "inter"].iloc[0]
    ra, rb, rc = inter(a), inter(b), inter(c)
    assert ra["statistic"] == "fleiss" and a.settings["n_boot"] == 2000
    assert (ra["ci_lower"], ra["ci_upper"], ra["se"]) == (rb["ci_lower"], rb["ci_upper"],
                                                          rb["se"])
    assert (ra["ci_lower"], ra["ci_upper"]) != (rc["ci_lower"], rc["ci_upper"])
    assert ra["ci_lower"] <= ra["kappa"] <= ra["ci_upper"]
    assert ra["kappa"] == rc["kappa"]


def test_kappa_null_when_every_reading_is_on_one_side():
    from vbq.agreement import analyze

    res = analyze(_readings("two_readers.csv"), cutoffs=[9.0])
    row = res.kappa.iloc[0]
    assert math.isnan(row["kappa"]) and row["percent_agreement"] == 1.0
    assert "kappa_undefined" in res.warning_codes
    out = res.to_dict()["inter_reader"]["kappa"][0]
    assert out["kappa"] is None and out["pabak"] == 1.0
    json.dumps(res.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- warnings


def _write(tmp_path, rows, header="series_instance_uid,reader,vbq", name="r.csv"):
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return p


def test_unbalanced_subjects_named_and_left_out(tmp_path):
    from vbq.agreement import analyze, read_readings

    lines = (FIX / "two_readers.csv").read_text().splitlines()
    keep = [ln for ln in lines[1:] if not ln.startswith("P05,R2") and not ln.startswith("P09,R1")]
    res = analyze(read_readings(_write(tmp_path, keep)))
    assert res.warning_codes.count("unbalanced") == 1
    msg = res.warnings[res.warning_codes.index("unbalanced")]
    assert "2 of 24" in msg and "P05" in msg and "P09" in msg
    assert set(_icc_rows(res)["n_subjects"]) == {22}
    assert res.incomplete_subjects["inter"] == ["P05", "P09"]


def test_unedited_proposals_counted():
    from vbq.agreement import analyze

    with open(FIX / "reader_bias.csv", newline="") as fh:
        expected = sum(r["roi_provenance"] == "proposal" for r in csv.DictReader(fh))
    res = analyze(_readings("reader_bias.csv"))
    assert expected > 0
    assert res.provenance["n_unedited_proposals"] == expected
    i = res.warning_codes.index("unedited_proposals")
    assert res.warnings[i].startswith(f"{expected} of 48 readings")


def test_result_json_is_strict_and_has_both_scopes():
    from vbq.agreement import analyze

    res = analyze(_readings("reader_bias.csv"), cutoffs=[3.0, 4.28])
    d = _strict(json.dumps(res.to_dict(), allow_nan=False))
    assert d["inter_reader"]["headline"]["mcgraw_wong"] == "ICC(A,1)"
    assert set(d["intra_reader"]) == {"A"}
    assert len(d["inter_reader"]["bland_altman"]) == 3
    assert len(d["warnings"]) == len(d["warning_codes"])
    assert "ICC(A,1)" in res.summary()


# --------------------------------------------------------------------------- command line


def _run(capsys, *argv):
    from vbq.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_good_run_json_and_plots(tmp_path, capsys):
    plots = tmp_path / "figs"
    code, out, err = _run(capsys, "agreement", str(FIX / "reader_bias.csv"), "--cutoff", "3.0",
                          "--cutoff", "4.28", "--json", "--plots", str(plots))
    assert code == 0, err
    d = _strict(out)
    ref = REF["reader_bias_inter"]["icc"][1]
    assert d["inter_reader"]["headline"]["icc"] == pytest.approx(ref["icc"], abs=1e-6)
    pngs = sorted(plots.glob("*.png"))
    assert len(pngs) == 4  # three reader pairs and reader A's two occasions
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    lines = err.splitlines()
    assert lines and all(ln.startswith("vbq: warning: ") for ln in lines)
    assert len(lines) == len(set(lines)) == len(d["warnings"])


def test_cli_wide_and_log(capsys):
    code, out, err = _run(capsys, "agreement", str(FIX / "shrout_fleiss_1979.csv"), "--wide",
                          "--subject", "subject", "--log")
    assert code == 0, err
    assert "ICC(A,1) = 0.290" in out and "as ratios" in out


BAD_INPUT = {
    "missing column": ("series_instance_uid,reader,score", ["a,R1,3.0", "b,R2,3.1"], [], 2,
                       "no 'vbq' column"),
    "not a number": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,abc"], [], 2,
                     "row 2, column vbq: 'abc' is not a number"),
    "nan": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,nan"], [], 2, "row 2"),
    "duplicate": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "b,R1,3.1", "a,R1,3.2"], [], 2,
                  "row 3: subject 'a', reader 'R1' is already read in row 1"),
    "named occasion missing": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,3.1"],
                               ["--occasion", "visit"], 2, "no 'visit' column"),
    "bad cutoff": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,3.1"],
                   ["--cutoff", "nan"], 2, "--cutoff"),
    "unknown option": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,3.1"],
                       ["--kappa"], 2, "unrecognized arguments"),
    "one reader": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "b,R1,3.1"], [], 1,
                   "only one reader (R1)"),
    "one subject": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,3.1"], [], 1,
                    "only 1 subject"),
    "log of zero": ("series_instance_uid,reader,vbq", ["a,R1,3.0", "a,R2,0", "b,R1,3.1",
                                                       "b,R2,3.3"], ["--log"], 1, "> 0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_cli_bad_input_one_sentence(tmp_path, capsys, case):
    header, rows, extra, want, text = BAD_INPUT[case]
    path = _write(tmp_path, rows, header)
    code, out, err = _run(capsys, "agreement", str(path), *extra)
    assert code == want, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    assert text in lines[0]
    assert out == ""


def test_statsmodels_is_not_imported_by_the_command_line_parser():
    code = ("import sys, vbq, vbq.cli; vbq.cli.build_parser(); "
            "print(any(m.startswith('statsmodels') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_one_reader_on_two_occasions_gives_intra_reader_only(tmp_path, capsys):
    rows = [f"s{i},R1,{o},{3.0 + 0.1 * i + 0.02 * o * (-1) ** i}" for i in range(6)
            for o in (1, 2)]
    path = _write(tmp_path, rows, "series_instance_uid,reader,occasion,vbq")
    code, out, err = _run(capsys, "agreement", str(path), "--json")
    assert code == 0, err
    d = _strict(out)
    assert d["inter_reader"] is None and set(d["intra_reader"]) == {"R1"}
    assert d["intra_reader"]["R1"]["bland_altman"][0]["n"] == 6


def test_degenerate_cohen_kappa_has_no_interval():
    from vbq.agreement import analyze

    # reader A's two occasions at 4.28: one occasion has no reading at or above it
    res = analyze(_readings("reader_bias.csv"), cutoffs=[4.28])
    row = res.kappa[(res.kappa["scope"] == "intra")].iloc[0]
    assert row["kappa"] == 0.0 and math.isnan(row["se"]) and math.isnan(row["ci_lower"])
    assert "kappa_degenerate" in res.warning_codes


def test_wide_table_with_a_subject_twice_is_refused(tmp_path):
    from vbq.agreement import read_readings
    from vbq.errors import InputError

    path = _write(tmp_path, ["a,3.0,3.1", "b,3.2,3.3", "a,3.4,3.5"], "subject,R1,R2")
    with pytest.raises(InputError, match=r"r.csv row 3: subject 'a', reader 'R1' is already "
                                         r"read in row 1"):
        read_readings(path, subject="subject", wide=True)


@pytest.mark.parametrize(("argv", "said"), [
    (["--rater", "vbq"], "--rater and --value both name the column 'vbq'; give each role "
                         "its own column"),
    (["--subject", "READER"], "--subject and --rater both name the column 'reader'; give "
                              "each role its own column"),
    (["--occasion", "vbq"], "--value and --occasion both name the column 'vbq'; give each "
                            "role its own column"),
    (["--seed", "-1"], "--seed -1: give 0 or a positive whole number (the bootstrap's random "
                       "generator takes no negative seed)"),
    (["--cutoff", "3", "--cutoff", "3.0"], "--cutoff 3 is given twice"),
    (["--plots", ""], "--plots: the folder name is empty; give a folder"),
])
def test_cli_options_that_cannot_mean_anything_are_refused(capsys, tmp_path, argv, said):
    code, out, err = _run(capsys, "agreement", str(FIX / "reader_bias.csv"), *argv)
    assert code == 2 and out == "" and err.strip() == f"vbq: error: {said}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("big", ["1e200", "-2e151"])
def test_a_reading_too_large_to_square_is_refused_naming_its_row(capsys, tmp_path, big):
    path = tmp_path / "big.csv"
    rows = ["series_instance_uid,reader,vbq"] + [f"s{i},{r},{2 + i / 10 + j / 100}"
                                                 for i in range(4) for j, r in enumerate("ab")]
    rows[-1] = f"s3,b,{big}"
    path.write_text("\n".join(rows) + "\n")
    code, out, err = _run(capsys, "agreement", str(path))
    assert code == 2 and out == ""
    assert err.strip() == (f"vbq: error: big.csv row 8, column vbq: '{big}' is too large to "
                           "analyse (beyond 1e150: its square, in the variances, would "
                           "overflow)")


@pytest.mark.parametrize(("body", "said"), [
    ('s1,a,1,3.1\ns1,b,1,3.2\ns2,"a\nb",1,2.9\n',
     "t.csv row 3: the cell of column 'reader' runs over several lines (a double quote not "
     "closed on its line?)"),
    ('s1,a,1,3.1\n"s1,b,1,3.2\ns2,a,1,2.9\n',
     "t.csv, line 3: a double quote opened there is never closed"),
])
def test_damaged_csv_in_a_reader_table_is_named_as_in_a_manifest(capsys, tmp_path, body, said):
    (tmp_path / "t.csv").write_text("series_instance_uid,reader,occasion,vbq\n" + body)
    code, out, err = _run(capsys, "agreement", str(tmp_path / "t.csv"))
    assert code == 2 and out == "" and err.strip() == f"vbq: error: {said}"


def test_empty_cells_past_the_header_are_a_spreadsheets_and_read(capsys, tmp_path):
    rows = [f"s{i},{r},1,{2 + i / 10 + j / 100}" for i in range(4) for j, r in enumerate("ab")]
    (tmp_path / "plain.csv").write_text("series_instance_uid,reader,occasion,vbq\n"
                                        + "\n".join(rows) + "\n")
    (tmp_path / "trail.csv").write_text("series_instance_uid,reader,occasion,vbq,\n"
                                        + "\n".join(r + ",," for r in rows) + "\n")
    plain = _run(capsys, "agreement", str(tmp_path / "plain.csv"), "--json")
    trail = _run(capsys, "agreement", str(tmp_path / "trail.csv"), "--json")
    assert plain[0] == trail[0] == 0
    assert _strict(trail[1])["inter_reader"] == _strict(plain[1])["inter_reader"]


def test_occasions_written_1_and_01_are_one_occasion(capsys, tmp_path):
    (tmp_path / "t.csv").write_text("series_instance_uid,reader,occasion,vbq\n"
                                    "s1,a,1,3.1\ns1,a,01,3.3\ns2,a,1,2.9\n")
    code, out, err = _run(capsys, "agreement", str(tmp_path / "t.csv"))
    assert code == 2 and err.strip() == (
        "vbq: error: t.csv row 2: subject 's1', reader 'a', occasion '1' is already read in "
        "row 1")


def test_a_zero_shown_to_three_decimals_has_no_sign(capsys, tmp_path):
    """Readers differ a little on subjects that do not differ: ICC(A,1) is about -1e-5."""
    rows = ["series_instance_uid,reader,vbq"]
    for i, (a, b) in enumerate([(3.0, 3.01), (3.01, 3.0), (3.0, 3.0), (3.01, 3.01),
                                (3.0, 3.01), (3.01, 3.0)]):
        rows += [f"s{i},a,{a}", f"s{i},b,{b}"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    code, out, _ = _run(capsys, "agreement", str(tmp_path / "t.csv"))
    assert code == 0 and "-0.000" not in out and "ICC(A,1) = " in out


def test_a_plot_over_the_table_names_the_option_plainly(capsys, tmp_path):
    table = tmp_path / "bland_altman_01_inter_B_vs_A.png"
    table.write_text((FIX / "reader_bias.csv").read_text())
    code, out, err = _run(capsys, "agreement", str(table), "--plots", str(tmp_path))
    assert code == 2 and err.strip().startswith("vbq: error: --plots ")
    assert err.strip().endswith("; give --plots another file name") and ": the plot" not in err
