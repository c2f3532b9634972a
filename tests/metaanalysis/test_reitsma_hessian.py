"""The closed-form Hessian of the bivariate normal likelihood, and the Newton step.

:meth:`Likelihood.derivatives` writes the REML (and ML) Hessian out in closed
form; it is checked here against finite differences of the likelihood computed
by the other, GLS path (:meth:`Likelihood.objective`): central differences of its
analytic gradient, and second differences of its value alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models.likelihood import ALL_FREE, Likelihood
from metaanalysis.models.reitsma import _eigen_step, _solve_pd

REFS = Path(__file__).parents[1] / "fixtures" / "refs"

#: points (a, b, c) of the Cholesky factor: interior, a negative covariance, a
#: correlation near 1 (c small), a variance near 0 (a small), large variances
_POINTS = [(0.6, 0.2, 0.5), (1.1, -0.7, 0.3), (0.8, 0.5, 1e-3), (1e-3, 0.4, 0.6),
           (2.5, 1.5, 2.0)]


def _lik(name: str, reml: bool) -> Likelihood:
    y, S = ma.StudyTable.from_csv(REFS / f"{name}.csv").logits("all")
    return Likelihood(y, S, None, reml=reml)


def _central_hessian_of_gradient(lik: Likelihood, theta: np.ndarray, h: float) -> np.ndarray:
    H = np.empty((3, 3))
    for j in range(3):
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        H[:, j] = (lik.objective(up, ALL_FREE)[1] - lik.objective(down, ALL_FREE)[1]) / (2 * h)
    return H


def _second_differences_of_value(lik: Likelihood, theta: np.ndarray, h: float) -> np.ndarray:
    def f(d: np.ndarray) -> float:
        return lik.objective(theta + d, ALL_FREE)[0]

    E = np.eye(3) * h
    H = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            H[i, j] = (f(E[i] + E[j]) - f(E[i] - E[j]) - f(E[j] - E[i]) + f(-E[i] - E[j])) \
                / (4 * h * h)
    return H


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name", ["few4", "AuditC", "Dementia", "zerocells"])
@pytest.mark.parametrize("point", _POINTS)
def test_hessian_equals_central_differences_of_the_gradient(name, reml, point):
    lik = _lik(name, reml)
    theta = np.array(point)
    hess = np.array(lik.derivatives(list(point))[2])
    assert np.array_equal(hess, hess.T)
    # central differences with h = 1e-6: the rounding error eps |g| / h and the
    # truncation error h^2/6 |g'''| (largest near the boundary, where the curvature
    # changes on the scale of a or c; about 2e-8 of the Hessian's scale at h = 1e-5 and
    # falling as h^2) are each about 1e-9 of the scale or less, so 1e-7 of its largest
    # entry leaves a margin of 100 while a wrong term fails (the REML terms alone move
    # it by 3e-3 of its scale or more, see below)
    fd = _central_hessian_of_gradient(lik, theta, 1e-6)
    scale = np.max(np.abs(fd))
    np.testing.assert_allclose(hess, fd, rtol=0, atol=1e-7 * scale)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name", ["few4", "Dementia"])
def test_hessian_equals_second_differences_of_the_value(name, reml):
    # independent of any gradient: with h = 1e-4 the truncation error h^2/12 |f''''| is
    # at most about 4e-7 of the Hessian's scale at these two interior points and the
    # rounding error 4 eps |f| / (4 h^2) about 1e-8 of it, so a tolerance of 1e-5 of its
    # largest entry leaves a margin of 25
    lik = _lik(name, reml)
    for point in _POINTS[:2]:
        hess = lik.derivatives(list(point))[2]
        fd = _second_differences_of_value(lik, np.array(point), 1e-4)
        np.testing.assert_allclose(np.array(hess), fd, rtol=0, atol=1e-5 * np.max(np.abs(fd)))


def test_reml_and_ml_hessians_differ_by_more_than_the_tolerance():
    # the checks above can fail: the REML terms move the Hessian by far more than the
    # tolerance of the finite-difference comparison
    point = list(_POINTS[0])
    reml = np.array(_lik("AuditC", True).derivatives(point)[2])
    ml = np.array(_lik("AuditC", False).derivatives(point)[2])
    assert np.max(np.abs(reml - ml)) > 1e4 * 1e-7 * np.max(np.abs(reml))


def _dense_information(lik: Likelihood, point: tuple[float, float, float]) -> np.ndarray:
    """1/2 tr(P V_m P V_n) on the stacked 2k x 2k matrices, through Psi = L L'."""
    a, b, c = point
    k = lik.y.shape[0]
    psi = np.array([[a * a, a * b], [a * b, b * b + c * c]])
    S = np.column_stack([lik.s1, lik.s2])
    V = np.kron(np.eye(k), psi) + np.diag(S.ravel())
    X = np.kron(np.ones((k, 1)), np.eye(2))
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.inv(X.T @ Vi @ X) @ X.T @ Vi if lik.reml else Vi
    dpsi = [np.array([[2 * a, b], [b, 0.0]]), np.array([[0.0, a], [a, 2 * b]]),
            np.array([[0.0, 0.0], [0.0, 2 * c]])]
    dV = [np.kron(np.eye(k), d) for d in dpsi]
    return np.array([[0.5 * np.trace(P @ dV[i] @ P @ dV[j]) for j in range(3)]
                     for i in range(3)])


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name", ["few4", "AuditC"])
def test_expected_information_equals_the_dense_trace_formula(name, reml):
    # the Fisher-scoring matrix 1/2 tr(P V_i P V_j) (W for P under ML) from the sums of
    # per-study monomials against the same trace on the stacked matrices: one formula,
    # two implementations, so round-off apart
    lik = _lik(name, reml)
    for point in _POINTS:
        info = np.array(lik.derivatives(list(point))[3])
        np.testing.assert_allclose(info, _dense_information(lik, point), rtol=1e-10,
                                   atol=1e-12 * np.max(np.abs(info)))


def _reference_step(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(H)
    w = np.abs(w)
    w = np.maximum(w, 1e-10 * max(1.0, float(np.max(w))))
    return -V @ ((V.T @ g) / w)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_newton_step_is_the_absolute_eigenvalue_step(n):
    # a positive definite matrix is solved through its Cholesky factor, an indefinite or
    # nearly singular one is left to the eigenvectors; the step is the same either way
    rng = np.random.default_rng(n)
    kinds = 3 if n > 1 else 2  # (a nearly singular matrix needs two eigenvalues)
    for case in range(90):
        Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        w = rng.uniform(0.1, 10.0, size=n) * 10.0 ** rng.integers(-3, 4)
        kind = case % kinds
        if kind == 1:
            w[0] = -w[0]
        elif kind == 2:
            w[-1] = w[0] * 1e-12
        H = Q @ np.diag(w) @ Q.T
        H = 0.5 * (H + H.T)
        g = rng.normal(size=n)
        pd_step = _solve_pd(H.tolist(), g.tolist())
        if kind == 0:
            assert pd_step is not None
        else:
            assert pd_step is None
        got = np.array(pd_step if pd_step is not None else _eigen_step(H.tolist(), g.tolist()))
        want = _reference_step(H, g)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12 * np.max(np.abs(want)))


def test_overflowing_psi_has_no_finite_likelihood():
    # the line search refuses such a point: the value is infinite, the derivatives NaN
    lik = _lik("AuditC", True)
    with np.errstate(all="ignore"):
        f, g, hess, info = lik.derivatives([1e160, 1e160, 1.0])
    assert f == np.inf
    assert np.isnan(g).all() and np.isnan(hess).all() and np.isnan(info).all()
