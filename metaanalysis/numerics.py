"""The few special functions the pooled fit and its derived quantities need, on numpy alone.

The logistic function and its inverse, the log of the logistic function, the
standard normal quantile and the chi-squared quantile with 2 degrees of
freedom. Written here so that fitting and printing a pooled table
(``metaanalysis pool``) does not import SciPy, whose import costs more than the
fit; the models that need an optimiser or a quadrature import SciPy themselves.

Examples
--------
>>> round(normal_quantile(0.975), 12)
1.95996398454
>>> round(chi2_quantile_2df(0.95), 12)
5.991464547108
>>> [round(float(v), 6) for v in expit(np.array([-1.0, 0.0, 40.0]))]
[0.268941, 0.5, 1.0]
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["chi2_quantile_2df", "expit", "log_expit", "logit", "normal_quantile"]

_STANDARD_NORMAL = NormalDist()


def expit(x: ArrayLike) -> np.ndarray:
    """Return the logistic function ``1 / (1 + exp(-x))``, without overflow for any ``x``.

    Parameters
    ----------
    x : array_like
        Values on the logit scale.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x`` (a 0-d array for a scalar); NaN stays NaN.
    """
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_expit(x: ArrayLike) -> np.ndarray:
    """Return ``log(expit(x)) = -log(1 + exp(-x))``, accurate in both tails.

    Parameters
    ----------
    x : array_like
        Values on the logit scale.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    x = np.asarray(x, dtype=float)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def logit(p: ArrayLike) -> np.ndarray:
    """Return ``log(p / (1 - p))``: minus infinity at 0, infinity at 1, NaN outside [0, 1].

    Parameters
    ----------
    p : array_like
        Proportions.

    Returns
    -------
    numpy.ndarray
        Same shape as ``p``.
    """
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p / (1.0 - p))


def normal_quantile(p: float) -> float:
    """Return the quantile of the standard normal distribution (``qnorm(p)``).

    Parameters
    ----------
    p : float
        Probability in (0, 1).

    Returns
    -------
    float
        ``z`` with ``P(Z <= z) = p``; infinite at 0 and 1, NaN outside [0, 1]
        (as ``qnorm``).

    References
    ----------
    .. [1] Wichura MJ. Algorithm AS 241: the percentage points of the normal
       distribution. Applied Statistics 1988;37:477-484.
    """
    p = float(p)
    if 0.0 < p < 1.0:
        return _STANDARD_NORMAL.inv_cdf(p)
    if p in (0.0, 1.0):
        return math.copysign(math.inf, p - 0.5)
    return math.nan


def chi2_quantile_2df(p: float) -> float:
    """Return the quantile of the chi-squared distribution with 2 df (``qchisq(p, 2)``).

    With 2 degrees of freedom the distribution is exponential with mean 2, so
    the quantile is ``-2 log(1 - p)``.

    Parameters
    ----------
    p : float
        Probability in [0, 1).

    Returns
    -------
    float
        The quantile: infinite at ``p = 1``, NaN outside [0, 1] (as ``qchisq``).
    """
    p = float(p)
    if p == 1.0:
        return math.inf
    if not 0.0 <= p < 1.0:
        return math.nan
    return -2.0 * math.log1p(-p)
