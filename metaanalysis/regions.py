"""Confidence and prediction ellipses around a bivariate summary point."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis.numerics import chi2_quantile_2df, expit

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def ellipse_points(sigma: ArrayLike, centre: ArrayLike, level: float = 0.95,
                   n: int = 100) -> np.ndarray:
    """Points on the ``level`` ellipse of a bivariate normal distribution.

    The construction of the R package ``ellipse`` (``ellipse.default``):
    ``t = sqrt(qchisq(level, 2))``, ``d = acos(r)``, ``a`` from 0 to 2 pi in
    ``n`` steps, ``x = c1 + t s1 cos(a + d/2)``, ``y = c2 + t s2 cos(a - d/2)``.

    Parameters
    ----------
    sigma : array_like
        (2, 2) covariance matrix.
    centre : array_like
        (2,) centre.
    level : float
        Coverage of the ellipse.
    n : int
        Number of points (the first and last coincide).

    Returns
    -------
    numpy.ndarray
        (n, 2) points.

    References
    ----------
    .. [1] Murdoch DJ, Chow ED. A graphical display of large correlation
       matrices. The American Statistician 1996;50:178-180.
    """
    sigma = np.asarray(sigma, dtype=float)
    centre = np.asarray(centre, dtype=float)
    s = np.sqrt(np.diag(sigma))
    r = sigma[0, 1] / (s[0] * s[1]) if s[0] > 0 and s[1] > 0 else 0.0
    d = math.acos(float(np.clip(r, -1.0, 1.0)))
    t = math.sqrt(chi2_quantile_2df(level))
    a = np.linspace(0.0, 2.0 * math.pi, n)
    return np.column_stack([centre[0] + t * s[0] * np.cos(a + d / 2.0),
                            centre[1] + t * s[1] * np.cos(a - d / 2.0)])


def region_frame(sigma: ArrayLike, mu: ArrayLike, level: float = 0.95,
                 n: int = 100) -> pd.DataFrame:
    """Compute an ellipse on (logit sens, logit FPR) with its back-transformed points.

    Returns
    -------
    pandas.DataFrame
        Columns ``fpr, sens, logit_fpr, logit_sens`` (``n`` rows).
    """
    import pandas as pd

    pts = ellipse_points(sigma, mu, level, n)
    return pd.DataFrame({"fpr": expit(pts[:, 1]), "sens": expit(pts[:, 0]),
                         "logit_fpr": pts[:, 1], "logit_sens": pts[:, 0]})


def confidence_region(mu: ArrayLike, vcov: ArrayLike, level: float = 0.95,
                      n: int = 100) -> pd.DataFrame:
    """Confidence region of the summary point: the ellipse of ``vcov(mu)``."""
    return region_frame(vcov, mu, level, n)


def prediction_region(mu: ArrayLike, vcov: ArrayLike, psi: ArrayLike, level: float = 0.95,
                      n: int = 100) -> pd.DataFrame:
    """Prediction region for a new study: the ellipse of ``Psi + vcov(mu)``."""
    return region_frame(np.asarray(psi, dtype=float) + np.asarray(vcov, dtype=float),
                        mu, level, n)
