"""The multiple-thresholds model against R's diagmeta 0.5-1 on its example data Schneider2017.

References (tests/fixtures/diagmeta/): ``diagmeta_Schneider2017.json``, made by ``dm.R``
(diagmeta 0.5-1, lme4 1.1-31, every model x distr with ``log.cutoff = TRUE``), and
``lme4_Schneider2017.json``, made by ``lme4_tight.R``: the same lmer calls rebuilt without
diagmeta, once with lmer's default optimiser settings (they reproduce diagmeta's numbers
exactly, which the first test checks) and once with bobyqa run to 1e-14 and restarted.

Tolerances, and why:

- REML logLik, AIC and BIC: 1e-4 absolute (as asked); they agree to about 1e-6, and ours is
  never lower than R's, i.e. our optimiser never stops short of R's maximum.
- Fixed effects and variance components: 1e-5 relative to the larger of the value and its
  scale (the standard error for a fixed effect; ``sqrt(var_i var_j)`` for a covariance),
  against diagmeta where its optimiser pins them: lme4 rerun with bobyqa to 1e-14 moves none
  of them by more than 2e-6 of scale. Elsewhere they are not pinned to 1e-5 by diagmeta's own
  optimiser (the tighter run moves them by 1e-5 to 1e-2, even where the REML logLik changes by
  less than 1e-9: normal DS, CICS and CIDS sit on flat optima), and ours are compared with the
  tight run; they agree with it to 3e-6 of scale (seen), and our REML logLik is never more than
  1e-10 below it.
- The optimal cut-off, sensitivity and specificity there with their bounds, AUCSens and
  AUCSpec with bounds: given diagmeta's own fixed effects and covariance, our formulas
  reproduce its numbers to 1e-13 (normal) and 2e-8 (logistic, whose optimal cut-off diagmeta
  finds by a fixed-point iteration stopped at |f(x) - x| <= 1e-8 on the log scale). From our
  own fit they agree with diagmeta to 1e-5 where its optimiser reached the maximum (the rerun
  raises its logLik by less than 1e-9), and to 2e-5 elsewhere (normal DIDS: 1.2e-5, where
  lme4's default stops 5e-7 below the maximum).
"""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from metaanalysis.models.thresholds import RANDOM_EFFECTS, thresholds
from metaanalysis.thresholds_result import Lines
from metaanalysis.thresholds_table import ThresholdsTable

pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures" / "diagmeta"
REF = json.loads((FIX / "diagmeta_Schneider2017.json").read_text())
LME4 = json.loads((FIX / "lme4_Schneider2017.json").read_text())
KEYS = list(REF)
#: diagmeta's column names in Schneider2017.
DIAGMETA_COLUMNS = {"cutoff": "cutpoint", "TP": "tpos", "FP": "fpos", "FN": "fneg", "TN": "tneg"}
Z = 1.959963984540054
DERIVED = {"optcut": ("optimal_cutoff", "value"), "lower.optcut": ("optimal_cutoff", "lower"),
           "upper.optcut": ("optimal_cutoff", "upper"),
           "Sens.optcut": ("at_optimum", "sens"), "lower.Sens.optcut": ("at_optimum", "sens_lower"),
           "upper.Sens.optcut": ("at_optimum", "sens_upper"),
           "Spec.optcut": ("at_optimum", "spec"), "lower.Spec.optcut": ("at_optimum", "spec_lower"),
           "upper.Spec.optcut": ("at_optimum", "spec_upper"),
           "AUCSens": ("auc", "AUCSens"), "AUCSens.lower": ("auc", "AUCSens_lower"),
           "AUCSens.upper": ("auc", "AUCSens_upper"), "AUCSpec": ("auc", "AUCSpec"),
           "AUCSpec.lower": ("auc", "AUCSpec_lower"), "AUCSpec.upper": ("auc", "AUCSpec_upper")}


def at_maximum(key: str) -> bool:
    """Whether lme4's default settings (diagmeta's) reached the REML maximum (to 1e-9)."""
    return LME4[key]["tight"]["logLik_REML"] - LME4[key]["default"]["logLik_REML"] < 1e-9


def _scales(entry: dict, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-effect and variance-component scales of one lme4 run (as :func:`varcorr`)."""
    vc = np.array(entry["varcorr"]["vcov"])
    var = vc[:q]
    cov = [math.sqrt(var[i] * var[j]) for i in range(q) for j in range(i + 1, q)]
    return (np.sqrt(np.diag(np.array(entry["vcov_fixef"]))),
            np.maximum(np.abs(vc), np.r_[var, cov, vc[-1]]))


def pinned(key: str) -> bool:
    """Whether lme4's default run pins the estimates to 1e-5: the tight rerun moves none by
    more than 2e-6 of its scale (a logLik change below 1e-9 is not enough on a flat
    optimum: normal DS, CICS and CIDS move by 1e-5 to 3e-5 while it changes by < 1e-9)."""
    d, t = LME4[key]["default"], LME4[key]["tight"]
    se, vscale = _scales(t, len(RANDOM_EFFECTS[key.split()[1]]))
    fe = np.abs(np.array(list(d["fixef"].values())) - np.array(list(t["fixef"].values())))
    vc = np.abs(np.array(d["varcorr"]["vcov"]) - np.array(t["varcorr"]["vcov"]))
    tb = np.abs(np.array(list(t["fixef"].values())))
    return bool(np.all(fe <= 2e-6 * np.maximum(tb, se)) and np.all(vc <= 2e-6 * vscale))


def table() -> ThresholdsTable:
    return ThresholdsTable.from_csv(FIX / "Schneider2017.csv", study_column="study_id",
                                    columns=DIAGMETA_COLUMNS)


@cache
def fit(key: str):
    distr, model = key.split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return thresholds(table(), model=model, distr=distr, log_cutoff=True)


def varcorr(res, names):
    """Our variance components in lme4's as.data.frame(VarCorr) order, with their scales."""
    psi = res.psi
    q = len(names)
    vals = [psi[i, i] for i in range(q)]
    scale = [psi[i, i] for i in range(q)]
    for i in range(q):
        for j in range(i + 1, q):
            vals.append(psi[i, j])
            scale.append(math.sqrt(psi[i, i] * psi[j, j]))
    return np.array([*vals, res.sigma2]), np.array([*scale, res.sigma2])


def test_fixture_lmer_call_is_diagmetas():
    """The rebuilt lmer call (response, weights, formula) gives diagmeta's numbers exactly."""
    for key in KEYS:
        ref, rebuilt = REF[key], LME4[key]["default"]
        assert rebuilt["logLik_REML"] == ref["logLik_REML"]
        assert list(rebuilt["fixef"].values()) == list(ref["fixef"].values())
        assert rebuilt["varcorr"]["vcov"] == ref["varcorr"]["vcov"]


@pytest.mark.parametrize("key", KEYS)
def test_loglik_aic_bic(key):
    res, ref = fit(key), REF[key]
    assert res.loglik == pytest.approx(ref["logLik_REML"], abs=1e-4)
    assert res.aic == pytest.approx(ref["AIC"], abs=1e-4)
    assert res.bic == pytest.approx(ref["BIC"], abs=1e-4)
    assert res.loglik >= ref["logLik_REML"] - 1e-9  # never short of R's maximum
    assert res.loglik >= LME4[key]["tight"]["logLik_REML"] - 1e-10


@pytest.mark.parametrize("key", KEYS)
def test_fixed_effects_and_variance_components(key):
    res = fit(key)
    ref = REF[key] if pinned(key) else LME4[key]["tight"]
    tol = 1e-5
    beta = np.array(list(res.fixef.values()))
    rbeta = np.array(list(ref["fixef"].values()))
    se = np.sqrt(np.diag(np.array(ref["vcov_fixef"])))
    assert np.all(np.abs(beta - rbeta) <= tol * np.maximum(np.abs(rbeta), se))
    assert np.allclose(res.vcov, np.array(ref["vcov_fixef"]), rtol=1e-4, atol=0)
    vals, scale = varcorr(res, RANDOM_EFFECTS[key.split()[1]])
    rvals = np.array(ref["varcorr"]["vcov"])
    assert len(vals) == len(rvals)
    assert np.all(np.abs(vals - rvals) <= tol * np.maximum(np.abs(rvals), scale))
    assert res.lines.var_diseased == pytest.approx(REF[key]["var.diseased"], rel=1e-12)
    assert res.lines.var_nondiseased == pytest.approx(REF[key]["var.nondiseased"], rel=1e-12)


@pytest.mark.parametrize("key", KEYS)
def test_derived_quantities_from_diagmetas_own_fit(key):
    """Our formulas on diagmeta's fixed effects give diagmeta's numbers."""
    ref = REF[key]
    distr = key.split()[0]
    lines = Lines.from_fixef(list(ref["fixef"].values()), np.array(ref["vcov_fixef"]),
                             ref["var.nondiseased"], ref["var.diseased"], distr)
    x = lines.optimal(0.5)
    se = lines.optimal_se(x, 0.5)
    sens, spec, auc = lines.sens(x), lines.spec(x), lines.auc()
    got = {"optcut": math.exp(x), "lower.optcut": math.exp(x - Z * se),
           "upper.optcut": math.exp(x + Z * se), "Sens.optcut": sens[0],
           "lower.Sens.optcut": sens[1], "upper.Sens.optcut": sens[2], "Spec.optcut": spec[0],
           "lower.Spec.optcut": spec[1], "upper.Spec.optcut": spec[2],
           **{k: auc[k.replace(".", "_")] for k in DERIVED if k.startswith("AUC")}}
    rtol = 2e-8 if distr == "logistic" else 1e-13
    for name, value in got.items():
        if ref[name] is None:  # diagmeta gives no interval for the logistic optimal cut-off
            assert name.endswith(".optcut") and distr == "logistic" and math.isfinite(value)
            continue
        assert float(value) == pytest.approx(ref[name], rel=rtol), name


@pytest.mark.parametrize("key", KEYS)
def test_derived_quantities_from_our_fit(key):
    res, ref = fit(key), REF[key]
    rtol = 1e-5 if at_maximum(key) else 2e-5
    for name, (attr, field) in DERIVED.items():
        if ref[name] is None:
            continue
        assert getattr(res, attr)[field] == pytest.approx(ref[name], rel=rtol), name


def test_unequal_totals_warned_by_name():
    t = table()
    assert t.warning_codes == ("unequal_totals",)
    assert "study '11'" in t.warnings[0] and "154, 155" in t.warnings[0]
    assert "unequal_totals" in fit("logistic CICS").warning_codes


def test_singular_fits_carry_a_boundary_warning():
    for key in KEYS:
        singular = fit(key).extra["singular"]
        codes = fit(key).warning_codes
        assert singular == any(c in ("boundary_estimate", "zero_variance") for c in codes), key
    assert fit("logistic DIDS").extra["singular"]
