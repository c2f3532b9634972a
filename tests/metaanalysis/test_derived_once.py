"""The derived quantities of a fit are computed once per fit, and equal the fresh computation.

A result keeps the per-table quantities several statistics share (corrected counts,
logit outcomes, typical within-study variances, log Lehmann parameters) and the
95% Wald intervals; the SROC areas reuse grids that are the same for every fit.
Each reused value must be *exactly* (bit for bit) what the module functions give
when called afresh on the table, so the JSON of ``pool`` cannot change.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis import datasets, heterogeneity, sroc
from metaanalysis.numerics import expit, logit
from metaanalysis.table import StudyTable

REFS = Path(__file__).parents[1] / "fixtures" / "refs"
TABLES = ("AuditC", "Dementia", "few4", "skin_tests", "zerocells", "smoking", "IAQ", "SAQ")


def _table(name: str) -> StudyTable:
    if name in datasets.names():
        return datasets.load(name)
    return StudyTable.from_csv(REFS / f"{name}.csv")


def _same(a: object, b: object) -> bool:
    """Exact equality of nested floats, arrays, tuples and dicts (NaN equals NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@pytest.mark.parametrize("name", [*TABLES, "vbq_subsequent_fracture"])
@pytest.mark.parametrize("correction", ["all", "single"])
def test_within_study_quantities_equal_the_fresh_ones(name, correction):
    t = _table(name)
    w = heterogeneity.WithinStudy(t, correction)
    assert _same(w.counts, t.corrected(correction))
    tp, fp, fn, tn = t.corrected(correction)
    assert _same(w.outcomes, {"logit_sens": (np.log(tp / fn), 1.0 / tp + 1.0 / fn),
                              "logit_fpr": (np.log(fp / tn), 1.0 / fp + 1.0 / tn)})
    assert _same(w.outcomes, heterogeneity.logit_outcome_variances(t, correction))
    v1 = w.outcomes["logit_sens"][1]
    v2 = w.outcomes["logit_fpr"][1]
    assert w.typical == (heterogeneity.typical_within_variance(v1),
                         heterogeneity.typical_within_variance(v2))
    assert _same(w.lehmann, heterogeneity.log_lehmann_parameter(t, correction))


@pytest.mark.parametrize("name", [*TABLES, "vbq_subsequent_fracture"])
@pytest.mark.parametrize("model", ["reitsma", "glmm"])
def test_cached_statistics_equal_the_fresh_ones(name, model):
    t = _table(name)
    fit = getattr(ma, model)(t)
    corr = fit._i2_correction
    psi = fit.psi
    v = heterogeneity.logit_outcome_variances(t, corr)
    v1, v2 = v["logit_sens"][1], v["logit_fpr"][1]
    s1 = heterogeneity.typical_within_variance(v1)
    s2 = heterogeneity.typical_within_variance(v2)
    # Higgins-Thompson I2 written out with the public one-outcome function
    assert _same(fit.i2, {"logit_sens": heterogeneity.i2(psi[0, 0], v1),
                          "logit_fpr": heterogeneity.i2(psi[1, 1], v2),
                          "bivariate": heterogeneity._generalised_share(psi, s1 * s2)})
    assert _same(fit.i2_cochran_q, {k: heterogeneity.i2_cochran_q(y, var)
                                    for k, (y, var) in v.items()})
    assert _same(fit.i2_holling, heterogeneity.i2_holling(t, corr))
    assert _same(fit.i2, heterogeneity.bivariate_i2(t, psi, corr))
    assert _same(fit.i2_cochran_q, heterogeneity.cochran_q_i2(t, corr))
    # the Wald intervals are computed once and are those of _wald
    for est, j in ((fit.sensitivity, 0), (fit.false_positive_rate, 1)):
        assert (est.estimate, est.ci_low, est.ci_high) == fit._wald(j)
    f, lo, hi = fit._wald(1)
    spec = fit.specificity
    assert (spec.estimate, spec.ci_low, spec.ci_high) == (1.0 - f, 1.0 - hi, 1.0 - lo)


@pytest.mark.parametrize("name", [*TABLES, "vbq_subsequent_fracture"])
def test_sroc_areas_equal_the_grids_computed_afresh(name):
    fit = ma.reitsma(_table(name))
    mu, psi = fit.mu, fit.psi
    fpr = np.arange(1, 100) / 100.0
    s = sroc.sroc_curve(mu, psi, fpr)
    assert sroc.auc_mada(mu, psi) == float((0.5 * s[0] + s[1:-1].sum() + 0.5 * s[-1]) / 99.0)
    slope = sroc.sroc_slope(psi)
    if not (math.isfinite(slope) and abs(slope) <= 20.0):
        pytest.skip("the AUC of this fit is integrated adaptively")
    h = 0.05 / max(1.0, abs(slope))
    n = int(math.ceil(40.0 / h))
    tt = np.arange(-n, n + 1) * h
    x = expit(tt)
    g = expit(mu[0] + slope * (tt - mu[1])) * x * (1.0 - x)
    assert sroc.auc_exact(mu, psi) == float(h * g.sum())


def test_the_shared_grids_are_exact_and_read_only():
    assert np.array_equal(sroc._AUC_LOGIT_FPR, logit(np.arange(1, 100) / 100.0))
    t, x, xc = sroc._BASE_GRID
    n = int(math.ceil(40.0 / 0.05))
    assert np.array_equal(t, np.arange(-n, n + 1) * 0.05)
    assert np.array_equal(x, expit(t)) and np.array_equal(xc, 1.0 - expit(t))
    for arr in (sroc._AUC_LOGIT_FPR, t, x, xc):
        with pytest.raises(ValueError):
            arr[0] = 0.0


@pytest.mark.parametrize("model", ["reitsma", "glmm"])
def test_to_dict_corrects_the_counts_once(monkeypatch, model):
    t = _table("AuditC")
    fit = getattr(ma, model)(t)
    calls = {"corrected": 0, "lehmann": 0, "weights": 0}
    corrected, lehmann = StudyTable.corrected, heterogeneity._log_lehmann
    weights = heterogeneity.WithinStudy._weights.func

    def counting_corrected(self, *a, **kw):
        calls["corrected"] += 1
        return corrected(self, *a, **kw)

    def counting_lehmann(*a, **kw):
        calls["lehmann"] += 1
        return lehmann(*a, **kw)

    def counting_weights(self):
        calls["weights"] += 1
        return weights(self)

    monkeypatch.setattr(StudyTable, "corrected", counting_corrected)
    monkeypatch.setattr(heterogeneity, "_log_lehmann", counting_lehmann)
    monkeypatch.setattr(heterogeneity.WithinStudy, "_weights",
                        functools.cached_property(counting_weights))
    heterogeneity.WithinStudy._weights.__set_name__(heterogeneity.WithinStudy, "_weights")
    fresh = dataclasses.replace(fit)  # nothing cached yet
    first = fresh.to_dict()
    # one correction of the counts, one set of log Lehmann parameters, and the weights
    # of the two logit outcomes (for the I2 from Psi and Cochran's Q) once
    assert calls == {"corrected": 1, "lehmann": 1, "weights": 1}
    assert fresh.to_dict() == first
    assert calls == {"corrected": 1, "lehmann": 1, "weights": 1}


def test_reitsma_hands_its_corrected_counts_to_the_statistics(monkeypatch):
    # the fit corrects the counts for its outcomes; the I2 statistics of its result reuse
    # them, so fitting and reporting correct the counts once in all
    t = _table("zerocells")
    calls = []
    corrected = StudyTable.corrected

    def counting(self, *a, **kw):
        calls.append(a or kw)
        return corrected(self, *a, **kw)

    monkeypatch.setattr(StudyTable, "corrected", counting)
    for correction in ("all", "single"):
        calls.clear()
        d = ma.reitsma(t, correction=correction).to_dict()
        assert len(calls) == 1
        fresh = dataclasses.replace(ma.reitsma(t, correction=correction))
        assert fresh.to_dict() == d  # statistics from counts corrected afresh: the same


@pytest.mark.parametrize("model", ["reitsma", "glmm"])
def test_to_dict_equals_one_assembled_from_fresh_calls(model):
    t = _table("vbq_subsequent_fracture")
    fit = getattr(ma, model)(t)
    d = fit.to_dict()
    corr = fit._i2_correction
    assert d["i2"] == heterogeneity.bivariate_i2(t, fit.psi, corr)
    assert d["i2_cochran_q"] == heterogeneity.cochran_q_i2(t, corr)
    assert d["i2_holling"] == heterogeneity.i2_holling(t, corr)
    assert d["auc"] == sroc.auc_mada(fit.mu, fit.psi)
    assert d["auc_exact"] == sroc.auc_exact(fit.mu, fit.psi)
    sens = fit._wald(0)
    assert d["sensitivity"] == {"estimate": sens[0], "ci_low": sens[1], "ci_high": sens[2]}


def test_within_study_quantities_of_another_table_are_refused():
    a, b = _table("AuditC"), _table("Dementia")
    with pytest.raises(ValueError, match="another table"):
        heterogeneity.cochran_q_i2(a, "all", within=heterogeneity.WithinStudy(b, "all"))
    with pytest.raises(ValueError, match="another table"):
        heterogeneity.i2_holling(a, "all", within=heterogeneity.WithinStudy(a, "single"))


@pytest.mark.parametrize("correction", ["all", "single"])
def test_a_reitsma_fit_corrects_the_counts_once(monkeypatch, correction):
    t = _table("zerocells")
    ref = ma.reitsma(t, correction=correction)
    calls = []
    corrected = StudyTable.corrected

    def counting(self, *a, **kw):
        calls.append(1)
        return corrected(self, *a, **kw)

    monkeypatch.setattr(StudyTable, "corrected", counting)
    fit = ma.reitsma(t, correction=correction)
    assert len(calls) == 1  # the logits and the log-Jacobian share it
    assert fit.loglik == ref.loglik
    from metaanalysis.models.reitsma import log_jacobian

    assert fit.loglik == fit.extra["loglik_without_jacobian"] + log_jacobian(t, correction)


@pytest.mark.parametrize("correction", ["all", "single", "none"])
def test_logits_from_given_corrected_counts_equal_the_plain_ones(correction):
    t = _table("skin_tests" if correction == "none" else "zerocells")
    assert correction == "none" or t.has_zero_cells
    y, S = t.logits(correction)
    y2, S2 = t.logits(correction, corrected=t.corrected(correction))
    assert np.array_equal(y, y2) and np.array_equal(S, S2)


def test_the_weight_forms_equal_the_public_heterogeneity_functions():
    """Holling's I2, Zhou's I2 and the within-study summaries are computed from weights;
    on many tables they must equal the public functions written on the variances."""
    import warnings

    from metaanalysis import heterogeneity as het

    for seed in range(40):
        t = ma.simulate(k=3 + seed % 12, mu=[1.2, -1.5], psi=[[0.5, 0.1], [0.1, 0.4]],
                        n=(20, 300), prevalence=(0.1, 0.5), seed=seed)
        y, v, u = het.log_lehmann_parameter(t)
        tau2 = het.dersimonian_laird_tau2(y, v)
        want = {}
        for label, var in (("Unadjusted", v), ("Adjusted", u)):
            for j, s2 in enumerate((het.typical_within_variance(var),
                                    het.harmonic_mean_variance(var), float(np.mean(var))),
                                   start=1):
                want[f"Holling{label}{j}"] = tau2 / (tau2 + s2)
        got = het.i2_holling(t)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-13, abs=1e-15), (seed, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ma.reitsma(t)
        mu, psi = fit.mu, fit.psi
        f1 = het.expected_logit_variance_factor(mu[0], psi[0, 0])
        f2 = het.expected_logit_variance_factor(mu[1], psi[1, 1])
        e1 = f1 * float(np.mean(1.0 / np.asarray(t.n_diseased, float)))
        e2 = f2 * float(np.mean(1.0 / np.asarray(t.n_nondiseased, float)))
        z = het.i2_zhou(t, mu, psi)
        assert z["logit_sens"] == pytest.approx(psi[0, 0] / (psi[0, 0] + e1), rel=1e-13)
        assert z["logit_fpr"] == pytest.approx(psi[1, 1] / (psi[1, 1] + e2), rel=1e-13)
