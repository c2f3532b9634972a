"""Every warning of the statistics half is a MetaAnalysisWarning with a stable code.

Results carry ``warnings`` (text) and ``warning_codes`` (same length, same order), and
the JSON output carries both lists.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis import errors
from metaanalysis.cli import main
from metaanalysis.models.regression import regression

REFS = Path(__file__).parents[1] / "fixtures" / "refs"


def _warning_classes() -> list[type[errors.MetaAnalysisWarning]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, Warning)]


def test_every_warning_class_derives_from_the_base_and_has_its_own_code():
    classes = _warning_classes()
    assert len(classes) >= 10
    codes = [c.code for c in classes]
    assert all(issubclass(c, errors.MetaAnalysisWarning) for c in classes)
    assert all(issubclass(c, UserWarning) for c in classes)
    assert len(set(codes)) == len(codes)
    assert all(code.isidentifier() and code == code.lower() for code in codes)
    assert issubclass(errors.FitWarning, errors.MetaAnalysisWarning)
    # a variance at zero is a boundary estimate: catching the one catches the other
    assert issubclass(errors.ZeroVarianceWarning, errors.BoundaryEstimateWarning)


def _identical_studies() -> ma.StudyTable:
    df = pd.DataFrame({"study": list("abcdef"), "TP": [40] * 6, "FN": [10] * 6,
                       "FP": [15] * 6, "TN": [85] * 6})
    return ma.StudyTable(df)


@pytest.mark.parametrize("fit", [ma.reitsma, ma.glmm, ma.univariate])
def test_codes_match_the_emitted_warnings_in_order(fit):
    table = _identical_studies().subset([0, 1, 2, 3])  # 4 studies: few, and no variation
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = fit(table)
    emitted = [w for w in record if issubclass(w.category, errors.MetaAnalysisWarning)]
    assert [str(w.message) for w in emitted] == list(res.warnings)
    assert [w.category.code for w in emitted] == list(res.warning_codes)
    assert "few_studies" in res.warning_codes and "zero_variance" in res.warning_codes
    d = res.to_dict()
    assert d["warnings"] == list(res.warnings)
    assert d["warning_codes"] == list(res.warning_codes)


def test_regression_result_carries_codes():
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")
    df = t.df.assign(design=[1, 2, 3] * 4 + [1, 2])
    with pytest.warns(errors.CodedCovariateWarning):
        res = regression(ma.StudyTable(df), "design", test=False)
    assert len(res.warning_codes) == len(res.warnings)
    assert res.to_dict()["warning_codes"] == list(res.warning_codes)


def test_a_result_built_without_codes_gets_the_generic_code():
    fit = ma.reitsma(ma.StudyTable.from_csv(REFS / "AuditC.csv"))
    other = ma.BivariateResult(model=fit.model, method=fit.method, table=fit.table,
                               correction=fit.correction, mu=fit.mu, vcov=fit.vcov,
                               psi=fit.psi, loglik=fit.loglik, nobs=fit.nobs,
                               warnings=("a note",))
    assert other.warning_codes == ("warning",)
    with pytest.raises(ValueError, match="warning_codes"):
        ma.BivariateResult(model=fit.model, method=fit.method, table=fit.table,
                           correction=fit.correction, mu=fit.mu, vcov=fit.vcov,
                           psi=fit.psi, loglik=fit.loglik, nobs=fit.nobs,
                           warnings=("a", "b"), warning_codes=("fit",))


def test_pool_json_lists_the_codes(capsys, tmp_path):
    path = tmp_path / "same.csv"
    _identical_studies().df.to_csv(path, index=False)
    assert main(["pool", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["warning_codes"] == ["zero_variance", "zero_variance"]
    assert len(d["warnings"]) == 2
