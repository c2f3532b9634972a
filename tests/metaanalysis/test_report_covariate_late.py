"""`metaanalysis report` and `regress` with a ``--covariate`` that is bad input.

A covariate the table has no column for, one given twice (in any case or
spacing), one missing for some studies, one mixing numbers and text, or one
named like the constant term is refused (exit 2, one sentence) before any
output folder is made, by ``report`` as by ``regress``. A covariate that is well
formed but has one value in every study cannot be estimated: ``report`` says so
in a note and in the report, and writes the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metaanalysis.cli import main

STUDIES = Path(__file__).resolve().parents[2] / "data" / "vbq_subsequent_fracture" / "studies.csv"


def test_report_refuses_an_unknown_covariate_before_making_the_folder(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["report", str(STUDIES), "--covariate", "nope", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown covariate 'nope'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_review_refuses_an_unknown_covariate_before_fitting():
    from metaanalysis.errors import InputError
    from metaanalysis.models.regression import covariate_column
    from metaanalysis.review import review
    from metaanalysis.table import StudyTable

    table = StudyTable.from_csv(STUDIES)
    with pytest.raises(InputError, match="unknown covariate 'nope'.*field_strength"):
        review(table, covariates=("nope",))
    assert covariate_column(table.covariates, " Design ") == "design"


def _with_columns(tmp_path) -> Path:
    import pandas as pd

    df = pd.read_csv(STUDIES)
    df["miss"] = [None if i == 5 else i for i in range(len(df))]
    df["mixed"] = ["a" if i < 3 else "1" for i in range(len(df))]
    df["intercept"] = range(len(df))
    path = tmp_path / "studies.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("covariates, said", [
    (["TP"], "'TP' is one of the 2x2 counts, not a covariate; the table's covariate columns "
             "are: source, primary_study, year"),
    (["Study"], "'Study' is the study names, not a covariate"),
    (["miss"], "covariate 'miss' is missing for 1 study: R06"),
    (["mixed"], "covariate 'mixed' mixes numbers and text"),
    (["intercept"], "has the name of the model's constant term"),
    (["year", " YEAR "], "covariate 'year' is given twice (as ' YEAR ')"),
])
@pytest.mark.parametrize("command", ["report", "regress"])
def test_a_covariate_that_is_bad_input_is_refused_before_any_output(
        tmp_path, capsys, covariates, said, command):
    src = _with_columns(tmp_path)
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command == "report" else ["--plots", str(out)]
    given = [x for c in covariates for x in ("--covariate", c)]
    rc = main([command, str(src), *given, *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert said in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_constant_covariate_is_a_note_of_the_report_not_a_refusal(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["report", str(STUDIES), "--covariate", "source", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    assert ("note: covariate source: covariate 'source' has only one level ('reconstructed') "
            "in all studies") in err
    assert "Covariate source: not estimated" in (out / "report.html").read_text()


def test_a_covariate_warning_names_the_covariate_once(capsys):
    from metaanalysis.review import review
    from metaanalysis.table import StudyTable

    rev = review(StudyTable.from_csv(STUDIES), covariates=("country",))
    said = [w for w in rev.warnings if "single study" in w]
    assert said == ["covariate 'country': level(s) 'Japan', 'USA' have a single study, so their "
                    "effects rest on that study alone."]
