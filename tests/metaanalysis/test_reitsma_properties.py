"""Properties of the Reitsma fit that hold whatever the data."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import BoundaryEstimateWarning, NotConvergedWarning

FIX = Path(__file__).parents[1] / "fixtures"
REFS = FIX / "refs"


def quiet_fit(t, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ma.reitsma(t, **kw)


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "IAQ"])
def test_study_order_does_not_matter(name):
    t = ma.StudyTable.from_csv(REFS / f"{name}.csv")
    perm = np.random.default_rng(5).permutation(t.k)
    a, b = quiet_fit(t), quiet_fit(t.subset(perm))
    np.testing.assert_allclose(a.mu, b.mu, rtol=1e-7)
    np.testing.assert_allclose(a.psi, b.psi, rtol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4"])
def test_swapping_disease_labels_swaps_sens_and_spec(name):
    t = ma.StudyTable.from_csv(REFS / f"{name}.csv")
    a, b = quiet_fit(t), quiet_fit(t.swap_disease_labels())
    for x, y in ((a.sensitivity, b.specificity), (a.specificity, b.sensitivity)):
        np.testing.assert_allclose([x.estimate, x.ci_low, x.ci_high],
                                   [y.estimate, y.ci_low, y.ci_high], rtol=1e-6)
    assert a.tau2 == pytest.approx(b.tau2[::-1], rel=1e-5)
    assert a.rho == pytest.approx(b.rho, rel=1e-5)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-9)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(3, 25),
       m1=st.floats(-3, 3), m2=st.floats(-3, 3), t1=st.floats(0, 2), t2=st.floats(0, 2),
       r=st.floats(-1, 1))
def test_estimates_stay_in_unit_interval(seed, k, m1, m2, t1, t2, r):
    c = r * math.sqrt(t1 * t2)
    t = ma.simulate(k=k, mu=[m1, m2], psi=[[t1, c], [c, t2]], n=(20, 200),
                    prevalence=(0.1, 0.6), seed=seed)
    f = quiet_fit(t)
    for e in (f.sensitivity, f.specificity, f.false_positive_rate):
        assert 0 < e.ci_low <= e.estimate <= e.ci_high < 1
    assert f.tau2[0] >= 0 and f.tau2[1] >= 0
    assert np.all(np.linalg.eigvalsh(f.psi) >= -1e-12)
    assert math.isnan(f.rho) or -1 <= f.rho <= 1
    assert 0 < f.auc < 1 or math.isnan(f.auc)


def test_boundary_zerocells_reaches_metafor_maximum_and_says_so():
    """zerocells.csv: REML maximum at rho = -1 (mada's optimiser stalls short of it)."""
    ref = json.loads((FIX / "univariate_reml.json").read_text())["data"]["zerocells"]
    t = ma.StudyTable.from_csv(REFS / "zerocells.csv")
    with pytest.warns(BoundaryEstimateWarning):
        f = ma.reitsma(t)
    m = ref["rma_mv_UN"]["REML"]
    # metafor's REML logLik = ours without Jacobian + log(k)
    ours = f.extra["loglik_without_jacobian"] + math.log(t.k)
    assert ours >= m["logLik_metafor"] - 1e-9
    assert ours == pytest.approx(m["logLik_metafor"], abs=1e-8)
    np.testing.assert_allclose(f.mu, m["beta"], rtol=1e-6)
    np.testing.assert_allclose(f.se, m["se"], rtol=1e-6)
    np.testing.assert_allclose(f.tau2, m["tau2"], rtol=1e-4)
    assert f.rho == pytest.approx(-1.0, abs=1e-9)
    assert "rho" in f.extra["boundary"]
    assert "boundary_estimate" in f.warning_codes


def test_boundary_zerocells_ml_both_variances_zero():
    ref = json.loads((FIX / "univariate_reml.json").read_text())["data"]["zerocells"]
    t = ma.StudyTable.from_csv(REFS / "zerocells.csv")
    f = quiet_fit(t, method="ml")
    m = ref["rma_mv_UN"]["ML"]
    assert f.extra["loglik_without_jacobian"] >= m["logLik_metafor"] - 1e-9
    np.testing.assert_allclose(f.mu, m["beta"], rtol=1e-6)
    np.testing.assert_allclose(f.tau2, [0, 0], atol=1e-9)
    assert set(f.extra["boundary"]) == {"tau2_1", "tau2_2"}
    assert f.warning_codes.count("zero_variance") == 2


def test_tau2_zero_on_boundary_when_studies_are_homogeneous():
    # identical proportions in every study: no between-study variation at all
    df = pd.DataFrame({"study": list("abcdef"), "TP": [40] * 6, "FN": [10] * 6,
                       "FP": [15] * 6, "TN": [85] * 6})
    f = quiet_fit(ma.StudyTable(df))
    np.testing.assert_allclose(f.tau2, [0, 0], atol=1e-9)
    assert f.sensitivity.estimate == pytest.approx(0.8, rel=1e-9)
    assert f.specificity.estimate == pytest.approx(85 / 100, rel=1e-9)
    assert "zero_variance" in f.warning_codes


def test_variants_single_correction_loglik_not_below_mada():
    """mada's 'single' correction variant: same likelihood maximum (or a higher one)."""
    for name in ("AuditC", "Dementia"):
        ref = json.loads((REFS / f"{name}.reitsma.json").read_text())["variants"]
        r = ref["reml_correction_single"]
        f = quiet_fit(ma.StudyTable.from_csv(REFS / f"{name}.csv"), correction="single")
        assert f.loglik >= r["logLik"] - 1e-10
        assert f.loglik == pytest.approx(r["logLik"], rel=1e-6)
        np.testing.assert_allclose(f.mu, [r["mu_logit_sens"], r["mu_logit_fpr"]], rtol=1e-5)
        assert "error" in ref["reml_correction_none"]
        with pytest.raises(ma.InputError, match="zero cell"):
            ma.reitsma(ma.StudyTable.from_csv(REFS / f"{name}.csv"), correction="none")


def test_summary_and_to_dict():
    f = quiet_fit(ma.StudyTable.from_csv(REFS / "AuditC.csv"))
    s = f.summary()
    assert {"sensitivity", "specificity", "auc", "loglik"} <= set(s.index)
    assert list(s.columns) == ["estimate", "se", "ci_low", "ci_high"]
    d = f.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["rho_sens_fpr"] == pytest.approx(f.rho)
    with pytest.raises(AttributeError):
        f.mu = np.zeros(2)
    with pytest.raises(ValueError):
        f.mu[0] = 1.0


def test_no_start_converges_raises_fit_error_with_advice(monkeypatch):
    from metaanalysis.models import reitsma as mod

    def failing(lik, theta0, free):
        return mod._OptResult(theta0[free], float("inf"), np.zeros(int(free.sum())), 1, False)

    monkeypatch.setattr(mod, "_minimise", failing)
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")
    with pytest.raises(ma.FitError, match="try"):
        ma.reitsma(t)


def test_non_convergence_is_a_warning_on_the_result(monkeypatch):
    from metaanalysis.models import reitsma as mod

    real = mod._minimise

    def stalled(lik, theta0, free):
        res = real(lik, theta0, free)
        return mod._OptResult(res.x, res.fun, res.jac + 1.0, res.nit, False)

    monkeypatch.setattr(mod, "_minimise", stalled)
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")
    with pytest.warns(NotConvergedWarning):
        f = ma.reitsma(t)
    assert not f.converged
    assert "not_converged" in f.warning_codes
