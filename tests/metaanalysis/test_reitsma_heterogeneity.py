"""I2 summaries of the bivariate fit.

Reference: metafor::rma(method="REML") I2 in tests/fixtures/univariate_reml.json (its
I2 = tau2 / (tau2 + s2) with the same typical within-study variance s2).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.heterogeneity import bivariate_i2, typical_within_variance

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures"
UNI = json.loads((FIX / "univariate_reml.json").read_text())


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4"])
def test_per_outcome_i2_reproduces_metafor_with_its_tau2(name):
    t = ma.StudyTable.from_csv(FIX / "refs" / f"{name}.csv")
    u = UNI["data"][name]["univariate"]
    ts, tf = u["logit_sens"]["REML"]["tau2"], u["logit_spec"]["REML"]["tau2"]
    got = bivariate_i2(t, np.diag([ts, tf]))
    assert 100 * got["logit_sens"] == pytest.approx(u["logit_sens"]["REML"]["I2"], rel=1e-6)
    assert 100 * got["logit_fpr"] == pytest.approx(u["logit_spec"]["REML"]["I2"], rel=1e-6)


def test_typical_variance_equal_variances():
    assert typical_within_variance([0.2] * 7) == pytest.approx(0.2)


def test_bivariate_i2_hand_computed():
    # every study has within-study variance 1/10 + 1/10 = 0.2 on both outcomes
    df = pd.DataFrame({"study": list("abcd"), "TP": [10] * 4, "FN": [10] * 4, "FP": [10] * 4,
                       "TN": [10] * 4})
    t = ma.StudyTable(df)
    got = bivariate_i2(t, np.diag([0.6, 0.6]))
    assert got["bivariate"] == pytest.approx(0.6 / 0.8)
    assert got["logit_sens"] == pytest.approx(0.75)
    # perfectly correlated random effects: |Psi| = 0 although each outcome varies,
    # so the determinant-based share is undefined (NaN), not 0
    assert np.isnan(bivariate_i2(t, np.array([[0.6, 0.6], [0.6, 0.6]]))["bivariate"])
    # sqrt|Psi| = 0.6 * sqrt(1 - 0.5^2) for rho = 0.5
    r = np.sqrt(0.36 * 0.75)
    got = bivariate_i2(t, np.array([[0.6, 0.3], [0.3, 0.6]]))["bivariate"]
    assert got == pytest.approx(r / (r + 0.2))


def test_result_carries_i2():
    t = ma.StudyTable.from_csv(FIX / "refs" / "AuditC.csv")
    f = ma.reitsma(t)
    assert set(f.i2) == {"logit_sens", "logit_fpr", "bivariate"}
    assert all(0 <= v <= 1 for v in f.i2.values())
    assert f.to_dict()["i2"] == pytest.approx(f.i2)
