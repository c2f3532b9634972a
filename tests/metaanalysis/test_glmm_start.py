"""The Laplace GLMM's BFGS started from the inverse Hessian at its start.

Hand-worked reference: on a quadratic ``f(x) = x'Ax/2 - b'x`` the inverse Hessian
is ``A^-1``, so BFGS started from it takes the Newton step to ``A^-1 b`` at once;
from the identity it needs several steps. The fits' numbers are pinned by the R
comparisons (tests marked ``rref``); here the optimum is checked to be the same
stationary point whichever way BFGS starts.
"""

import warnings

import numpy as np

from metaanalysis.models import glmm as glmm_module

A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
B = np.array([1.0, -2.0, 0.5])


def _quadratic():
    calls = []

    def fun(x):
        calls.append(x.copy())
        return 0.5 * float(x @ A @ x) - float(B @ x), A @ x - B

    return fun, calls


def test_started_from_the_inverse_hessian_bfgs_takes_the_newton_step():
    fun, calls = _quadratic()
    x, f, g, msg = glmm_module._bfgs(fun, np.zeros(3), gtol=1e-10, hinv0=np.linalg.inv(A))
    np.testing.assert_allclose(x, np.linalg.solve(A, B), rtol=0, atol=1e-12)
    assert len(calls) == 2 and "converged after 1 steps" in msg


def test_from_the_identity_it_needs_more_steps_to_the_same_point():
    fun, calls = _quadratic()
    x, *_ = glmm_module._bfgs(fun, np.zeros(3), gtol=1e-10)
    np.testing.assert_allclose(x, np.linalg.solve(A, B), rtol=0, atol=1e-9)
    assert len(calls) > 2


def test_glmm_reaches_the_same_optimum_from_either_start(monkeypatch):
    import metaanalysis as ma

    t = ma.simulate(k=8, mu=[1.2, -1.8], psi=[[0.4, 0.1], [0.1, 0.3]], n=(60, 400),
                    prevalence=(0.2, 0.4), seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = ma.glmm(t)
        monkeypatch.setattr(glmm_module, "_start_inverse_hessian", lambda obj, phi0: None)
        old = ma.glmm(t)
    # both stop where the largest gradient component is below 1e-6: the estimates agree
    # to the optimiser's precision, far inside glmer's own spread (1e-5 and more)
    assert abs(new.loglik - old.loglik) < 1e-9
    np.testing.assert_allclose(new.mu, old.mu, rtol=0, atol=1e-5)
    np.testing.assert_allclose(new.psi, old.psi, rtol=0, atol=1e-5)


def test_a_start_hessian_that_is_not_positive_definite_is_not_used():
    class Fake:
        pass

    def fake_hessian(obj, phi):
        return 2.0 * np.diag([1.0, -1.0, 2.0])

    orig = glmm_module._hessian
    try:
        glmm_module._hessian = fake_hessian
        assert glmm_module._start_inverse_hessian(Fake(), np.zeros(3)) is None
        glmm_module._hessian = lambda obj, phi: 2.0 * A
        np.testing.assert_allclose(glmm_module._start_inverse_hessian(Fake(), np.zeros(3)),
                                   np.linalg.inv(A), rtol=1e-12)
    finally:
        glmm_module._hessian = orig
