"""Univariate pooling against metafor::rma (DL and REML) and mada::madauni (DSL).

References: tests/fixtures/univariate_reml.json (tests/fixtures/make_univariate.R,
metafor 3.8-1; REML with convergence threshold 1e-12) and the
``metafor.univariate_DL`` / ``madauni_DSL`` blocks of tests/fixtures/refs/*.reitsma.json.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models.univariate import OUTCOMES, pool, tau2_reml

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures"
UNI = json.loads((FIX / "univariate_reml.json").read_text())
SETS = ["AuditC", "Dementia", "skin_tests", "few4", "zerocells", "IAQ", "SAQ", "smoking"]
KEYS = ["estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "Q", "Q_p", "H2"]


def table(name):
    return ma.StudyTable.from_csv(FIX / "refs" / f"{name}.csv")


def uni(name, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ma.univariate(table(name), method=method)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["DL", "REML"])
def test_matches_metafor_rma(name, method):
    res = uni(name, method)
    for outcome in OUTCOMES:
        ref = UNI["data"][name]["univariate"][outcome][method]
        got = res[outcome]
        for key in KEYS:
            # abs: metafor stops at tau2 ~ 1e-12 where the maximum is at tau2 = 0
            assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-9), (outcome, key)
        # metafor's I2 is Higgins-Thompson from the fitted tau2, in percent; ours a proportion
        assert 100 * got["i2"] == pytest.approx(ref["I2"], rel=1e-6, abs=1e-9), outcome
        assert got["k"] == ref["k"]


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4"])
def test_dl_sens_fpr_match_reitsma_json_crosscheck(name):
    ref = json.loads((FIX / "refs" / f"{name}.reitsma.json").read_text())
    dl = ref["metafor"]["univariate_DL"]
    res = uni(name, "DL")
    s = res["logit_sens"]
    assert s["estimate"] == pytest.approx(dl["logit_sens"]["est_logit"], rel=1e-6)
    assert s["se"] == pytest.approx(dl["logit_sens"]["se_logit"], rel=1e-6)
    assert s["tau2"] == pytest.approx(dl["logit_sens"]["tau2"], rel=1e-6)
    assert s["Q"] == pytest.approx(dl["logit_sens"]["Q"], rel=1e-6)
    assert 100 * s["i2"] == pytest.approx(dl["logit_sens"]["I2_percent"], rel=1e-6)
    # with the DerSimonian-Laird tau2, Higgins-Thompson's I2 is (Q - df) / Q
    assert s["i2_cochran_q"] == pytest.approx(s["i2"], rel=1e-9)
    sp = res["logit_spec"]  # logit spec = -logit FPR
    assert sp["estimate"] == pytest.approx(-dl["logit_fpr"]["est_logit"], rel=1e-6)
    assert sp["tau2"] == pytest.approx(dl["logit_fpr"]["tau2"], rel=1e-6)
    assert [sp["value"], sp["value_ci_low"], sp["value_ci_high"]] == pytest.approx(
        [dl["specificity"]["est"], *dl["specificity"]["ci"]], rel=1e-6)


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4"])
@pytest.mark.parametrize("outcome,madtype", [("ln_dor", "DOR"), ("ln_lr_pos", "posLR"),
                                             ("ln_lr_neg", "negLR")])
def test_dl_matches_madauni_estimates(name, outcome, madtype):
    """madauni(method='DSL'): estimate, SE, CI and tau2 (its Q/I2 use other weights)."""
    ref = json.loads((FIX / "refs" / f"{name}.reitsma.json").read_text())["madauni_DSL"][madtype]
    got = uni(name, "DL")[outcome]
    assert got["estimate"] == pytest.approx(ref["ln_estimate"], rel=1e-6)
    assert got["se"] == pytest.approx(ref["se_ln"], rel=1e-6)
    assert got["tau2"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert [got["ci_low"], got["ci_high"]] == pytest.approx(ref["ln_ci"], rel=1e-6)
    assert got["value"] == pytest.approx(ref["estimate"], rel=1e-6)


def test_reml_tau2_is_the_maximum_and_zero_when_score_negative():
    y = np.array([0.1, 0.12, 0.09, 0.11])
    v = np.array([0.05, 0.04, 0.06, 0.05])
    assert tau2_reml(y, v) == 0.0  # no excess variation
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 20)
    v = rng.uniform(0.05, 0.2, 20)
    t = tau2_reml(y, v)
    r0 = pool(y, v, "REML")
    assert r0["tau2"] == t > 0


def test_to_dict_and_summary():
    res = uni("AuditC", "DL")
    d = res.to_dict()
    assert d["model"] == "univariate" and d["n_studies"] == 14
    assert set(d["outcomes"]) == set(OUTCOMES)
    assert list(res.summary().index) == list(OUTCOMES)
    assert "logit_sens" in res.format_summary()


def test_bad_method():
    with pytest.raises(ma.InputError, match="DL"):
        ma.univariate(table("AuditC"), method="PM")


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "skin_tests", "few4"])
def test_madauni_statistics_reproduce_mada_quirks(name):
    from metaanalysis.models.univariate import madauni_statistics

    ref = json.loads((FIX / "refs" / f"{name}.reitsma.json").read_text())["madauni_DSL"]
    got = madauni_statistics(table(name))
    for outcome, madtype in (("ln_dor", "DOR"), ("ln_lr_pos", "posLR"), ("ln_lr_neg", "negLR")):
        r, g = ref[madtype], got.loc[outcome]
        assert g["Q"] == pytest.approx(r["Q"], rel=1e-6)
        assert g["Q_p"] == pytest.approx(r["Q_p"], rel=1e-6)
        assert 100 * g["i2_cochran_q_re"] == pytest.approx(r["I2_percent"], rel=1e-6, abs=1e-12)
        assert g["tau2"] == pytest.approx(r["tau2"], rel=1e-6)
        # mada's uniroot stops at tol = eps^0.25 (about 1.2e-4)
        assert [g["tau2_ci_low"], g["tau2_ci_high"]] == pytest.approx(
            r["tau2_ci_qprofile"], rel=2e-4, abs=1e-12)


def test_to_dict_counts_are_whole_numbers():
    d = uni("AuditC", "DL").to_dict()
    for outcome in OUTCOMES:
        row = d["outcomes"][outcome]
        assert row["k"] == 14 and isinstance(row["k"], int)
        assert row["Q_df"] == 13 and isinstance(row["Q_df"], int)
        assert isinstance(row["tau2"], float)


def test_no_correction_with_zero_cell_names_the_study_and_cell():
    t = table("zerocells")
    first = int(np.flatnonzero((t.counts() == 0).any(axis=1))[0])
    cell = ("TP", "FP", "FN", "TN")[int(np.flatnonzero(t.counts()[first] == 0)[0])]
    with pytest.raises(ma.InputError,
                       match=rf"study '{t.studies[first]}' has a zero cell \({cell} = 0\)"):
        ma.univariate(t, correction="none")
