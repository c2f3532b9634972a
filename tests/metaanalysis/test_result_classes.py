"""BivariateResult and RegressionResult: a short repr, and one rule for the correlation.

References by construction: a covariance matrix whose correlation is 1 up to round-off
(``psi12 = sqrt(psi11 psi22) (1 + 1e-15)``) has correlation 1, not 1 + 1e-15; one with a zero
variance has none.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

import metaanalysis as ma

FIX = Path(__file__).parents[1] / "fixtures" / "metafor_regression"


def _pair() -> tuple[ma.BivariateResult, object]:
    t = ma.StudyTable.from_csv(FIX / "AuditC.csv")
    return ma.reitsma(t, method="ml"), ma.regression(t, ["x"], method="ml")


def test_regression_result_repr_is_one_short_line() -> None:
    _, reg = _pair()
    text = repr(reg)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("RegressionResult(model='reitsma', method='ml', k=14")
    assert "terms=['intercept', 'x']" in text
    assert "array" not in text and "Design" not in text


def test_rho_is_clipped_and_undefined_alike_in_both_result_classes() -> None:
    fit, reg = _pair()
    over = np.array([[2.0, 2.0 * (1 + 1e-15)], [2.0 * (1 + 1e-15), 2.0]])
    zero = np.array([[0.0, 0.0], [0.0, 0.5]])
    for psi, expect in ((over, 1.0), (-over + np.diag([4.0, 4.0]), -1.0)):
        b = dataclasses.replace(fit, psi=psi)
        r = dataclasses.replace(reg, psi=psi)
        assert b.rho == r.rho == expect
    assert math.isnan(dataclasses.replace(fit, psi=zero).rho)
    assert math.isnan(dataclasses.replace(reg, psi=zero).rho)
