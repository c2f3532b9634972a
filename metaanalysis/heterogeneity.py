"""Heterogeneity summaries of a bivariate fit: I2 per outcome and a bivariate I2.

The "typical" within-study variance of an outcome is Higgins and Thompson's
``s2 = (k-1) sum w / ((sum w)^2 - sum w^2)`` with ``w = 1/v`` (as metafor's
``rma`` uses for its I2). From the fitted between-study covariance ``Psi``:

- ``logit_sens``, ``logit_fpr``: ``I2_j = Psi_jj / (Psi_jj + s2_j)``;
- ``bivariate``: the generalised-variance ratio
  ``sqrt|Psi| / (sqrt|Psi| + sqrt|S|)`` with ``S = diag(s2_1, s2_2)``, the
  square roots of the determinants playing the part of the variances in
  the univariate I2 (it accounts for the correlation of the random effects,
  and equals the univariate I2 when both outcomes agree and rho = 0).

These are not mada's ``summary()$i2`` values ("Zhou", "Holling..."), which
are computed differently.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis.table import StudyTable


def typical_within_variance(v: ArrayLike) -> float:
    """Higgins and Thompson's typical within-study variance of one outcome.

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    """
    w = 1.0 / np.asarray(v, dtype=float)
    k = len(w)
    return float((k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w * w)))


def bivariate_i2(table: StudyTable, psi: ArrayLike, correction: str = "all") -> dict[str, float]:
    """I2 of logit sensitivity, logit FPR, and the bivariate generalised I2.

    Parameters
    ----------
    table : StudyTable
        The studies (their within-study variances on the logit scale).
    psi : array_like
        (2, 2) fitted between-study covariance of (logit sens, logit FPR).
    correction : {"all", "single"}
        Continuity correction for the within-study variances.

    Returns
    -------
    dict
        ``logit_sens``, ``logit_fpr``, ``bivariate`` (proportions in [0, 1]).

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    .. [2] Jackson D, White IR, Riley RD. Quantifying the impact of
       between-study heterogeneity in multivariate meta-analyses. Stat Med
       2012;31:3805-3820.
    """
    psi = np.asarray(psi, dtype=float)
    tp, fp, fn, tn = table.corrected(correction)
    s1 = typical_within_variance(1.0 / tp + 1.0 / fn)
    s2 = typical_within_variance(1.0 / fp + 1.0 / tn)
    det = max(float(np.linalg.det(psi)), 0.0)
    root = math.sqrt(det)
    return {
        "logit_sens": float(psi[0, 0] / (psi[0, 0] + s1)),
        "logit_fpr": float(psi[1, 1] / (psi[1, 1] + s2)),
        "bivariate": root / (root + math.sqrt(s1 * s2)),
    }
