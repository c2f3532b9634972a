"""The Laplace gradient in its folded form, and the evaluations a GLMM fit spends.

The gradient is checked against central differences of the Laplace
log-likelihood (which pin it to about 1e-6 at step 1e-6) at points where
different terms dominate: negative and near-zero Cholesky entries, a strong
correlation, large offsets, and a covariate design.
"""

from __future__ import annotations

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models import glmm as glmm_module
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal
from metaanalysis.models.quadrature import laplace_loglik


def _data(covariate: bool) -> glmm_module.BinomialData:
    t = ma.simulate(k=12, mu=[1.2, -1.8], psi=[[0.6, 0.2], [0.2, 0.5]], n=(30, 300),
                    prevalence=(0.1, 0.5), seed=5)
    X = np.column_stack([np.ones(12), np.linspace(-1.0, 1.0, 12)]) if covariate else None
    return binomial_data(t, X=X)


@pytest.mark.parametrize("covariate", [False, True])
@pytest.mark.parametrize("theta", [[0.8, 0.3, 0.6], [-0.7, 0.5, -0.4], [1e-4, 0.2, 0.9],
                                   [0.9, -0.85, 1e-3], [2.5, 1.0, 1.5]])
def test_laplace_gradient_matches_central_differences(covariate: bool, theta: list[float]
                                                      ) -> None:
    data = _data(covariate)
    beta = [1.0, 0.4, -1.5, -0.3] if covariate else [1.0, 3.0]
    phi = np.array([*theta, *beta])
    _, g = laplace_loglik(phi, data)
    assert g is not None
    h = 1e-6
    fd = np.array([(laplace_loglik(phi + h * e, data, gradient=False)[0]
                    - laplace_loglik(phi - h * e, data, gradient=False)[0]) / (2 * h)
                   for e in np.eye(phi.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def test_start_point_is_evaluated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(False)
    phi0 = glmm_module._start(data)
    calls: list[np.ndarray] = []
    real = glmm_module.laplace_loglik

    def counting(phi: np.ndarray, *args: object, **kw: object) -> object:
        calls.append(np.array(phi, dtype=float))
        return real(phi, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(glmm_module, "laplace_loglik", counting)
    fit_binomial_normal(data)
    at_start = sum(np.array_equal(c, phi0) for c in calls)
    assert at_start == 1


def test_bfgs_with_known_start_value_takes_the_same_path() -> None:
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(0.5 * x @ A @ x - b @ x), A @ x - b

    x0 = np.array([2.0, 2.0])
    plain = glmm_module._bfgs(fun, x0)
    known = glmm_module._bfgs(fun, x0, at_x0=fun(x0))
    np.testing.assert_array_equal(plain[0], known[0])
    # the minimiser of the quadratic, A^-1 b, to the gradient tolerance
    np.testing.assert_allclose(known[0], np.linalg.solve(A, b), atol=1e-6)


def test_hessian_reuses_the_optimisers_last_gradient() -> None:
    data = _data(False)
    obj = glmm_module._Objective(data, 1)
    phi0 = glmm_module._start(data)
    phi, *_ = glmm_module._optimise(obj, phi0, obj.value_and_grad(phi0))
    assert obj.last is not None and np.array_equal(obj.last[0], phi)  # not sign-flipped
    before = obj.n_eval
    H = glmm_module._hessian(obj, phi)
    assert obj.n_eval - before == phi.size  # the perturbed points only
    # the same Hessian as with the gradient at phi recomputed from scratch, to the
    # precision of a forward difference at step 1e-6 (about 1e-6 relative)
    fresh = glmm_module._Objective(data, 1)
    fresh.state.u = obj.state.u.copy()
    H_ref = glmm_module._hessian(fresh, phi)
    np.testing.assert_allclose(H, H_ref, rtol=1e-5, atol=1e-5 * np.abs(H_ref).max())
