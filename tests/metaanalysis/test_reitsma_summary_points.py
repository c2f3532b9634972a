"""LR+, LR-, DOR: Monte Carlo against mada::SummaryPts (1e-2), delta method by hand."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from metaanalysis.summary_points import summary_points_delta, summary_points_mc

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

REFS = Path(__file__).parents[1] / "fixtures" / "refs"


@pytest.mark.parametrize("name", ["AuditC", "skin_tests"])
def test_monte_carlo_matches_mada_summarypts(name):
    r = json.loads((REFS / f"{name}.reitsma.json").read_text())["reml"]
    mu = [r["mu_logit_sens"], r["mu_logit_fpr"]]
    got = summary_points_mc(mu, r["vcov"], n_draws=400_000, seed=1)
    ref = r["summary_points_mc"]
    for key in ("posLR", "negLR", "invnegLR", "DOR"):
        for ours, theirs in (("mean", "mean"), ("median", "median"), ("q_low", "q025"),
                             ("q_high", "q975")):
            assert got[key][ours] == pytest.approx(ref[key][theirs], rel=1e-2), (key, ours)


def test_delta_method_by_hand():
    mu = np.array([1.2, -0.8])
    V = np.array([[0.04, 0.01], [0.01, 0.03]])
    got = summary_points_delta(mu, V)
    s, f = expit(mu)
    # LR+ = s/f; d log LR+ / d mu = (1 - s, -(1 - f))
    g = np.array([1 - s, -(1 - f)])
    se = math.sqrt(g @ V @ g)
    z = 1.959963984540054
    assert got["lr_positive"].estimate == pytest.approx(s / f, rel=1e-12)
    assert got["lr_positive"].ci_low == pytest.approx(s / f * math.exp(-z * se), rel=1e-9)
    g = np.array([-s, f])
    se = math.sqrt(g @ V @ g)
    assert got["lr_negative"].ci_high == pytest.approx((1 - s) / (1 - f) * math.exp(z * se),
                                                       rel=1e-9)
    se = math.sqrt(0.04 + 0.03 - 2 * 0.01)
    assert got["dor"].estimate == pytest.approx(math.exp(2.0), rel=1e-12)
    assert got["dor"].ci_high == pytest.approx(math.exp(2.0 + z * se), rel=1e-9)


def test_delta_interval_close_to_monte_carlo_quantiles():
    r = json.loads((REFS / "AuditC.reitsma.json").read_text())["reml"]
    mu = [r["mu_logit_sens"], r["mu_logit_fpr"]]
    d = summary_points_delta(mu, r["vcov"])
    mc = r["summary_points_mc"]
    assert d["dor"].ci_low == pytest.approx(mc["DOR"]["q025"], rel=0.02)
    assert d["dor"].ci_high == pytest.approx(mc["DOR"]["q975"], rel=0.02)
