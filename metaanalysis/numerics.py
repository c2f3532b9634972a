"""The few special functions the pooled fit and its derived quantities need, on numpy alone.

The logistic function and its inverse, the log of the logistic function, the
log-gamma function, ``x log y``, the standard normal quantile and the
chi-squared quantile with 2 degrees of freedom. Written here so that fitting
and printing a pooled table (``metaanalysis pool``, the normal model or the
GLMM) does not import SciPy, whose import costs more than the fit; the models
that need SciPy's optimisers or distributions import it themselves.

Examples
--------
>>> round(normal_quantile(0.975), 12)
1.95996398454
>>> round(chi2_quantile_2df(0.95), 12)
5.991464547108
>>> [round(float(v), 6) for v in expit(np.array([-1.0, 0.0, 40.0]))]
[0.268941, 0.5, 1.0]
>>> [round(float(v), 12) for v in gammaln(np.array([1.0, 5.0, 0.5]))]
[0.0, 3.178053830348, 0.572364942925]
>>> [float(v) for v in xlogy(np.array([0.0, 2.0]), np.array([0.0, np.e]))]
[0.0, 2.0]
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["chi2_quantile_2df", "expit", "gammaln", "log_expit", "logit", "max_abs",
           "normal_quantile", "xlogy"]

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


def gammaln(x: ArrayLike) -> np.ndarray:
    """Return ``log |Gamma(x)|`` elementwise (SciPy's ``gammaln``, R's ``lgamma``).

    Parameters
    ----------
    x : array_like
        Arguments; the binomial coefficients need it at ``n + 1``, ``y + 1`` and
        ``n - y + 1`` for counts, a few hundred values at most.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; infinite at the poles (0, -1, ...).
    """
    x = np.asarray(x, dtype=float)
    out = np.empty(x.shape)
    flat = out.reshape(-1)
    for i, v in enumerate(x.reshape(-1).tolist()):
        try:
            flat[i] = math.lgamma(v)
        except ValueError:          # a pole
            flat[i] = math.inf
    return out


def xlogy(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Return ``x * log(y)``, taken as 0 where ``x == 0`` (SciPy's ``xlogy``).

    Parameters
    ----------
    x, y : array_like
        Broadcast together.

    Returns
    -------
    numpy.ndarray
        ``x log y``; 0 where ``x`` is 0 whatever ``y`` is (the convention of
        the binomial deviance, ``0 log 0 = 0``).
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0.0, 0.0, x * np.log(y))


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


def max_abs(values: np.ndarray) -> float:
    """Return ``max |v_j|`` of a short vector, NaN if any entry is NaN (as ``np.max``).

    For the optimisers' convergence tests on three to seven entries, where a
    Python loop over the values costs less than the numpy calls.

    Parameters
    ----------
    values : numpy.ndarray
        A non-empty 1-d array.

    Returns
    -------
    float

    Examples
    --------
    >>> max_abs(np.array([0.5, -2.0, 1.0]))
    2.0
    >>> max_abs(np.array([1e-9, np.nan]))
    nan
    """
    lst = values.tolist()
    if any(v != v for v in lst):
        return math.nan
    return float(max(map(abs, lst)))
