"""Reitsma fits against mada::reitsma (and metafor::rma.mv) reference results.

Reference numbers: tests/fixtures/refs/<name>.reitsma.json, written by
tests/fixtures/refs/make_refs.R (mada 0.5.12, metafor 3.8-1, R 4.2.2).
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.errors import FewStudiesWarning
from metaanalysis.models.reitsma import fit_bivariate_normal, log_jacobian, logit_outcomes
from metaanalysis.results import BivariateResult

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

REFS = Path(__file__).parents[1] / "fixtures" / "refs"
SETS = ["AuditC", "Dementia", "skin_tests", "few4"]
RTOL = 1e-6


def load(name):
    return json.loads((REFS / f"{name}.reitsma.json").read_text())


def table(name):
    return ma.StudyTable.from_csv(REFS / f"{name}.csv")


def fit(name, method="reml", correction="all"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ma.reitsma(table(name), method=method, correction=correction)


def mada_result(name, block):
    """A result built from mada's own estimates: isolates the derived quantities."""
    t = table(name)
    return BivariateResult(model="reitsma", method=block["method"], table=t,
                           correction=block["correction_control"],
                           mu=[block["mu_logit_sens"], block["mu_logit_fpr"]],
                           vcov=block["vcov"], psi=block["Psi"], loglik=block["logLik"],
                           nobs=2 * t.k)


@pytest.mark.parametrize("name", SETS)
def test_per_study_logits_match_mada_input(name):
    ref = load(name)
    y, S = logit_outcomes(table(name))
    ps = ref["per_study"]
    np.testing.assert_allclose(y[:, 0], ps["logit_sens"], rtol=1e-14)
    np.testing.assert_allclose(y[:, 1], ps["logit_fpr"], rtol=1e-14)
    np.testing.assert_allclose(S[:, 0], ps["var_logit_sens"], rtol=1e-14)
    np.testing.assert_allclose(S[:, 1], ps["var_logit_fpr"], rtol=1e-14)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_loglik_matches_mada_and_is_not_lower(name, method):
    r = load(name)[method]
    f = fit(name, method)
    assert f.loglik == pytest.approx(r["logLik"], rel=RTOL)
    assert f.loglik >= r["logLik"] - 1e-10
    assert f.extra["loglik_without_jacobian"] == pytest.approx(r["logLik_without_jacobian"],
                                                                rel=RTOL)
    assert f.aic == pytest.approx(r["AIC"], rel=RTOL)
    assert f.bic == pytest.approx(r["BIC"], rel=RTOL)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_loglik_at_mada_estimates_is_reproduced_exactly(name, method):
    """The likelihood function itself: evaluated at mada's Psi it gives mada's logLik."""
    from metaanalysis.models.likelihood import Likelihood as _Likelihood

    r = load(name)[method]
    t = table(name)
    y, S = logit_outcomes(t)
    lik = _Likelihood(y, S, None, reml=(method == "reml"))
    ll, _ = lik.value_and_grad_psi(np.array(r["Psi"]))
    assert ll + log_jacobian(t) == pytest.approx(r["logLik"], rel=1e-12)
    coef, C, *_ = lik.gls(np.array(r["Psi"]))
    np.testing.assert_allclose(coef[0], [r["mu_logit_sens"], r["mu_logit_fpr"]], rtol=1e-10)
    np.testing.assert_allclose(C, r["vcov"], rtol=1e-10)


# mada's BFGS stops at a relative change of 1.5e-8 in the log-likelihood, which leaves
# Psi up to ~4e-4 (relative) short of the maximum on flat likelihoods. Our logLik is
# higher than mada's in every case (asserted below), so the gap is mada's. Tolerances:
# (estimates of mu and sens/spec/FPR; everything depending on Psi, CIs included).
MADA_TOL = {
    ("AuditC", "reml"): (1e-6, 5e-6), ("AuditC", "ml"): (1e-6, 1e-6),
    ("Dementia", "reml"): (1e-6, 5e-6), ("Dementia", "ml"): (1e-6, 5e-5),
    ("skin_tests", "reml"): (5e-6, 1e-4), ("skin_tests", "ml"): (1e-6, 1e-6),
    ("few4", "reml"): (1e-6, 1e-5), ("few4", "ml"): (3e-5, 5e-4),
}


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_fit_matches_mada_within_its_convergence(name, method):
    r = load(name)[method]
    f = fit(name, method)
    assert f.loglik >= r["logLik"] - 1e-11  # we are at least as high: gaps are mada's
    t_mu, t_psi = MADA_TOL[(name, method)]
    np.testing.assert_allclose(f.mu, [r["mu_logit_sens"], r["mu_logit_fpr"]], rtol=t_mu)
    for est, key in ((f.sensitivity, "sensitivity"), (f.specificity, "specificity"),
                     (f.false_positive_rate, "fpr")):
        assert est.estimate == pytest.approx(r[key], rel=t_mu)
        np.testing.assert_allclose([est.ci_low, est.ci_high], r[f"{key}_ci"], rtol=t_psi)
    np.testing.assert_allclose(f.se, [r["se_logit_sens"], r["se_logit_fpr"]], rtol=t_psi)
    np.testing.assert_allclose(f.vcov, r["vcov"], rtol=t_psi)
    np.testing.assert_allclose(f.psi, r["Psi"], rtol=t_psi)
    assert f.rho == pytest.approx(r["rho_logit_sens_fpr"], rel=t_psi)
    for key, val in r["hsroc"].items():
        assert f.hsroc[key] == pytest.approx(val, rel=t_psi), key
    assert f.auc == pytest.approx(r["AUC"]["ruttergatsonis"]["AUC"], rel=t_psi)
    assert f.pauc == pytest.approx(r["AUC"]["ruttergatsonis"]["pAUC"], rel=t_psi)
    for region, key in ((f.confidence_region(), "confidence_ellipse_95"),
                        (f.prediction_region(), "prediction_ellipse_95")):
        for col in ("logit_sens", "logit_fpr", "sens", "fpr"):
            ref = np.asarray(r[key][col])
            np.testing.assert_allclose(region[col], ref, rtol=0,
                                       atol=t_psi * np.abs(ref).max())


def assert_matches_mada_block(f, r, rtol=RTOL):
    """Every number mada reports for a fit, to ``rtol``."""
    np.testing.assert_allclose(f.mu, [r["mu_logit_sens"], r["mu_logit_fpr"]], rtol=rtol)
    np.testing.assert_allclose(f.se, [r["se_logit_sens"], r["se_logit_fpr"]], rtol=rtol)
    np.testing.assert_allclose(f.vcov, r["vcov"], rtol=rtol)
    np.testing.assert_allclose(f.psi, r["Psi"], rtol=rtol)
    assert f.tau2 == pytest.approx([r["tau2_logit_sens"], r["tau2_logit_fpr"]], rel=rtol)
    assert f.rho == pytest.approx(r["rho_logit_sens_fpr"], rel=rtol)
    for est, key in ((f.sensitivity, "sensitivity"), (f.specificity, "specificity"),
                     (f.false_positive_rate, "fpr")):
        np.testing.assert_allclose([est.estimate, est.ci_low, est.ci_high],
                                   [r[key], *r[f"{key}_ci"]], rtol=rtol)
    assert f.loglik == pytest.approx(r["logLik"], rel=rtol)
    assert f.extra["loglik_without_jacobian"] == pytest.approx(r["logLik_without_jacobian"],
                                                                rel=rtol)
    assert [f.aic, f.bic] == pytest.approx([r["AIC"], r["BIC"]], rel=rtol)
    for key, val in r["hsroc"].items():
        assert f.hsroc[key] == pytest.approx(val, rel=rtol), key
    assert f.auc == pytest.approx(r["AUC"]["ruttergatsonis"]["AUC"], rel=rtol)
    assert f.pauc == pytest.approx(r["AUC"]["ruttergatsonis"]["pAUC"], rel=rtol)
    grid = r["sroc_curve"]["fpr"]
    np.testing.assert_allclose(f.sroc(grid), r["sroc_curve"]["sens_ruttergatsonis"], rtol=rtol)
    for region, key in ((f.confidence_region(), "confidence_ellipse_95"),
                        (f.prediction_region(), "prediction_ellipse_95")):
        for col in ("logit_sens", "logit_fpr", "sens", "fpr"):
            np.testing.assert_allclose(region[col], r[key][col], rtol=rtol, atol=1e-12)
    plug = r["plugin_at_pooled_point"]
    assert [f.lr_positive.estimate, f.lr_negative.estimate, f.dor.estimate] == pytest.approx(
        [plug["posLR"], plug["negLR"], plug["DOR"]], rel=rtol)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_mada_optimizer_reproduces_every_mada_number(name, method):
    """optimizer="mada" (IGLS start + BFGS as mvmeta): mada's numbers to 1e-6 relative."""
    r = load(name)[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = ma.reitsma(table(name), method=method, optimizer="mada")
    assert f.extra["niter"] == r["niter"]  # the same BFGS path, step for step
    np.testing.assert_allclose(
        [math.sqrt(f.psi[0, 0]), f.psi[0, 1] / math.sqrt(f.psi[0, 0]),
         math.sqrt(f.psi[1, 1] - f.psi[0, 1] ** 2 / f.psi[0, 0])],
        r["optim_par_cholesky"], rtol=RTOL)
    assert_matches_mada_block(f, r)


@pytest.mark.parametrize("name", ["AuditC", "Dementia"])
def test_mada_optimizer_reproduces_single_correction_variant(name):
    r = load(name)["variants"]["reml_correction_single"]
    f = ma.reitsma(table(name), correction="single", optimizer="mada")
    assert f.extra["niter"] == r["niter"]
    assert_matches_mada_block(f, r)


def test_mada_optimizer_stalls_on_zerocells_and_says_so():
    t = ma.StudyTable.from_csv(REFS / "zerocells.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stalled = ma.reitsma(t, optimizer="mada")
        best = ma.reitsma(t)
    assert best.loglik > stalled.loglik + 1e-3
    assert "below_maximum" in stalled.warning_codes
    assert "below_maximum" not in best.warning_codes


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_estimates_match_metafor_rma_mv(name, method):
    ref = load(name)
    m = ref["metafor"]["rma_mv_UN"][method]
    f = fit(name, method.lower())
    # metafor's own optimiser tolerance is about 1e-6 on these data
    np.testing.assert_allclose(f.mu, m["beta"], rtol=1e-6)
    np.testing.assert_allclose(f.se, m["se"], rtol=5e-6)
    np.testing.assert_allclose(f.tau2, m["tau2"], rtol=5e-6)
    assert f.rho == pytest.approx(m["rho"], rel=5e-6)


TIGHT = json.loads((REFS.parent / "univariate_reml.json").read_text())["data"]


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4", "IAQ", "SAQ",
                                  "smoking"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_estimates_match_metafor_tight_and_loglik_is_higher(name, method):
    """rma.mv with nlminb at its tightest tolerance (tests/fixtures/make_univariate.R)."""
    m = TIGHT[name]["rma_mv_UN_tight"][method]
    f = fit(name, method.lower())
    k = f.table.k
    ll = f.extra["loglik_without_jacobian"] + (math.log(k) if method == "REML" else 0.0)
    assert ll >= m["logLik_metafor"] - 1e-11
    assert ll == pytest.approx(m["logLik_metafor"], abs=1e-9)
    np.testing.assert_allclose(f.mu, m["beta"], rtol=1e-6)
    np.testing.assert_allclose(f.se, m["se"], rtol=3e-6)
    np.testing.assert_allclose(f.vcov, m["vb"], rtol=1e-5)
    np.testing.assert_allclose(f.tau2, m["tau2"], rtol=5e-6)
    assert f.rho == pytest.approx(m["rho"], abs=3e-6)


@pytest.mark.parametrize("name", SETS)
def test_analytic_gradient_matches_finite_differences(name):
    from metaanalysis.models.likelihood import Likelihood as _Likelihood

    y, S = logit_outcomes(table(name))
    free = np.array([True, True, True])
    for reml in (True, False):
        lik = _Likelihood(y, S, None, reml=reml)
        th = np.array([0.9, 0.3, 0.4])
        _, g = lik.objective(th, free)
        num = np.empty(3)
        for j in range(3):
            e = np.zeros(3)
            e[j] = 1e-6
            num[j] = (lik.objective(th + e, free)[0] - lik.objective(th - e, free)[0]) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_derived_quantities_match_mada(name, method):
    """HSROC, AUC, pAUC, SROC, ellipses, CIs at mada's estimates, to 1e-6 (mostly exact)."""
    r = load(name)[method]
    m = mada_result(name, r)
    for key, val in r["hsroc"].items():
        assert m.hsroc[key] == pytest.approx(val, rel=RTOL), key
    assert m.auc == pytest.approx(r["AUC"]["ruttergatsonis"]["AUC"], rel=RTOL)
    assert m.pauc == pytest.approx(r["AUC"]["ruttergatsonis"]["pAUC"], rel=RTOL)
    grid = r["sroc_curve"]["fpr"]
    np.testing.assert_allclose(m.sroc(grid), r["sroc_curve"]["sens_ruttergatsonis"], rtol=RTOL)
    np.testing.assert_allclose(m.sroc(grid, type="naive"), r["sroc_curve"]["sens_naive"],
                               rtol=RTOL)
    for region, key in ((m.confidence_region(), "confidence_ellipse_95"),
                        (m.prediction_region(), "prediction_ellipse_95")):
        for col in ("logit_sens", "logit_fpr", "sens", "fpr"):
            np.testing.assert_allclose(region[col], r[key][col], rtol=RTOL)
    s, sp, f = m.sensitivity, m.specificity, m.false_positive_rate
    np.testing.assert_allclose([s.estimate, s.ci_low, s.ci_high],
                               [r["sensitivity"], *r["sensitivity_ci"]], rtol=RTOL)
    np.testing.assert_allclose([sp.estimate, sp.ci_low, sp.ci_high],
                               [r["specificity"], *r["specificity_ci"]], rtol=RTOL)
    np.testing.assert_allclose([f.estimate, f.ci_low, f.ci_high], [r["fpr"], *r["fpr_ci"]],
                               rtol=RTOL)
    plug = r["plugin_at_pooled_point"]
    assert m.lr_positive.estimate == pytest.approx(plug["posLR"], rel=RTOL)
    assert m.lr_negative.estimate == pytest.approx(plug["negLR"], rel=RTOL)
    assert m.dor.estimate == pytest.approx(plug["DOR"], rel=RTOL)
    assert m.aic == pytest.approx(r["AIC"], rel=RTOL)
    assert m.bic == pytest.approx(r["BIC"], rel=RTOL)


@pytest.mark.parametrize("name", SETS)
def test_auc_exact_is_the_integral(name):
    """The exact AUC is the integral; mada's 99-point rule ignores the ends."""
    f = fit(name)
    x = np.linspace(1e-9, 1 - 1e-9, 2_000_001)
    s = f.sroc(x)
    trap = float(np.sum((s[1:] + s[:-1]) / 2 * np.diff(x)))
    assert f.auc_exact == pytest.approx(trap, abs=1e-6)
    assert 0 < f.auc_exact < 1


def test_too_few_studies_refused_with_advice():
    t = table("few4").subset([0, 1])
    with pytest.raises(ma.FitError, match="univariate"):
        ma.reitsma(t)


def test_few_studies_warns():
    with pytest.warns(FewStudiesWarning):
        f = ma.reitsma(table("few4"))
    assert "few_studies" in f.warning_codes


def test_low_level_fit_with_intercept_design_equals_default():
    y, S = logit_outcomes(table("AuditC"))
    a = fit_bivariate_normal(y, S)
    b = fit_bivariate_normal(y, S, X=np.ones((len(y), 1)))
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-8)
    np.testing.assert_allclose(a.psi, b.psi, rtol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)


def test_summary_frame_studies_and_pooled_row():
    """Pooled row = mada's estimates and CIs; study rows = observed proportions, Wilson CIs."""
    from scipy.special import expit
    from statsmodels.stats.proportion import proportion_confint

    r = load("AuditC")["reml"]
    t = table("AuditC")
    f = ma.reitsma(t, optimizer="mada")
    sf = f.summary_frame()
    assert list(sf.index) == [*t.studies, "pooled"]
    pooled = sf.loc["pooled"]
    np.testing.assert_allclose(
        [pooled["sensitivity"], pooled["sensitivity_ci_low"], pooled["sensitivity_ci_high"]],
        [r["sensitivity"], *r["sensitivity_ci"]], rtol=RTOL)
    np.testing.assert_allclose(
        [pooled["specificity"], pooled["specificity_ci_low"], pooled["specificity_ci_high"]],
        [r["specificity"], *r["specificity_ci"]], rtol=RTOL)
    studies = sf[sf["type"] == "study"]
    np.testing.assert_allclose(studies["sensitivity"], t.tp / (t.tp + t.fn), rtol=1e-15)
    np.testing.assert_allclose(studies["specificity"], t.tn / (t.tn + t.fp), rtol=1e-15)
    lo, hi = proportion_confint(t.tn, t.tn + t.fp, alpha=0.05, method="wilson")
    np.testing.assert_allclose(studies["specificity_ci_low"], lo, rtol=1e-12)
    np.testing.assert_allclose(studies["specificity_ci_high"], hi, rtol=1e-12)
    assert studies["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (studies["weight"] > 0).all()
    # another level: Wald interval from mada's mu and SE with z(0.95) = 1.6449
    p90 = f.summary_frame(level=0.90).loc["pooled"]
    z = 1.6448536269514722
    m, s = r["mu_logit_sens"], r["se_logit_sens"]
    np.testing.assert_allclose([p90["sensitivity_ci_low"], p90["sensitivity_ci_high"]],
                               expit([m - z * s, m + z * s]), rtol=RTOL)
