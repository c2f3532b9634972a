"""SROC curve, HSROC parameters and AUC: hand-computed cases (mada's values are
checked in test_reitsma_refs.py)."""

import math

import numpy as np
import pytest
from scipy.special import expit, logit

from metaanalysis.sroc import auc_exact, auc_mada, hsroc_parameters, pauc_mada, sroc_curve

pytestmark = pytest.mark.rref  # compares numbers with R output in tests/fixtures


def test_hsroc_hand_computed():
    # s1 = s2 = 1, c = 0.5: beta = 0, Lambda = mu1 - mu2, Theta = (mu1 + mu2) / 2
    h = hsroc_parameters([1.0, -1.5], [[1.0, 0.5], [0.5, 1.0]])
    assert h["beta"] == 0.0
    assert h["Lambda"] == pytest.approx(2.5)
    assert h["Theta"] == pytest.approx(-0.25)
    assert h["sigma2theta"] == pytest.approx(0.75)
    assert h["sigma2alpha"] == pytest.approx(1.0)
    # s1 = 2, s2 = 1: beta = log(1/2)
    h = hsroc_parameters([0.0, 0.0], [[4.0, 0.0], [0.0, 1.0]])
    assert h["beta"] == pytest.approx(math.log(0.5))


def test_curve_passes_through_summary_point_with_rg_slope():
    mu = np.array([1.3, -0.7])
    psi = np.array([[0.9, 0.2], [0.2, 0.4]])
    assert sroc_curve(mu, psi, expit(mu[1])) == pytest.approx(expit(mu[0]))
    f = np.array([0.1, 0.3])
    slope = math.sqrt(0.9 / 0.4)
    np.testing.assert_allclose(sroc_curve(mu, psi, f), expit(mu[0] + slope * (logit(f) - mu[1])))
    np.testing.assert_allclose(sroc_curve(mu, psi, f, type="naive"),
                               expit(mu[0] + 0.5 * (logit(f) - mu[1])))


def test_exact_auc_closed_form_for_unit_slope():
    # slope 1: sens = e^D f / (1 + (e^D - 1) f); AUC = e^D/(e^D-1) (1 - D/(e^D-1))
    for d in (0.5, 2.0, 4.0):
        e = math.exp(d)
        want = e / (e - 1) * (1 - d / (e - 1))
        assert auc_exact([d, 0.0], np.eye(2)) == pytest.approx(want, rel=1e-9)
    assert auc_exact([0.3, 0.3], np.eye(2)) == pytest.approx(0.5, rel=1e-9)


def test_mada_auc_is_the_99_point_rule():
    mu, psi = [2.0, -1.0], [[1.0, 0.3], [0.3, 0.5]]
    s = sroc_curve(mu, psi, np.arange(1, 100) / 100)
    assert auc_mada(mu, psi) == pytest.approx((s[0] / 2 + s[1:98].sum() + s[98] / 2) / 99)
    f = np.linspace(0.05, 0.4, 99)
    s = sroc_curve(mu, psi, f)
    want = (s[0] / 2 + s[1:98].sum() + s[98] / 2) / 99
    assert pauc_mada(mu, psi, [0.2, 0.05, 0.4]) == pytest.approx(want)
    # the observed range is clipped to [0.01, 0.99]
    assert pauc_mada(mu, psi, [0.0, 1.0]) == pytest.approx(auc_mada(mu, psi))
