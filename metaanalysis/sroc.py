"""HSROC parameters, the SROC curve and the area under it, from a bivariate fit.

The bivariate normal model on ``(logit sens, logit FPR)`` with mean ``mu`` and
between-study covariance ``Psi`` is equivalent to the hierarchical SROC model
of Rutter and Gatsonis; Harbord et al. (2007) give the mapping used here.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis.numerics import expit, logit

#: SROC types: ``"ruttergatsonis"`` (slope ``s1/s2``, mada's default) or
#: ``"naive"`` (slope ``Psi12/Psi22``, the regression of logit sens on logit FPR).
SROC_TYPES: tuple[str, ...] = ("ruttergatsonis", "naive")


def hsroc_parameters(mu: ArrayLike, psi: ArrayLike) -> dict[str, float]:
    """HSROC parameters (Theta, Lambda, beta, sigma2theta, sigma2alpha).

    Parameters
    ----------
    mu : array_like
        (2,) pooled (logit sens, logit FPR).
    psi : array_like
        (2, 2) between-study covariance of (logit sens, logit FPR).

    Returns
    -------
    dict
        ``Theta``, ``Lambda``, ``beta``, ``sigma2theta``, ``sigma2alpha``; NaN
        where a between-study variance is zero (the mapping divides by it).

    References
    ----------
    .. [1] Harbord RM, Deeks JJ, Egger M, Whiting P, Sterne JAC. A unification
       of models for meta-analysis of diagnostic accuracy studies.
       Biostatistics 2007;8:239-251.
    """
    mu = np.asarray(mu, dtype=float)
    psi = np.asarray(psi, dtype=float)
    s1 = math.sqrt(max(psi[0, 0], 0.0))
    s2 = math.sqrt(max(psi[1, 1], 0.0))
    c = float(psi[0, 1])
    if s1 <= 0 or s2 <= 0:
        nan = float("nan")
        return {"Theta": nan, "Lambda": nan, "beta": nan,
                "sigma2theta": 0.5 * (s1 * s2 + c), "sigma2alpha": 2.0 * (s1 * s2 - c)}
    r = math.sqrt(s2 / s1)
    return {
        "Theta": 0.5 * (r * mu[0] + mu[1] / r),
        "Lambda": r * mu[0] - mu[1] / r,
        "beta": math.log(s2 / s1),
        "sigma2theta": 0.5 * (s1 * s2 + c),
        "sigma2alpha": 2.0 * (s1 * s2 - c),
    }


def sroc_slope(psi: ArrayLike, type: str = "ruttergatsonis") -> float:
    """Slope of the SROC line on the logit scale (d logit sens / d logit FPR)."""
    psi = np.asarray(psi, dtype=float)
    if type == "ruttergatsonis":
        return math.sqrt(psi[0, 0] / psi[1, 1]) if psi[1, 1] > 0 else float("nan")
    if type == "naive":
        return psi[0, 1] / psi[1, 1] if psi[1, 1] > 0 else float("nan")
    raise ValueError(f"unknown SROC type {type!r}; use one of {SROC_TYPES}")


def sroc_curve(mu: ArrayLike, psi: ArrayLike, fpr: ArrayLike,
               type: str = "ruttergatsonis") -> np.ndarray:
    """Sensitivity on the SROC curve at the given false positive rates.

    ``logit sens = mu1 + slope * (logit fpr - mu2)``; with the Rutter-Gatsonis
    slope ``s1/s2`` this is ``expit(Lambda e^(-beta/2) + e^(-beta) logit fpr)``.

    References
    ----------
    .. [1] Harbord RM, Deeks JJ, Egger M, Whiting P, Sterne JAC. A unification
       of models for meta-analysis of diagnostic accuracy studies.
       Biostatistics 2007;8:239-251.
    .. [2] Rutter CM, Gatsonis CA. A hierarchical regression approach to
       meta-analysis of diagnostic test accuracy evaluations. Stat Med
       2001;20:2865-2884.
    """
    mu = np.asarray(mu, dtype=float)
    slope = sroc_slope(psi, type)
    f = np.asarray(fpr, dtype=float)
    return _curve(mu, slope, logit(f))


def _curve(mu: np.ndarray, slope: float, logit_fpr: np.ndarray) -> np.ndarray:
    """Sensitivity on the SROC line of ``slope`` through ``mu`` at the given logit FPRs."""
    return expit(mu[0] + slope * (logit_fpr - mu[1]))


def _read_only(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


#: logit of mada's AUC grid, FPR = 0.01, ..., 0.99 (the same for every fit).
_AUC_LOGIT_FPR = _read_only(logit(np.arange(1, 100) / 100.0))


def _trapezoid_99(s: np.ndarray) -> float:
    # mada: (s_1/2 + s_2 + ... + s_98 + s_99/2) / 99 over 99 equally spaced points (the
    # inner sum by np.add.reduce, which is what ndarray.sum calls, without its wrapper)
    return float((0.5 * s[0] + np.add.reduce(s[1:-1]) + 0.5 * s[-1]) / 99.0)


def auc_mada(mu: ArrayLike, psi: ArrayLike, type: str = "ruttergatsonis") -> float:
    """Area under the SROC curve as mada's ``AUC`` computes it.

    The curve is evaluated at FPR = 0.01, ..., 0.99 and summed with the
    trapezoid weights (1/2, 1, ..., 1, 1/2), divided by 99 (no extrapolation
    to 0 or 1). See :func:`auc_exact` for the integral.
    """
    return _trapezoid_99(_curve(np.asarray(mu, dtype=float), sroc_slope(psi, type),
                                _AUC_LOGIT_FPR))


def pauc_mada(mu: ArrayLike, psi: ArrayLike, observed_fpr: ArrayLike,
              type: str = "ruttergatsonis") -> float:
    """Partial AUC as mada computes it, over the observed FPR range.

    99 equally spaced FPRs from ``max(0.01, min observed)`` to
    ``min(0.99, max observed)`` with the same weights as :func:`auc_mada`.
    """
    f = np.asarray(observed_fpr, dtype=float)
    lo = max(0.01, float(np.minimum.reduce(f)))
    hi = min(0.99, float(np.maximum.reduce(f)))
    grid = np.linspace(lo, hi, 99)
    if not 0.0 < lo <= hi < 1.0:  # NaN rates: the general path with its checks
        return _trapezoid_99(sroc_curve(mu, psi, grid, type))
    # sroc_curve on a grid inside (0, 1): its logit needs no guard against 0 or 1
    return _trapezoid_99(_curve(np.asarray(mu, dtype=float), sroc_slope(psi, type),
                                np.log(grid / (1.0 - grid))))


#: Largest ``|slope|`` integrated by the trapezoid rule in :func:`auc_exact`; a steeper
#: curve (a near-step) is left to adaptive quadrature.
_TRAPEZOID_MAX_SLOPE = 20.0


def _auc_trapezoid(mu0: float, mu1: float, slope: float) -> float:
    """Integrate the SROC curve over FPR in (0, 1) by the trapezoid rule on the logit scale.

    With ``x = expit(t)`` the area is the integral over the real line of
    ``expit(mu0 + slope (t - mu1)) expit(t) expit(-t)``, an analytic function
    in the strip ``|Im t| < pi / max(1, |slope|)`` that decays like
    ``exp(-|t|)``. The trapezoid rule with step ``h`` then errs by about
    ``exp(-2 pi d / h)`` (Trefethen and Weideman 2014): with
    ``h = 0.05 / max(1, |slope|)`` that is far below double precision, and the
    range ``|t| <= 40`` drops less than ``1e-17``.

    References
    ----------
    .. [1] Trefethen LN, Weideman JAC. The exponentially convergent trapezoidal
       rule. SIAM Review 2014;56:385-458.
    """
    h = 0.05 / max(1.0, abs(slope))
    t, x, x_c = _BASE_GRID if h == _BASE_STEP else _logistic_grid(h)
    g = expit(mu0 + slope * (t - mu1)) * x * x_c
    return float(h * np.add.reduce(g))  # g.sum() without its wrapper


def _logistic_grid(h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``t`` of :func:`_auc_trapezoid` with step ``h``, ``expit(t)`` and ``1 - expit(t)``."""
    n = int(math.ceil(40.0 / h))
    t = np.arange(-n, n + 1) * h
    x = expit(t)
    return t, x, 1.0 - x


#: The step of :func:`_auc_trapezoid` for every SROC slope up to 1 in size, and its
#: grid, computed once (read-only).
_BASE_STEP = 0.05
_BASE_GRID = _logistic_grid(_BASE_STEP)
for _a in _BASE_GRID:
    _read_only(_a)


def auc_exact(mu: ArrayLike, psi: ArrayLike, type: str = "ruttergatsonis",
              lower: float = 0.0, upper: float = 1.0) -> float:
    """Integrate the SROC curve over FPR in ``[lower, upper]``.

    With the default bounds this is the AUC; divide by ``upper - lower`` for
    a normalised partial AUC. The whole range is integrated by the trapezoid
    rule on the logit scale (exponentially convergent for this analytic
    integrand); partial ranges and near-vertical curves by adaptive quadrature
    (SciPy's ``quad``).
    """
    mu = np.asarray(mu, dtype=float)
    slope = sroc_slope(psi, type)
    if not np.isfinite(slope):
        return float("nan")
    m0, m1 = float(mu[0]), float(mu[1])
    if (lower, upper) == (0.0, 1.0) and abs(slope) <= _TRAPEZOID_MAX_SLOPE \
            and math.isfinite(m0) and math.isfinite(m1):
        return _auc_trapezoid(m0, m1, float(slope))
    from scipy import integrate

    def f(x: float) -> float:
        if x <= 0.0:
            return 0.0 if slope > 0 else (1.0 if slope < 0 else float(expit(mu[0])))
        if x >= 1.0:
            return 1.0 if slope > 0 else (0.0 if slope < 0 else float(expit(mu[0])))
        return float(expit(mu[0] + slope * (math.log(x / (1.0 - x)) - mu[1])))

    val, _ = integrate.quad(f, lower, upper, epsabs=1e-12, epsrel=1e-10, limit=200)
    return float(val)
