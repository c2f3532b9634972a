"""Weighted linear mixed model with one grouping factor, fitted by REML.

The model is ``y = X beta + Z b + e`` with ``b_i ~ N(0, sigma2 Lambda Lambda')``
independently for each group ``i`` and ``e_j ~ N(0, sigma2 / w_j)``, the
parametrisation of lme4 (Bates et al. 2015): ``theta`` holds the lower triangle of
the relative covariance factor ``Lambda`` (its diagonal bounded below by 0), and
``sigma2`` and ``beta`` are profiled out. The REML criterion and the log-likelihood
follow lme4's conventions exactly (the weights enter as the known part of the
residual variances, so ``logLik`` includes ``sum(log w) / 2``), so AIC, BIC and
the log-likelihood can be compared with ``lme4::lmer(..., weights = w)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["LmmFit", "fit_reml", "reml_deviance"]


@dataclass(frozen=True)
class LmmFit:
    """A REML fit of :func:`fit_reml`.

    Attributes
    ----------
    beta : numpy.ndarray
        Fixed effects.
    vcov : numpy.ndarray
        Their covariance, ``sigma2 (X' H^-1 X)^-1``.
    sigma2 : float
        Residual variance (for unit weight).
    psi : numpy.ndarray
        Covariance of the random effects, ``sigma2 Lambda Lambda'``.
    theta : numpy.ndarray
        The relative covariance factor at the optimum (lower triangle, row by row).
    deviance : float
        The REML criterion, ``-2 logLik``.
    loglik : float
        The REML log-likelihood (lme4's ``logLik(fit)``).
    n_params : int
        Fixed effects, covariance parameters and the residual variance (for AIC, BIC).
    nobs : int
        Number of observations.
    converged : bool
        Whether the optimiser met its criterion.
    singular : bool
        Whether a diagonal element of ``Lambda`` is at (or within 1e-4 of) zero,
        lme4's ``isSingular``: a variance is zero or a correlation is +-1.
    """

    beta: np.ndarray
    vcov: np.ndarray
    sigma2: float
    psi: np.ndarray
    theta: np.ndarray
    deviance: float
    loglik: float
    n_params: int
    nobs: int
    converged: bool
    singular: bool

    @property
    def aic(self) -> float:
        """Akaike's criterion from the REML log-likelihood (as lme4's ``AIC``)."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion from the REML log-likelihood (as lme4's ``BIC``)."""
        return -2.0 * self.loglik + math.log(self.nobs) * self.n_params


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    lam[np.tril_indices(q)] = theta
    return lam


def _pieces(theta: np.ndarray, y: np.ndarray, x: np.ndarray, groups: Sequence[np.ndarray],
            z: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Return log|H|, X'H^-1 X, X'H^-1 y and y'H^-1 y for ``H = Z Lambda Lambda' Z' + W^-1``."""
    q = z.shape[1]
    lam = _lambda(theta, q)
    p = x.shape[1]
    xhx = np.zeros((p, p))
    xhy = np.zeros(p)
    yhy = 0.0
    logdet = -float(np.sum(np.log(w)))
    eye = np.eye(q)
    for rows in groups:
        zi, xi, yi, wi = z[rows], x[rows], y[rows], w[rows]
        zl = zi @ lam                      # n_i x q
        wzl = zl * wi[:, None]             # W Z Lambda
        a = eye + zl.T @ wzl               # I + Lambda' Z' W Z Lambda
        c = np.linalg.cholesky(a)
        logdet += 2.0 * float(np.sum(np.log(np.diag(c))))
        # H^-1 = W - W Z L A^-1 L' Z' W
        u = np.linalg.solve(c, wzl.T)      # C^-1 L' Z' W   (q x n_i)
        ux, uy = u @ xi, u @ yi
        xhx += (xi * wi[:, None]).T @ xi - ux.T @ ux
        xhy += (xi * wi[:, None]).T @ yi - ux.T @ uy
        yhy += float(np.sum(wi * yi * yi) - uy @ uy)
    return logdet, xhx, xhy, yhy


def reml_deviance(theta: np.ndarray, y: np.ndarray, x: np.ndarray,
                  groups: Sequence[np.ndarray], z: np.ndarray, w: np.ndarray) -> float:
    """Return the profiled REML criterion ``-2 logLik_REML`` at ``theta``.

    Parameters
    ----------
    theta : numpy.ndarray
        Lower triangle of the relative covariance factor, row by row.
    y, x, z, w : numpy.ndarray
        Response, fixed-effects design, random-effects design (one row per
        observation) and the weights.
    groups : sequence of numpy.ndarray
        The row indices of each group.

    Returns
    -------
    float
        ``log|H| + log|X'H^-1X| + (n - p) (1 + log(2 pi rss / (n - p)))`` with
        ``H`` the marginal covariance over ``sigma2``.

    References
    ----------
    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software 67(1), 1-48.
    """
    n, p = x.shape
    logdet, xhx, xhy, yhy = _pieces(theta, y, x, groups, z, w)
    try:
        cx = np.linalg.cholesky(xhx)
    except np.linalg.LinAlgError:
        return math.inf
    b = np.linalg.solve(xhx, xhy)
    rss = yhy - float(b @ xhy)
    if not rss > 0:
        return math.inf
    df = n - p
    return (logdet + 2.0 * float(np.sum(np.log(np.diag(cx))))
            + df * (1.0 + math.log(2.0 * math.pi * rss / df)))


def fit_reml(y: np.ndarray, x: np.ndarray, z: np.ndarray, group: Sequence[object],
             w: np.ndarray | None = None) -> LmmFit:
    """Fit ``y = X beta + Z b + e`` by REML with a general random-effects covariance.

    Parameters
    ----------
    y : numpy.ndarray
        Response (n).
    x : numpy.ndarray
        Fixed-effects design (n x p), full column rank.
    z : numpy.ndarray
        Random-effects design (n x q); the same q effects for every group,
        with an unstructured q x q covariance.
    group : sequence
        The group of each observation.
    w : numpy.ndarray, optional
        Prior weights (residual variance ``sigma2 / w``); default 1.

    Returns
    -------
    LmmFit

    Notes
    -----
    The criterion is minimised over ``theta`` from lme4's start (``Lambda = I``)
    by L-BFGS-B with the diagonal of ``Lambda`` bounded below by 0, then
    polished from the best point with a second run; ``converged`` is False when
    either run stops on its iteration limit.

    References
    ----------
    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software 67(1), 1-48.
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    n, p = x.shape
    q = z.shape[1]
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    labels = list(group)
    index: dict[object, list[int]] = {}
    for j, g in enumerate(labels):
        index.setdefault(g, []).append(j)
    groups = [np.asarray(r) for r in index.values()]
    rows, cols = np.tril_indices(q)
    diag = rows == cols
    bounds = [(0.0, None) if d else (None, None) for d in diag]
    start = np.where(diag, 1.0, 0.0)

    def crit(t: np.ndarray) -> float:
        return reml_deviance(t, y, x, groups, z, w)

    converged = True
    best = start
    for _ in range(2):
        res = optimize.minimize(crit, best, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000,
                                         "eps": 1e-7})
        if res.nit >= 2000:
            converged = False
        if res.fun <= crit(best):
            best = np.asarray(res.x)
    # a derivative-free polish: L-BFGS-B's finite differences stall near a flat optimum
    res = optimize.minimize(crit, best, method="Powell", bounds=bounds,
                            options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000})
    if res.fun <= crit(best):
        best = np.asarray(res.x)
    theta = best
    logdet, xhx, xhy, yhy = _pieces(theta, y, x, groups, z, w)
    beta = np.linalg.solve(xhx, xhy)
    df = n - p
    sigma2 = (yhy - float(beta @ xhy)) / df
    vcov = sigma2 * np.linalg.inv(xhx)
    lam = _lambda(theta, q)
    psi = sigma2 * lam @ lam.T
    dev = crit(theta)
    # lme4: -2 logLik = criterion; the weights enter log|H| above
    loglik = -0.5 * dev
    singular = bool(np.any(np.abs(theta[diag]) < 1e-4))
    return LmmFit(beta=beta, vcov=vcov, sigma2=float(sigma2), psi=psi, theta=theta,
                  deviance=float(dev), loglik=float(loglik),
                  n_params=p + len(theta) + 1, nobs=n, converged=converged,
                  singular=singular)
