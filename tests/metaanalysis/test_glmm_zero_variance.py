"""GLMM fits whose between-study variances are 0: no correlation, HSROC or AUC from noise.

Reference: by construction. With both variances 0 (the fit's own warning says so) the
random-effects covariance is the zero matrix, whose correlation is undefined; the HSROC
parameters Theta, Lambda, beta and the SROC's AUC need both variances (Harbord et al.
2007), so they are undefined as well: NaN in Python and null in the strict JSON, as for
the normal model.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

import metaanalysis as ma
from metaanalysis.errors import FitWarning
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal

FIX = Path(__file__).parents[1] / "fixtures"


def _glmm(path: Path) -> ma.BivariateResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return ma.glmm(ma.StudyTable.from_csv(path))


def test_both_variances_zero_leave_rho_hsroc_and_auc_undefined() -> None:
    res = _glmm(FIX / "glmm_rho_zero_variance.csv")
    assert res.warning_codes[0] == "zero_variance"
    assert "variance of logit specificity is 0" in res.warnings[0]  # both named
    assert res.tau2 == (0.0, 0.0)
    assert math.isnan(res.rho)
    assert math.isnan(res.auc)
    hs = res.hsroc
    assert all(math.isnan(hs[k]) for k in ("Theta", "Lambda", "beta"))
    assert hs["sigma2theta"] == 0.0 and hs["sigma2alpha"] == 0.0     # defined: Psi = 0
    assert math.isnan(res.extra["rho_sens_spec"])
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["rho_sens_fpr"] is None and d["auc"] is None
    assert d["hsroc"]["Theta"] is None and d["hsroc"]["beta"] is None
    # the pooled estimates are still those of the fit
    assert 0.0 < res.sensitivity.estimate < 1.0


def test_one_variance_zero_leaves_rho_undefined() -> None:
    """A table whose sensitivities are identical (no between-study spread) beside heterogeneous
    specificities: the sensitivity variance is at 0, so the correlation is undefined."""
    tp = np.array([40, 40, 40, 40, 40, 40])
    fn = np.array([10, 10, 10, 10, 10, 10])
    tn = np.array([90, 60, 95, 70, 85, 50])
    fp = np.array([10, 40, 5, 30, 15, 50])
    import pandas as pd

    t = ma.StudyTable(pd.DataFrame({"study": [f"s{i}" for i in range(6)], "TP": tp, "FP": fp,
                                    "FN": fn, "TN": tn}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fit = fit_binomial_normal(binomial_data(t))
        res = ma.glmm(t)
    assert fit.singular and fit.theta[0] == 0.0
    assert res.tau2[0] == 0.0 and res.tau2[1] > 0.1
    assert math.isnan(res.rho) and math.isnan(fit.rho)
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["rho_sens_fpr"] is None
