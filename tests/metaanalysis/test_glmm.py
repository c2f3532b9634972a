"""Binomial-normal GLMM (Chu & Cole 2006) against lme4::glmer.

References used:
- tests/fixtures/metafor_regression/<name>.json, key "glmm": lme4 1.1-31 ``glmer(cbind(events,
  n - events) ~ 0 + sens + spec + (0 + sens + spec | study), binomial, nAGQ = 1)`` with
  ``glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13)`` (make_fixtures.R beside them):
  the Laplace approximation at the exact conditional modes.
- tests/fixtures/refs/<name>.glmm.json: the same model with glmer's defaults (make_refs.R).
  With its default PIRLS tolerance (tolPwrss = 1e-7) glmer's Laplace deviance is not evaluated
  at the converged conditional modes (the modes agree with ours to 3e-8, the logLik differs by
  up to 4e-4); that moves lme4's own estimates by up to 1.4e-3 (AuditC: 2.50972 default vs
  2.51116 tight), so these are compared at that resolution; test_refs_are_lme4s_early_stopped_pirls
  reproduces them to 1e-9 (logLik) and 1e-5 (estimates) by emulating that stopping rule.
- tests/fixtures/glmm_lme4_defaults/glmm_lme4_defaults.json: glmer with all defaults on the ten
  data sets of metafor_regression/ (make_glmm_lme4_defaults.R beside it), for pirls="lme4".
- tests/fixtures/glmm_lme4_defaults/optimizer_spread.json (make_optimizer_spread.R beside it):
  glmer's default fit refitted with other optimisers and with the studies in other row orders;
  the spread of each number over these refits is how precisely glmer's defaults pin it, and
  the pirls="lme4" tolerances below are derived from it (see ``_glmer_resolution``).
- brute-force 2-D integration of the marginal likelihood (independent of the quadrature code).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit, gammaln

import metaanalysis as ma
from metaanalysis.errors import (
    BoundaryEstimateWarning,
    FewStudiesWarning,
    FitWarning,
    InputError,
    UnreliableStandardErrorsWarning,
    ZeroVarianceWarning,
)
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal, glmm
from metaanalysis.models.quadrature import BinomialData, aghq_loglik, laplace_loglik
from metaanalysis.table import StudyTable

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures"
TIGHT = FIX / "metafor_regression"
REFS = FIX / "refs"
REF_SETS = ["AuditC", "Dementia", "skin_tests", "few4"]


def _table(folder: Path, name: str) -> StudyTable:
    return StudyTable.from_csv(folder / f"{name}.csv")


def _tight(name: str) -> dict:
    return json.loads((TIGHT / f"{name}.json").read_text())["glmm"]["null"]


_FITS: dict[tuple[str, int], object] = {}


def _fit(name: str, nagq: int = 1):
    key = (name, nagq)
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            _FITS[key] = fit_binomial_normal(binomial_data(_table(TIGHT, name)), nagq=nagq)
    return _FITS[key]


# ------------------------------------------------------------ lme4 (tight PIRLS) --
@pytest.mark.parametrize("name", REF_SETS + ["zerocells", "singular", "simreg", "IAQ", "SAQ",
                                  "smoking"])
def test_laplace_matches_glmer_tight(name: str) -> None:
    ref = _tight(name)
    fit = _fit(name)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    np.testing.assert_allclose(fit.coef.ravel(), ref["fixef"], atol=1e-5)
    np.testing.assert_allclose(fit.se.ravel(), ref["se"], atol=1e-5)
    np.testing.assert_allclose(fit.vcov, np.array(ref["vcov"]), atol=1e-5)
    np.testing.assert_allclose(np.diag(fit.sigma), ref["tau2"], atol=1e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], atol=1e-5)
    if not ref["isSingular"]:
        assert fit.rho == pytest.approx(ref["rho"], abs=1e-5)
    assert fit.singular == ref["isSingular"]
    assert fit.converged


# ------------------------------------------------- lme4 defaults (refs/*.glmm.json) --
@pytest.mark.parametrize("name", REF_SETS)
def test_laplace_matches_glmer_defaults_at_their_resolution(name: str) -> None:
    ref = json.loads((REFS / f"{name}.glmm.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = glmm(_table(REFS, name))
    ss = res.extra
    assert ss["mu_sens_spec"][0] == pytest.approx(ref["mu_logit_sens"], abs=2e-3)
    assert ss["mu_sens_spec"][1] == pytest.approx(ref["mu_logit_spec"], abs=2e-3)
    assert res.se[0] == pytest.approx(ref["se_logit_sens"], abs=6e-3)
    assert res.se[1] == pytest.approx(ref["se_logit_spec"], abs=6e-3)
    assert res.tau2[0] == pytest.approx(ref["tau2_logit_sens"], rel=5e-3)
    assert res.tau2[1] == pytest.approx(ref["tau2_logit_spec"], rel=5e-3)
    assert res.rho == pytest.approx(ref["in_fpr_parameterisation"]["rho_logit_sens_fpr"], abs=2e-3)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    # the exact-mode Laplace optimum is at least as high as lme4's default answer
    assert res.loglik >= ref["logLik"] - 1e-8
    assert res.extra["singular"] == ref["isSingular"]


def test_default_and_tight_glmer_differ_by_the_pirls_tolerance() -> None:
    """The lme4 default-tolerance refit stored beside the tight one reproduces refs/ (same run)."""
    for name in REF_SETS:
        ref = json.loads((REFS / f"{name}.glmm.json").read_text())
        default = json.loads((TIGHT / f"{name}.json").read_text())["glmm"]
        assert default["default_tolerance_null"]["logLik"] == pytest.approx(ref["logLik"],
                                                                            abs=1e-7)
        assert abs(default["null"]["logLik"] - ref["logLik"]) < 1e-3


# ---------------------------------------------------------- result conversions --
def test_result_is_in_reitsma_parameterisation() -> None:
    ref = _tight("AuditC")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = ma.glmm(_table(TIGHT, "AuditC"))
    assert res.model == "glmm" and res.method == "laplace" and res.correction == "none"
    assert res.mu[0] == pytest.approx(ref["fixef"][0], abs=1e-5)
    assert res.mu[1] == pytest.approx(-ref["fixef"][1], abs=1e-5)
    assert res.vcov[0, 1] == pytest.approx(-ref["vcov"][0][1], abs=1e-6)
    assert res.rho == pytest.approx(-ref["rho"], abs=1e-5)
    assert res.extra["rho_sens_spec"] == pytest.approx(ref["rho"], abs=1e-5)
    assert res.nobs == 28 and res.df == 5
    assert res.aic == pytest.approx(-2 * ref["logLik"] + 10, abs=1e-5)
    assert res.sensitivity.estimate == pytest.approx(expit(ref["fixef"][0]), abs=1e-6)
    assert res.specificity.estimate == pytest.approx(expit(ref["fixef"][1]), abs=1e-6)
    d = res.to_dict()
    for key in ("sensitivity", "specificity", "logit_sens", "logit_fpr", "tau2_logit_sens",
                "rho_sens_fpr", "loglik", "aic", "bic", "hsroc", "warnings"):
        assert key in d
    assert d["rho_sens_fpr"] == pytest.approx(-ref["rho"], abs=1e-5)
    json.dumps(d)


# ------------------------------------------------------------ zeros, singular --
def test_zero_cells_fit_without_correction() -> None:
    t = _table(REFS, "zerocells")
    assert t.has_zero_cells
    with pytest.warns(BoundaryEstimateWarning):
        res = glmm(t)
    assert res.correction == "none"
    ref = json.loads((TIGHT / "zerocells.json").read_text())["glmm"]["null"]
    np.testing.assert_allclose(res.extra["mu_sens_spec"], ref["fixef"], atol=1e-5)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    # on the boundary: sens-spec correlation +1, so sens-FPR correlation -1
    assert res.rho == pytest.approx(-1.0, abs=1e-6)
    assert res.extra["singular"] and ref["isSingular"]
    assert "boundary_estimate" in res.warning_codes


def test_singular_fit_is_reached_and_flagged() -> None:
    """Identical specificity (40/50) in every study: glmer reports isSingular, tau2_spec = 0."""
    ref = _tight("singular")
    assert ref["isSingular"]
    with pytest.warns(ZeroVarianceWarning):
        res = glmm(_table(TIGHT, "singular"))
    assert res.tau2[1] == pytest.approx(0.0, abs=1e-8)
    assert res.extra["theta"][2] == pytest.approx(0.0, abs=1e-4)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    assert res.extra["singular"]


def test_few_studies_warns() -> None:
    with pytest.warns(FewStudiesWarning):
        res = glmm(_table(REFS, "few4"))
    assert res.warning_codes[-1] == "few_studies"


# --------------------------------------------------------------- quadrature --
def _brute_force_per_study(phi: np.ndarray, data: BinomialData, m: int = 1201) -> np.ndarray:
    """Marginal likelihood per study by a fine trapezoid grid over b = Lambda u (u-space)."""
    a, b, c = phi[:3]
    beta = phi[3:5]
    grid = np.linspace(-9.0, 9.0, m)
    w = np.full(m, grid[1] - grid[0])
    w[[0, -1]] *= 0.5
    u1, u2 = np.meshgrid(grid, grid, indexing="ij")
    dens = np.exp(-0.5 * (u1 ** 2 + u2 ** 2)) / (2 * np.pi) * np.outer(w, w)
    e1 = beta[0] + a * u1
    e2 = beta[1] + b * u1 + c * u2
    out = []
    for (y1, y2), (n1, n2) in zip(data.y, data.n, strict=True):
        ll = (y1 * e1 - n1 * np.logaddexp(0, e1) + y2 * e2 - n2 * np.logaddexp(0, e2))
        const = (gammaln(n1 + 1) - gammaln(y1 + 1) - gammaln(n1 - y1 + 1)
                 + gammaln(n2 + 1) - gammaln(y2 + 1) - gammaln(n2 - y2 + 1))
        mx = ll.max()
        out.append(const + mx + np.log(np.sum(np.exp(ll - mx) * dens)))
    return np.array(out)


@pytest.mark.parametrize("name", ["few4", "skin_tests"])
def test_aghq_matches_brute_force_integration(name: str) -> None:
    data = binomial_data(_table(TIGHT, name))
    ref = _tight(name)
    phi = np.r_[ref["theta"], ref["fixef"]]
    exact = _brute_force_per_study(phi, data)
    q21 = aghq_loglik(phi, data, 21, per_study=True)
    np.testing.assert_allclose(q21, exact, atol=1e-8)
    laplace = laplace_loglik(phi, data, per_study=True)
    assert np.max(np.abs(laplace - exact)) > 1e-4        # Laplace is only an approximation
    assert aghq_loglik(phi, data, 1) == pytest.approx(laplace.sum(), abs=1e-10)


@pytest.mark.parametrize("name", REF_SETS)
def test_aghq_loglik_converges_between_15_and_21(name: str) -> None:
    f15, f21 = _fit(name, 15), _fit(name, 21)
    assert abs(f15.loglik - f21.loglik) < 1e-6
    np.testing.assert_allclose(f15.coef, f21.coef, atol=1e-4)
    assert f21.nagq == 21


def test_aghq_result_method() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = glmm(_table(REFS, "few4"), nagq=5)
    assert res.method == "aghq" and res.extra["nagq"] == 5


def test_laplace_gradient_matches_finite_differences() -> None:
    data = binomial_data(_table(TIGHT, "AuditC"), X=np.column_stack(
        [np.ones(14), np.linspace(-1, 1, 14)]))
    phi = np.array([1.3, -0.4, 0.5, 2.0, 0.3, 1.1, -0.2])
    _, g = laplace_loglik(phi, data)
    h = 1e-6
    fd = np.array([(laplace_loglik(phi + h * e, data, gradient=False)[0]
                    - laplace_loglik(phi - h * e, data, gradient=False)[0]) / (2 * h)
                   for e in np.eye(phi.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- bad input --
@pytest.mark.parametrize("bad", [0, -1, 2.5, "x"])
def test_nagq_must_be_a_whole_number_at_least_one(bad: object) -> None:
    with pytest.raises(InputError, match="nagq"):
        glmm(_table(REFS, "few4"), nagq=bad)  # type: ignore[arg-type]


def test_not_a_table_is_input_error() -> None:
    with pytest.raises(InputError, match="StudyTable"):
        glmm("studies.csv")  # type: ignore[arg-type]


def test_pool_cli_glmm_json(capsys: pytest.CaptureFixture[str]) -> None:
    from metaanalysis.cli import main

    rc = main(["pool", str(TIGHT / "AuditC.csv"), "--model", "glmm", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    ref = _tight("AuditC")
    assert out["model"] == "glmm"
    assert out["logit_sens"]["estimate"] == pytest.approx(ref["fixef"][0], abs=1e-5)
    assert out["loglik"] == pytest.approx(ref["logLik"], abs=1e-6)


def test_pool_cli_glmm_bad_nagq(capsys: pytest.CaptureFixture[str]) -> None:
    from metaanalysis.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["pool", str(TIGHT / "AuditC.csv"), "--model", "glmm", "--nagq", "0"])
    assert stop.value.code == 2
    assert "--nagq" in capsys.readouterr().err


def test_separation_is_reported() -> None:
    """No false negatives in any study: the MLE of logit sensitivity is infinite."""
    import pandas as pd

    t = StudyTable(pd.DataFrame({"study": list("abcde"), "TP": [10, 20, 15, 8, 30],
                                 "FN": [0, 0, 0, 0, 0], "FP": [3, 5, 2, 4, 6],
                                 "TN": [20, 30, 25, 18, 40]}))
    with pytest.warns(FitWarning) as record:
        res = glmm(t)
    assert any("logit sensitivity diverges" in str(w.message) for w in record)
    assert "diverging_estimate" in res.warning_codes
    # sensitivity sits at 1 with an arbitrary logit: what needs both logits is undefined
    assert res.diverged and res.sensitivity.estimate > 0.999
    for name in ("lr_positive", "lr_negative", "dor"):
        e = getattr(res, name)
        assert np.isnan([e.estimate, e.ci_low, e.ci_high]).all(), name
    assert np.isnan([res.auc, res.pauc, res.auc_exact, *res.hsroc.values()]).all()
    import json

    from metaanalysis.jsonout import dumps

    d = json.loads(dumps(res.to_dict()))     # strict JSON: undefined is null
    assert d["dor"]["estimate"] is None and d["auc"] is None and d["hsroc"]["Theta"] is None


def test_a_fit_that_does_not_diverge_keeps_its_derived_quantities() -> None:
    res = glmm(_table(TIGHT, "AuditC"))
    assert not res.diverged
    assert np.isfinite([res.dor.estimate, res.auc, res.auc_exact, *res.hsroc.values()]).all()


def test_aghq_optimum_is_the_exact_likelihood_maximum() -> None:
    """The brute-force likelihood is stationary at the nagq=21 optimum, not at the Laplace one."""
    data = binomial_data(_table(TIGHT, "few4"))

    def grad(phi: np.ndarray) -> np.ndarray:
        h = 1e-5
        return np.array([(_brute_force_per_study(phi + h * e, data, m=301).sum()
                          - _brute_force_per_study(phi - h * e, data, m=301).sum()) / (2 * h)
                         for e in np.eye(phi.size)])

    f21, lap = _fit("few4", 21), _fit("few4", 1)
    at_aghq = grad(np.r_[f21.theta, f21.coef.ravel()])
    at_laplace = grad(np.r_[lap.theta, lap.coef.ravel()])
    assert np.max(np.abs(at_aghq)) < 1e-5
    assert np.max(np.abs(at_laplace)) > 1e-3


# ------------------------------------------ why refs/*.glmm.json differ from the exact fit --
def _lme4_default_deviance(par: np.ndarray, lp0: np.ndarray, data: BinomialData,
                           tol: float = 1e-7) -> float:
    """glmer's nAGQ=1 deviance as lme4 computes it with its PIRLS tolerance ``tol``.

    Written from lme4's documented algorithm (Bates et al. 2015, section 5): PIRLS for the
    spherical random effects starts from the linear predictor ``lp0`` left by the nAGQ = 0
    stage and stops when the penalised deviance changes by less than ``tol`` (relative);
    the Laplace deviance is then ``log|L|^2 + ||u||^2 + aic``, with ``L`` the Cholesky factor
    of the last decomposition, i.e. made with the weights of the iterate before the last update.
    """
    y, n = data.y, data.n
    a, b, c = par[:3]
    lam = np.array([[a, 0.0], [b, c]])
    off = np.broadcast_to(par[3:5], y.shape)
    eta = lp0.copy()
    old = np.inf

    def dev_resid(mu: np.ndarray) -> float:
        p = y / n
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(p > 0, p * np.log(p / mu), 0.0)
            t2 = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - mu)), 0.0)
        return float(np.sum(2 * n * (t1 + t2)))

    for _ in range(100):
        mu = expit(eta)
        w = n * mu * (1 - mu)
        z = (eta - off) + (y / n - mu) / (mu * (1 - mu))
        H = np.einsum("ji,kj,jl->kil", lam, w, lam) + np.eye(2)
        u = np.linalg.solve(H, np.einsum("ji,kj->ki", lam, w * z)[..., None])[..., 0]
        log_det = float(np.sum(np.log(np.linalg.det(H))))
        eta = off + u @ lam.T
        pdev = dev_resid(expit(eta)) + float(np.sum(u * u))
        if abs((old - pdev) / pdev) < tol:
            break
        old = pdev
    mu = expit(eta)
    aic = -2.0 * float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
                              + y * np.log(mu) + (n - y) * np.log1p(-mu)))
    return log_det + float(np.sum(u * u)) + aic


@pytest.mark.parametrize("name", REF_SETS)
def test_refs_are_lme4s_early_stopped_pirls(name: str) -> None:
    """Emulating glmer's default stopping rule reproduces refs/<name>.glmm.json exactly.

    The refs' logLik is recovered to 1e-9 at their parameters; the same emulation with a
    tight tolerance gives this package's Laplace value; and maximising the emulated default
    objective from this package's optimum lands on the refs' estimates within 1e-4.
    """
    from scipy import optimize

    ref = json.loads((REFS / f"{name}.glmm.json").read_text())
    dd = json.loads((TIGHT / f"{name}.json").read_text())["glmm"]["default_devfun"]
    data = binomial_data(_table(REFS, name))
    lp0 = np.array(dd["lp0"]).reshape(-1, 2)
    par = np.r_[ref["theta_lme4"], ref["mu_logit_sens"], ref["mu_logit_spec"]]
    np.testing.assert_allclose(par, dd["par"], atol=1e-12)
    assert -0.5 * _lme4_default_deviance(par, lp0, data) == pytest.approx(ref["logLik"],
                                                                         abs=1e-9)
    exact, _ = laplace_loglik(par, data, gradient=False)
    assert -0.5 * _lme4_default_deviance(par, lp0, data, tol=1e-14) == pytest.approx(exact,
                                                                                    abs=1e-9)
    fit = _fit(name)
    start = np.r_[fit.theta, fit.coef.ravel()]
    res = optimize.minimize(lambda p: _lme4_default_deviance(p, lp0, data), start,
                            method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-11, "maxfev": 5000})
    np.testing.assert_allclose(res.x[3:], par[3:], atol=1e-4)
    np.testing.assert_allclose(res.x[:3], par[:3], atol=2e-4)
    assert -0.5 * res.fun == pytest.approx(ref["logLik"], abs=1e-6)


# ------------------------------------------- pirls="lme4": glmer's default output --
_LME4: dict[str, object] = {}


def _lme4_fit(name: str):
    if name not in _LME4:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            _LME4[name] = glmm(_table(REFS, name), pirls="lme4")
    return _LME4[name]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-2)


SPREAD = json.loads((FIX / "glmm_lme4_defaults" / "optimizer_spread.json").read_text())


def _glmer_resolution(key: str) -> float:
    """How precisely glmer's default output pins ``key`` (se, fixef, tau2, theta, rho, logLik).

    For each data set whose default fit is regular (not singular, no message: IAQ's deviance
    jumps inside the Hessian's step and is tested separately), the refits with other
    optimisers and other row orders that raised no message are compared with the default
    fit; the resolution is the largest difference over all of them, relative (``_rel``) for
    se, fixef and tau2, absolute for theta, rho and logLik. These refits are the same
    computation as the default fit up to where an optimiser stops and the order of sums, so
    a number reproduced by a second, independent implementation of that computation (which
    has its own error of the same kind) can differ from glmer's by up to twice this. Measured
    (lme4 1.1-31): se 6.4e-5, fixef 1.0e-4 relative (Dementia, nloptwrap), logLik 2.9e-7.
    """
    worst = 0.0
    for name, fits in SPREAD.items():
        if name == "meta":
            continue
        base = fits["default"]
        if base["isSingular"] or base["messages"]:
            continue
        for label, fit in fits.items():
            if label in ("default", "se_nearby") or fit["messages"]:
                continue
            a, b = np.atleast_1d(fit[key]), np.atleast_1d(base[key])
            if key in ("se", "fixef", "tau2"):
                d = max(_rel(x, y) for x, y in zip(a, b, strict=True))
            else:
                d = float(np.max(np.abs(a - b)))
            worst = max(worst, d)
    return worst


def _tol(key: str) -> float:
    """Tolerance for comparing pirls="lme4" with glmer's defaults: twice glmer's resolution."""
    return 2.0 * _glmer_resolution(key)


def test_glmer_resolution_is_what_the_docstrings_say() -> None:
    """The derived tolerances are the measured spread, not a number chosen to pass."""
    assert _glmer_resolution("se") == pytest.approx(6.4e-5, rel=0.05)
    assert _glmer_resolution("fixef") == pytest.approx(1.04e-4, rel=0.05)
    assert _glmer_resolution("logLik") < 1e-6
    # glmer's SE recipe evaluated within the optimisers' spread of its own optimum moves the
    # SEs by as much as the refits do (make_optimizer_spread.R, "se_nearby")
    nearby = max(_rel(x, y) for name, fits in SPREAD.items()
                 if name != "meta" and not fits["default"]["messages"]
                 and not fits["default"]["isSingular"]
                 for pt in fits["se_nearby"]["points"]
                 for x, y in zip(pt["se"], fits["default"]["se"], strict=True))
    assert 1e-5 < nearby <= 1.5 * _glmer_resolution("se")


@pytest.mark.parametrize("name", REF_SETS)
def test_pirls_lme4_matches_glmer_defaults(name: str) -> None:
    """refs/<name>.glmm.json (glmer, all defaults), within twice glmer's own resolution.

    The SE tolerance is ``_tol("se")`` (1.3e-4 relative): lme4's SEs come from a
    central-difference Hessian with step 1e-4, so round-off and where the optimiser stopped
    move them (glmer's refits: up to 6.4e-5). Attained: SEs <= 1.04e-4 (AuditC, with
    OpenBLAS's SkylakeX kernel; 5.5e-5 with Haswell); at glmer's own parameters and linear
    predictor the SEs differ by 5e-5, so this implementation's deviance carries more
    round-off than lme4's. Variances (SE squared) get twice the SE tolerance.
    """
    ref = json.loads((REFS / f"{name}.glmm.json").read_text())
    res = _lme4_fit(name)
    ss = res.extra
    assert ss["pirls"] == "lme4" and res.method == "laplace"
    assert _rel(ss["mu_sens_spec"][0], ref["mu_logit_sens"]) < 1e-4
    assert _rel(ss["mu_sens_spec"][1], ref["mu_logit_spec"]) < 1e-4
    assert _rel(res.se[0], ref["se_logit_sens"]) < _tol("se")
    assert _rel(res.se[1], ref["se_logit_spec"]) < _tol("se")
    vc = np.array(ss["vcov_sens_spec"])
    np.testing.assert_allclose(vc, np.array(ref["vcov"]), rtol=2 * _tol("se"))
    assert _rel(res.tau2[0], ref["tau2_logit_sens"]) < 1e-4
    assert _rel(res.tau2[1], ref["tau2_logit_spec"]) < 1e-4
    assert ss["psi_sens_spec"][0][1] == pytest.approx(ref["cov_logit_sens_spec"], rel=1e-4)
    assert ss["rho_sens_spec"] == pytest.approx(ref["rho_logit_sens_spec"], abs=1e-4)
    assert res.rho == pytest.approx(ref["in_fpr_parameterisation"]["rho_logit_sens_fpr"],
                                    abs=1e-4)
    np.testing.assert_allclose(ss["theta"], ref["theta_lme4"], atol=1e-4)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    assert res.aic == pytest.approx(ref["AIC"], rel=1e-6)
    assert res.bic == pytest.approx(ref["BIC"], rel=1e-6)
    assert res.sensitivity.estimate == pytest.approx(ref["sensitivity"], rel=1e-5)
    assert res.specificity.estimate == pytest.approx(ref["specificity"], rel=1e-5)
    modes = ss["conditional_modes"]
    rm = ref["ranef_conditional_modes"]
    np.testing.assert_allclose(modes["logit_sens"], rm["sens"], atol=1e-4)
    np.testing.assert_allclose(modes["logit_spec"], rm["spec"], atol=1e-4)
    assert ss["singular"] == ref["isSingular"]
    assert res.converged
    assert "unreliable_standard_errors" not in res.warning_codes


def test_pirls_lme4_is_needed_for_glmer_defaults() -> None:
    """The default (exact) fit of AuditC is outside 1e-4 of glmer's defaults; lme4 mode is in."""
    ref = json.loads((REFS / "AuditC.glmm.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        exact = glmm(_table(REFS, "AuditC"))
    assert exact.extra["pirls"] == "exact"
    assert _rel(exact.extra["mu_sens_spec"][0], ref["mu_logit_sens"]) > 3e-4
    assert abs(exact.loglik - ref["logLik"]) > 1e-4
    assert exact.loglik > _lme4_fit("AuditC").loglik     # the exact Laplace maximum is higher


DEFAULTS = json.loads((FIX / "glmm_lme4_defaults" / "glmm_lme4_defaults.json").read_text())


@pytest.mark.parametrize("name", sorted(k for k in DEFAULTS if k != "meta"))
def test_pirls_lme4_matches_glmer_defaults_ten_sets(name: str) -> None:
    """glmm_lme4_defaults/glmm_lme4_defaults.json: glmer 1.1-31, all defaults, ten data sets
    (two singular fits; IAQ, where glmer itself reports a failed convergence check)."""
    ref = DEFAULTS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fit = fit_binomial_normal(binomial_data(_table(TIGHT, name)), pirls="lme4")
    assert fit.pirls == "lme4"
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    assert -2 * fit.loglik + 10 == pytest.approx(ref["AIC"], rel=1e-6)
    np.testing.assert_allclose(fit.coef.ravel(), ref["fixef"], rtol=1e-4)
    # IAQ: the deviance jumps inside the Hessian's step, so glmer's SEs are round-off
    # sensitive there (its own row-order refits move them by 3.9e-4; see the test below)
    se_tol = 1e-3 if name == "IAQ" else _tol("se")
    np.testing.assert_allclose(fit.se.ravel(), ref["se"], rtol=se_tol)
    np.testing.assert_allclose(fit.vcov, np.array(ref["vcov"]), rtol=2 * se_tol, atol=1e-6)
    np.testing.assert_allclose(fit.theta, ref["theta"], atol=2e-4)
    np.testing.assert_allclose(np.diag(fit.sigma), ref["tau2"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.modes[:, 0], ref["ranef_sens"], atol=2e-4)
    np.testing.assert_allclose(fit.modes[:, 1], ref["ranef_spec"], atol=2e-4)
    assert fit.singular == ref["isSingular"]
    if not ref["isSingular"]:
        assert fit.rho == pytest.approx(ref["rho"], abs=1e-4)
    assert fit.converged


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "simreg"])
def test_pirls_lme4_meta_regression_matches_glmer_defaults(name: str) -> None:
    """Covariate x on both logits (p = 2): the joint (u, beta) PIRLS of stage 1 in general."""
    import pandas as pd

    ref = DEFAULTS[name]["x"]
    t = _table(TIGHT, name)
    x = pd.read_csv(TIGHT / f"{name}.csv")["x"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fit = fit_binomial_normal(binomial_data(t, np.column_stack([np.ones(t.k), x])),
                                  pirls="lme4")
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    np.testing.assert_allclose(fit.coef.ravel(), ref["fixef"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.se.ravel(), ref["se"], rtol=1e-4)
    np.testing.assert_allclose(fit.theta, ref["theta"], atol=2e-4)


def test_lme4_pirls_deviance_reproduces_glmer_at_its_optimum() -> None:
    """At the refs' parameters and glmer's stage-1 linear predictor (make_fixtures.R), the
    package's PIRLS gives glmer's logLik to 1e-9, agrees with the independent emulation above
    at other parameters, and with a tight tolerance is the exact Laplace value."""
    from metaanalysis.models.glmm import _fit_lme4
    from metaanalysis.models.quadrature import lme4_pirls

    for name in REF_SETS:
        ref = json.loads((REFS / f"{name}.glmm.json").read_text())
        dd = json.loads((TIGHT / f"{name}.json").read_text())["glmm"]["default_devfun"]
        data = binomial_data(_table(REFS, name))
        lp0 = np.array(dd["lp0"]).reshape(-1, 2)
        par = np.array(dd["par"])
        res = lme4_pirls(par[:3], data, lp0, beta=par[3:])
        assert -0.5 * res.deviance == pytest.approx(ref["logLik"], abs=1e-9)
        other = par + np.array([0.05, -0.03, 0.02, -0.1, 0.07])
        assert lme4_pirls(other[:3], data, lp0, beta=other[3:]).deviance == pytest.approx(
            _lme4_default_deviance(other, lp0, data), abs=1e-9)
        # a change of pdev below tol leaves the weights off by about sqrt(tol)
        tight = lme4_pirls(other[:3], data, lp0, beta=other[3:], tol=1e-14)
        assert -0.5 * tight.deviance == pytest.approx(
            laplace_loglik(other, data, gradient=False)[0], abs=1e-6)
    # the first stage, run here, ends at glmer's linear predictor
    data = binomial_data(_table(REFS, "AuditC"))
    lp0 = np.array(json.loads((TIGHT / "AuditC.json").read_text())["glmm"]["default_devfun"]
                   ["lp0"]).reshape(-1, 2)
    *_, obj, _ = _fit_lme4(data, np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(obj.eta0, lp0, atol=5e-4)


def test_pirls_lme4_flags_a_jump_inside_the_hessian_step() -> None:
    """IAQ: glmer's default deviance jumps (PIRLS takes 2 vs 3 iterations) within 1e-4 of the
    optimum; the estimates still match glmer's (make_fixtures.R "default_devfun" par) but
    the finite-difference SEs are meaningless, which is said in a warning."""
    dd = json.loads((TIGHT / "IAQ.json").read_text())["glmm"]["default_devfun"]
    with pytest.warns(UnreliableStandardErrorsWarning):
        res = glmm(_table(TIGHT, "IAQ"), pirls="lme4")
    np.testing.assert_allclose(res.extra["mu_sens_spec"], dd["par"][3:], atol=2e-4)
    assert res.loglik == pytest.approx(dd["logLik"], abs=1e-5)
    assert "unreliable_standard_errors" in res.warning_codes
    # glmer reports the same meaningless SEs (and a failed gradient check); the exact fit's
    # SEs agree with glmer's tight-tolerance fit
    glmer = DEFAULTS["IAQ"]
    assert any("failed to converge" in m for m in glmer["messages"])
    np.testing.assert_allclose(res.se, glmer["se"], rtol=1e-3)
    assert glmer["se"][0] < 0.01 < _fit("IAQ").se[0]
    np.testing.assert_allclose(_fit("IAQ").se.ravel(), _tight("IAQ")["se"], atol=1e-5)


def test_pirls_bad_values_are_input_errors() -> None:
    with pytest.raises(InputError, match="pirls must be one of exact, lme4"):
        glmm(_table(REFS, "few4"), pirls="glmer")
    with pytest.raises(InputError, match="needs nagq=1"):
        glmm(_table(REFS, "few4"), nagq=5, pirls="lme4")


def test_pool_cli_pirls_lme4(capsys: pytest.CaptureFixture[str]) -> None:
    from metaanalysis.cli import main

    ref = json.loads((REFS / "few4.glmm.json").read_text())
    rc = main(["pool", str(REFS / "few4.csv"), "--model", "glmm", "--pirls", "lme4", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["logit_sens"]["estimate"] == pytest.approx(ref["mu_logit_sens"], rel=1e-4)
    assert out["logit_sens"]["se"] == pytest.approx(ref["se_logit_sens"], rel=1e-4)
    assert out["loglik"] == pytest.approx(ref["logLik"], abs=1e-5)
    rc = main(["pool", str(REFS / "few4.csv"), "--pirls", "lme4"])
    assert rc == 2
    assert "--pirls is only used by --model glmm" in capsys.readouterr().err
