"""`metaanalysis report --covariate` with a column the table does not have.

As ``metaanalysis regress --covariate nope`` does, ``report`` refuses it (exit
2, naming the covariate and the table's covariate columns) before it makes its
output folder, so a misspelled covariate cannot pass unnoticed in a batch run.
A covariate the table has is matched in any case, as by ``regress``.
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
