"""The shortcuts of the fits' inner loops give exactly (bit for bit) what they replace.

Each shortcut skips work whose result is known: an intercept-only design's offsets
are the intercepts themselves (``1 * beta``), and the conditional modes asked for as
rows are the columns of the usual (k, 2) modes. A fit's numbers must not move, so
each is compared with the general path for equality, not closeness.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models import glmm as glmm_module
from metaanalysis.models.quadrature import (
    ModeState,
    aghq_loglik,
    conditional_modes,
    laplace_loglik,
)


def _pair(seed: int) -> tuple[glmm_module.BinomialData, glmm_module.BinomialData]:
    """One table's data with the intercept shortcut, and the same without it."""
    t = ma.simulate(k=9, mu=[1.4, -1.6], psi=[[0.7, 0.25], [0.25, 0.45]], n=(20, 250),
                    prevalence=(0.1, 0.5), seed=seed)
    data = glmm_module.binomial_data(t)
    general = dataclasses.replace(data)
    general.intercept_only = False  # the product X B' taken as for any design
    return data, general


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("theta", [[0.8, 0.3, 0.6], [-0.7, 0.5, -0.4], [1e-4, 0.2, 0.9]])
def test_intercept_offsets_equal_the_design_product(seed, theta):
    data, general = _pair(seed)
    assert data.intercept_only and not general.intercept_only
    phi = np.array([*theta, 1.3, 1.7])
    np.testing.assert_array_equal(conditional_modes(phi, data), conditional_modes(phi, general))
    ll, g = laplace_loglik(phi, data)
    ll_ref, g_ref = laplace_loglik(phi, general)
    assert ll == ll_ref
    np.testing.assert_array_equal(g, g_ref)
    assert aghq_loglik(phi, data, 3) == aghq_loglik(phi, general, 3)
    phis = phi + 1e-3 * np.eye(5)
    modes = np.stack([conditional_modes(x, data) for x in phis])
    got, finite = glmm_module._laplace_gradients(data, phis, modes)
    ref, finite_ref = glmm_module._laplace_gradients(general, phis, modes)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(finite, finite_ref)


def test_a_design_with_a_covariate_takes_the_product():
    t = ma.simulate(k=9, mu=[1.4, -1.6], psi=[[0.7, 0.25], [0.25, 0.45]], n=(20, 250),
                    prevalence=(0.1, 0.5), seed=4)
    X = np.column_stack([np.ones(9), np.linspace(-1.0, 1.0, 9)])
    assert not glmm_module.binomial_data(t, X=X).intercept_only
    assert not glmm_module.binomial_data(t, X=2.0 * np.ones((9, 1))).intercept_only


@pytest.mark.parametrize("warm", [False, True])
def test_modes_as_rows_are_the_columns_of_the_modes(warm):
    data, _ = _pair(5)
    phi = np.array([0.8, 0.3, 0.6, 1.3, 1.7])
    start = conditional_modes(phi + 0.1, data) if warm else None
    s1, s2 = ModeState(None if start is None else start.copy()), \
        ModeState(None if start is None else start.copy())
    cols = conditional_modes(phi, data, s1)
    rows = conditional_modes(phi, data, s2, rows=True)
    assert rows.shape == (2, data.k)
    np.testing.assert_array_equal(rows, cols.T)
    np.testing.assert_array_equal(s1.u, s2.u)
    assert s1.newton_iterations == s2.newton_iterations


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name", ["AuditC", "few4", "zerocells"])
def test_closed_form_normal_likelihood_equals_the_gls_one(reml, name):
    # Likelihood.derivatives (the Newton optimiser's, sums of per-study monomials) against
    # Likelihood.objective, which goes through Psi = L L' and the GLS solve: two
    # implementations of one formula, so they agree to round-off (their operations
    # differ, so not bit for bit)
    from pathlib import Path

    from metaanalysis.models.likelihood import ALL_FREE, Likelihood

    t = ma.StudyTable.from_csv(Path(__file__).parents[1] / "fixtures" / "refs" / f"{name}.csv")
    y, S = t.logits("all")
    lik = Likelihood(y, S, None, reml=reml)
    rng = np.random.default_rng(7)
    thetas = np.abs(rng.normal(0.6, 0.3, size=(16, 3))) * np.array([1.0, -1.0, 1.0])
    for th in thetas:
        f, g, _, _ = lik.derivatives(th.tolist())
        f_ref, g_ref = lik.objective(th, ALL_FREE)
        assert f == pytest.approx(f_ref, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-10)


def test_max_abs_is_numpys_including_nan_and_inf():
    from metaanalysis.numerics import max_abs

    rng = np.random.default_rng(11)
    cases = [rng.normal(size=n) * 10.0 ** rng.integers(-12, 6) for n in (1, 3, 5, 7)]
    cases += [np.array(v) for v in ([0.0, -0.0], [1e-9, np.nan], [np.nan, 1e-9],
                                    [np.inf, -1.0], [-np.inf, np.nan, 2.0], [1e300, -1e308])]
    for v in cases:
        ref = float(np.max(np.abs(v)))
        got = max_abs(v)
        assert (got == ref) or (np.isnan(ref) and np.isnan(got)), (v, got, ref)
        assert (got < 1e-6) == (ref < 1e-6) and (got > 5.0) == (ref > 5.0)


def test_partial_auc_equals_the_curve_on_its_grid():
    # pauc_mada evaluates the curve on its grid inside (0, 1) without sroc_curve's guards;
    # the value is that of sroc_curve on the same grid, bit for bit
    from metaanalysis import sroc

    rng = np.random.default_rng(2)
    for _ in range(200):
        mu = rng.normal(0.0, 2.0, 2)
        a = rng.uniform(0.01, 3.0, 2)
        c = rng.uniform(-0.95, 0.95) * np.sqrt(a[0] * a[1])
        psi = np.array([[a[0], c], [c, a[1]]])
        fpr = rng.uniform(0.0, 1.0, rng.integers(3, 12))
        for kind in sroc.SROC_TYPES:
            lo, hi = max(0.01, fpr.min()), min(0.99, fpr.max())
            s = sroc.sroc_curve(mu, psi, np.linspace(lo, hi, 99), kind)
            want = float((0.5 * s[0] + s[1:-1].sum() + 0.5 * s[-1]) / 99.0)
            got = sroc.pauc_mada(mu, psi, fpr, kind)
            assert got == want or (np.isnan(got) and np.isnan(want))
    # every observed rate above 0.99: the grid runs downwards, as before
    psi = np.array([[0.5, 0.1], [0.1, 0.4]])
    fpr = np.array([0.995, 0.999, 0.996])
    s = sroc.sroc_curve([1.0, -1.0], psi, np.linspace(0.995, 0.99, 99))
    assert sroc.pauc_mada([1.0, -1.0], psi, fpr) == \
        float((0.5 * s[0] + s[1:-1].sum() + 0.5 * s[-1]) / 99.0)


@pytest.mark.parametrize("tau2", [0.5, 1390.0, 1500.0, 1e6])
def test_zhou_i2_guards_overflow_only_where_it_can_happen(tau2):
    # the exponentials of Zhou's factor are guarded against overflow only when an argument
    # reaches 700; either way the value is the formula's and no warning is raised
    import warnings

    from metaanalysis import heterogeneity

    t = ma.datasets.load("vbq_subsequent_fracture")
    psi = np.array([[tau2, 0.0], [0.0, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = heterogeneity.i2_zhou(t, [1.0, -1.0], psi)
    with np.errstate(over="ignore"):
        f1 = heterogeneity.expected_logit_variance_factor(1.0, tau2)
    e1 = f1 * float(np.mean(1.0 / np.asarray(t.n_diseased, dtype=float)))
    assert got["logit_sens"] == (tau2 / (tau2 + e1) if np.isfinite(e1) else 0.0)
