"""The shape of the statistics half: one logit transform, one result base, computing
apart from rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.models.regression import RegressionResult
from metaanalysis.models.univariate import outcome_data
from metaanalysis.results import BivariateResult, FitResult
from metaanalysis.studies import study_weights

REFS = Path(__file__).parents[1] / "fixtures" / "refs"


def test_logits_by_hand_with_each_correction():
    t = ma.StudyTable(pd.DataFrame({"study": ["a", "b"], "TP": [9, 8], "FP": [1, 0],
                                    "FN": [1, 2], "TN": [9, 8]}))
    y, s = t.logits("single")  # only study b has a zero cell: 0.5 added to b alone
    np.testing.assert_allclose(y, [[np.log(9 / 1), np.log(1 / 9)],
                                   [np.log(8.5 / 2.5), np.log(0.5 / 8.5)]], rtol=1e-15)
    np.testing.assert_allclose(s, [[1 / 9 + 1, 1 + 1 / 9],
                                   [1 / 8.5 + 1 / 2.5, 1 / 0.5 + 1 / 8.5]], rtol=1e-15)
    y, _ = t.logits("all")  # a zero anywhere: 0.5 added to every cell
    np.testing.assert_allclose(y[0], [np.log(9.5 / 1.5), np.log(1.5 / 9.5)], rtol=1e-15)


def test_every_logit_user_takes_the_tables_logits():
    t = ma.StudyTable.from_csv(REFS / "zerocells.csv")
    y, s = t.logits("single")
    data = outcome_data(t, "single")
    np.testing.assert_allclose(data["logit_sens"][0], y[:, 0], rtol=1e-15)
    np.testing.assert_allclose(data["logit_spec"][0], -y[:, 1], rtol=1e-15)
    np.testing.assert_allclose(data["logit_spec"][1], s[:, 1], rtol=1e-15)


def test_study_weights_use_the_tables_variances():
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")
    fit = ma.reitsma(t)
    _, s = t.logits("all")
    w = np.linalg.inv(fit.psi[None] + s[:, :, None] * np.eye(2)[None])
    vmu = np.linalg.inv(w.sum(axis=0))
    expected = np.array([np.trace(vmu @ wi) / 2 for wi in w])
    np.testing.assert_allclose(study_weights(fit), expected, rtol=1e-12)
    assert study_weights(fit).sum() == pytest.approx(1.0, abs=1e-12)


def test_both_result_classes_share_one_base():
    assert issubclass(BivariateResult, FitResult) and issubclass(RegressionResult, FitResult)
    shared = ("tau2", "rho", "loglik_convention", "aic", "bic", "i2")
    for name in shared:
        assert name not in vars(BivariateResult) and name not in vars(RegressionResult), name
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")
    pooled = ma.reitsma(t)
    null = ma.regression(t, [], test=False)  # intercept only: the same model, fitted by the
    # design-matrix path, so equal to the optimiser's precision (gradient below 1e-10)
    assert null.tau2 == pytest.approx(pooled.tau2, rel=1e-8)
    assert null.rho == pytest.approx(pooled.rho, rel=1e-8)
    assert null.loglik == pytest.approx(pooled.loglik, rel=1e-10)
    assert null.aic - pooled.aic == pytest.approx(0.0, abs=1e-8)
    assert null.i2 == pytest.approx(pooled.i2, rel=1e-8)


def test_reproducing_draws_and_writes_nothing():
    code = ("import sys; from metaanalysis.reproduce import reproduce, Reproduction; "
            "rep = reproduce(glmm=False); "
            "print([m for m in ('matplotlib', 'metaanalysis.report', 'metaanalysis.plots') "
            "if m in sys.modules], hasattr(Reproduction, 'write'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[] False"
