"""The moment start and the final likelihood evaluation of the Reitsma fit.

Both are written out for speed; they are checked against the textbook
formulas computed with numpy's general routines (``var``, ``corrcoef``, and
the likelihood's own gradient path), which pin them to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metaanalysis.models.likelihood import Likelihood
from metaanalysis.models.reitsma import _moment_start


def _reference_start(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Excess variance (floored at 5% of the variance) and half the correlation, clipped."""
    var = y.var(axis=0, ddof=1) if y.shape[0] > 1 else np.ones(2)
    tau2 = np.maximum(var - S.mean(axis=0), 0.05 * np.maximum(var, 1e-3))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(y.T)[0, 1] if y.shape[0] > 2 else 0.0
    r = 0.0 if not np.isfinite(r) else float(np.clip(0.5 * r, -0.9, 0.9))
    off = r * math.sqrt(tau2[0] * tau2[1])
    return np.array([[tau2[0], off], [off, tau2[1]]])


@pytest.mark.parametrize("k", [1, 2, 3, 5, 14, 100])
def test_moment_start_matches_var_and_corrcoef(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        y = rng.normal(size=(k, 2)) * [1.0, 2.0] + [1.5, -1.5]
        S = rng.random((k, 2)) + 0.05
        assert np.allclose(_moment_start(y, S), _reference_start(y, S), rtol=1e-12, atol=1e-15)


def test_moment_start_identical_studies_has_zero_correlation() -> None:
    y = np.tile([1.0, -2.0], (6, 1))
    S = np.full((6, 2), 0.2)
    start = _moment_start(y, S)
    assert np.all(np.isfinite(start))
    assert start[0, 1] == 0.0
    # zero observed variance: tau2 is floored at 5% of max(var, 1e-3)
    assert start[0, 0] == pytest.approx(0.05 * 1e-3, rel=1e-12)


def test_moment_start_perfect_correlation_is_clipped() -> None:
    x = np.linspace(-1.0, 1.0, 7)
    y = np.column_stack([x, 3.0 * x])
    S = np.full((7, 2), 0.01)
    start = _moment_start(y, S)
    rho = start[0, 1] / math.sqrt(start[0, 0] * start[1, 1])
    assert rho == pytest.approx(0.5, rel=1e-12)  # half of r = 1


@pytest.mark.parametrize("reml", [True, False])
def test_loglik_and_gls_matches_gradient_path(reml: bool) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(9, 2))
    S = rng.random((9, 2)) + 0.1
    psi = np.array([[0.4, 0.1], [0.1, 0.3]])
    lik = Likelihood(y, S, None, reml=reml)
    ll, coef, C = lik.loglik_and_gls(psi)
    ll_ref, _ = lik.value_and_grad_psi(psi)
    coef_ref, C_ref, *_ = lik.gls(psi)
    assert ll == pytest.approx(ll_ref, rel=1e-14)
    assert np.array_equal(coef, coef_ref) and np.array_equal(C, C_ref)


def test_newton_spends_one_evaluation_per_trial_when_a_shorter_step_is_taken() -> None:
    # on this table one full Newton step overshoots (the value rises) and a shorter one
    # along it is taken (between a tenth and a half of it, at the minimum of the
    # interpolating quadratic); the derivatives there are those of the next iteration
    from pathlib import Path

    import metaanalysis as ma
    from metaanalysis.models.likelihood import ALL_FREE, cholesky_params
    from metaanalysis.models.reitsma import _newton

    t = ma.StudyTable.from_csv(Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv")
    y, S = t.logits("all")
    lik = Likelihood(y, S, None, reml=True)
    points: list[np.ndarray] = []
    values: list[float] = []

    def counting(theta: list[float]) -> tuple[float, list[float], list[list[float]],
                                              list[list[float]] | None]:
        out = lik.derivatives(theta)
        points.append(np.array(theta))
        values.append(out[0])
        return out

    res = _newton(counting, cholesky_params(_moment_start(y, S)), ALL_FREE)
    assert res.success
    # (a rise within the rounding of the value, at the end, is a step accepted for its
    # smaller gradient)
    rejected = [i for i in range(1, len(values)) if values[i] > values[i - 1] + 1e-9]
    assert len(rejected) == 1
    i = rejected[0]
    full, short = points[i] - points[i - 1], points[i + 1] - points[i - 1]
    ratio = float(short @ full / (full @ full))
    assert 0.1 <= ratio <= 0.5
    np.testing.assert_allclose(short, ratio * full, rtol=1e-12, atol=1e-15)
    assert values[i + 1] < values[i - 1]
    # the start, the rejected step, then one per step taken
    assert len(points) <= res.nit + 2
    _, grad = lik.objective(res.x, ALL_FREE)
    assert np.max(np.abs(grad)) < 1e-8
