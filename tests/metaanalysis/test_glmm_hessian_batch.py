"""The GLMM's Hessian takes the gradients at its perturbed points in one pass, unchanged.

The reference is the Hessian computed point by point (as before), with
``laplace_loglik``'s own gradient at each perturbed point and the conditional
modes warm-started from one point to the next: the batched gradients must equal
those bit for bit, so the standard errors of a fit do not move.
"""

from __future__ import annotations

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models import glmm as glmm_module
from metaanalysis.models.quadrature import ModeState, conditional_modes, laplace_loglik


def _data(covariate: bool, seed: int = 5) -> glmm_module.BinomialData:
    t = ma.simulate(k=12, mu=[1.2, -1.8], psi=[[0.6, 0.2], [0.2, 0.5]], n=(30, 300),
                    prevalence=(0.1, 0.5), seed=seed)
    X = np.column_stack([np.ones(12), np.linspace(-1.0, 1.0, 12)]) if covariate else None
    return glmm_module.binomial_data(t, X=X)


def _sequential_hessian(obj: glmm_module._Objective, phi: np.ndarray) -> np.ndarray:
    """The Laplace Hessian one gradient call at a time (the reference)."""
    m = phi.size
    H = np.empty((m, m))
    state = ModeState(obj.state.u.copy())
    if obj.last is not None and np.array_equal(obj.last[0], phi):
        g0 = obj.last[1]  # the optimiser's last gradient, taken at phi
    else:
        g0 = -laplace_loglik(phi, obj.data, state)[1]
    for j in range(m):
        e = np.zeros(m)
        e[j] = step = 1e-6 * max(1.0, abs(phi[j]))
        ll, g = laplace_loglik(phi + e, obj.data, state)
        grad = -g if np.isfinite(ll) else np.zeros(m)
        H[:, j] = (grad - g0) / step
    return H + H.T


@pytest.mark.parametrize("covariate", [False, True])
@pytest.mark.parametrize("theta", [[0.8, 0.3, 0.6], [-0.7, 0.5, -0.4], [1e-4, 0.2, 0.9],
                                   [0.9, -0.85, 1e-3]])
def test_batched_gradients_equal_laplace_loglik_exactly(covariate, theta):
    data = _data(covariate)
    beta = [1.0, 0.4, -1.5, -0.3] if covariate else [1.0, 3.0]
    rng = np.random.default_rng(3)
    phis = np.array([theta + beta]) + 0.05 * rng.standard_normal((4, 3 + len(beta)))
    modes = np.stack([conditional_modes(phi, data) for phi in phis])
    grads, finite = glmm_module._laplace_gradients(data, phis, modes)
    assert finite.all()
    for phi, g in zip(phis, grads, strict=True):
        _, ref = laplace_loglik(phi, data)
        np.testing.assert_array_equal(g, -ref)


@pytest.mark.parametrize("covariate", [False, True])
def test_hessian_equals_the_point_by_point_hessian_exactly(covariate, monkeypatch):
    data = _data(covariate, seed=8)
    obj = glmm_module._Objective(data, 1)
    phi0 = glmm_module._start(data)
    phi, *_ = glmm_module._optimise(obj, phi0, obj.value_and_grad(phi0))
    ref = _sequential_hessian(obj, phi)
    calls = []
    real = glmm_module.laplace_loglik

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(glmm_module, "laplace_loglik", counting)
    before = obj.n_eval
    H = glmm_module._hessian(obj, phi)
    np.testing.assert_array_equal(H, ref)
    assert obj.n_eval - before == phi.size  # the perturbed points, counted as before
    assert calls == []  # the gradient at phi is the optimiser's; the others in one pass


def test_a_point_without_a_finite_likelihood_gets_a_zero_gradient():
    data = _data(False)
    phis = np.array([[0.8, 0.3, 0.6, 1.0, 3.0], [0.8, 0.3, 0.6, 1.0, 3.0]])
    modes = np.stack([conditional_modes(phi, data) for phi in phis])
    modes[1, 0, 0] = np.inf  # the log-likelihood is -inf there
    grads, finite = glmm_module._laplace_gradients(data, phis, modes)
    assert finite.tolist() == [True, False]
    np.testing.assert_array_equal(grads[1], np.zeros(5))
    np.testing.assert_array_equal(grads[0], -laplace_loglik(phis[0], data)[1])


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "few4", "skin_tests", "zerocells"])
def test_glmm_standard_errors_equal_the_point_by_point_hessian(name):
    from pathlib import Path

    table = ma.StudyTable.from_csv(Path(__file__).parents[1] / "fixtures" / "refs" / f"{name}.csv")
    data = glmm_module.binomial_data(table)
    obj = glmm_module._Objective(data, 1)
    phi0 = glmm_module._start(data)
    phi, *_ = glmm_module._optimise(obj, phi0, obj.value_and_grad(phi0))
    ref = _sequential_hessian(obj, phi)  # first: the Hessian moves obj.last on
    np.testing.assert_array_equal(glmm_module._hessian(obj, phi), ref)
