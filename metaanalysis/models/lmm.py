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

__all__ = ["LmmFit", "fit_reml", "reml_deviance", "reml_gradient"]


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


class _Groups:
    """The per-group cross-products that do not depend on ``theta``.

    With ``W`` the weights, every quantity of the REML criterion and its gradient
    is a function of ``Z_i' W Z_i, Z_i' W X_i, Z_i' W y_i`` (q-sized, one per
    group) and the totals ``X' W X, X' W y, y' W y``, so an evaluation costs
    a few batched q x q operations whatever the size of the groups.
    """

    def __init__(self, y: np.ndarray, x: np.ndarray, groups: Sequence[np.ndarray],
                 z: np.ndarray, w: np.ndarray) -> None:
        self.n, self.p = x.shape
        self.q = z.shape[1]
        self.zwz = np.stack([(z[r] * w[r, None]).T @ z[r] for r in groups])
        self.zwx = np.stack([(z[r] * w[r, None]).T @ x[r] for r in groups])
        self.zwy = np.stack([(z[r] * w[r, None]).T @ y[r] for r in groups])
        self.xwx = (x * w[:, None]).T @ x
        self.xwy = (x * w[:, None]).T @ y
        self.ywy = float(np.sum(w * y * y))
        self.logw = float(np.sum(np.log(w)))


def _evaluate(theta: np.ndarray, g: _Groups, grad: bool
              ) -> tuple[float, np.ndarray | None, tuple[float, np.ndarray, np.ndarray, float]]:
    """Return the REML criterion, its gradient (if asked) and the terms of the fit.

    The terms are ``log|H|, X'H^-1X, X'H^-1y, y'H^-1y``.

    ``H = Z Lambda Lambda' Z' + W^-1`` is block diagonal; by Woodbury
    ``H_i^-1 = W_i - W_i Z_i Lambda A_i^-1 Lambda' Z_i' W_i`` with
    ``A_i = I + Lambda' Z_i' W_i Z_i Lambda = C_i C_i'`` and
    ``log|H| = sum log|A_i| - sum log w``. With ``P = H^-1 - H^-1 X (X'H^-1X)^-1 X'H^-1``,
    ``dH / d theta_k = Z (E_k Lambda' + Lambda E_k') Z'`` (``E_k`` the unit matrix of
    ``theta_k``'s position), ``d(log|H| + log|X'H^-1X|) = tr(P dH)`` and
    ``d rss = -(Py)' dH (Py)``, so the gradient is ``2 [(S - (n - p) T / rss) Lambda]``
    at ``theta_k``'s position, with ``S = sum Z_i' P_ii Z_i`` and
    ``T = sum Z_i'(Py)_i (Py)_i' Z_i``.
    """
    q, n, p = g.q, g.n, g.p
    lam = _lambda(theta, q)
    lzwz = np.einsum("ji,gjk->gik", lam, g.zwz)            # Lambda' Z'WZ
    a = np.eye(q) + lzwz @ lam
    c = np.linalg.cholesky(a)
    logdet = 2.0 * float(np.sum(np.log(np.diagonal(c, axis1=1, axis2=2)))) - g.logw
    uz = np.linalg.solve(c, lzwz)                           # C^-1 Lambda' Z'WZ
    ux = np.linalg.solve(c, np.einsum("ji,gjk->gik", lam, g.zwx))
    uy = np.linalg.solve(c, np.einsum("ji,gj->gi", lam, g.zwy)[..., None])[..., 0]
    xhx = g.xwx - np.einsum("gki,gkj->ij", ux, ux)
    xhy = g.xwy - np.einsum("gki,gk->i", ux, uy)
    yhy = g.ywy - float(np.sum(uy * uy))
    pieces = (logdet, xhx, xhy, yhy)
    try:
        cx = np.linalg.cholesky(xhx)
    except np.linalg.LinAlgError:
        return math.inf, None, pieces
    beta = np.linalg.solve(xhx, xhy)
    rss = yhy - float(beta @ xhy)
    if not rss > 0:
        return math.inf, None, pieces
    df = n - p
    dev = (logdet + 2.0 * float(np.sum(np.log(np.diag(cx))))
           + df * (1.0 + math.log(2.0 * math.pi * rss / df)))
    if not grad:
        return dev, None, pieces
    zhz = g.zwz - np.einsum("gki,gkj->gij", uz, uz)       # Z_i' H_i^-1 Z_i
    zhx = g.zwx - np.einsum("gki,gkj->gij", uz, ux)       # Z_i' H_i^-1 X_i
    zhy = g.zwy - np.einsum("gki,gk->gi", uz, uy)         # Z_i' H_i^-1 y_i
    s = zhz.sum(axis=0) - np.einsum("gij,jk,glk->il", zhx, np.linalg.inv(xhx), zhx)
    r = zhy - zhx @ beta                                   # Z_i' (P y)_i
    t = r.T @ r
    d = 2.0 * (s - (df / rss) * t) @ lam
    return dev, d[np.tril_indices(q)], pieces


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
    g = _Groups(np.asarray(y, float), np.asarray(x, float), groups, np.asarray(z, float),
                np.asarray(w, float))
    return _evaluate(np.asarray(theta, dtype=float), g, False)[0]


def reml_gradient(theta: np.ndarray, y: np.ndarray, x: np.ndarray,
                  groups: Sequence[np.ndarray], z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return the analytic gradient of :func:`reml_deviance` with respect to ``theta``.

    Parameters
    ----------
    theta, y, x, groups, z, w
        As for :func:`reml_deviance`.

    Returns
    -------
    numpy.ndarray
        ``d deviance / d theta`` (NaN where the criterion is infinite).

    Notes
    -----
    With ``P = H^-1 - H^-1 X (X'H^-1X)^-1 X'H^-1`` and ``rss = y'Py``,
    ``d deviance = tr(P dH) - (n - p) (Py)' dH (Py) / rss`` (Harville 1977), and
    ``dH = Z (E Lambda' + Lambda E') Z'`` for a change ``E`` of ``Lambda``; both
    traces reduce to q x q sums over the groups (Henderson's mixed-model
    identities through Woodbury's formula).

    References
    ----------
    Harville DA (1977). Maximum likelihood approaches to variance component
    estimation and to related problems. Journal of the American Statistical
    Association 72(358), 320-338.

    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software 67(1), 1-48.
    """
    g = _Groups(np.asarray(y, float), np.asarray(x, float), groups, np.asarray(z, float),
                np.asarray(w, float))
    d = _evaluate(np.asarray(theta, dtype=float), g, True)[1]
    return np.full(len(theta), np.nan) if d is None else d


def _newton_polish(theta: np.ndarray, dev: float, data: _Groups, diag: np.ndarray,
                   steps: int = 8) -> tuple[np.ndarray, float]:
    """Refine a minimum by Newton steps on the free parameters, kept only when they lower it.

    The Hessian is the central difference of the analytic gradient; parameters
    held at their bound (a diagonal element of ``Lambda`` at 0 whose gradient
    pushes it below 0) stay there. A quasi-Newton run stops where its secant
    model of a flat criterion runs out of precision; a few exact-gradient
    Newton steps take the estimates to the optimum to near machine precision.
    """
    for _ in range(steps):
        dev0, g0, _ = _evaluate(theta, data, True)
        if g0 is None:
            break
        free = ~(diag & (theta <= 0.0) & (g0 >= 0.0))
        idx = np.flatnonzero(free)
        if idx.size == 0:
            break
        hess = np.empty((idx.size, idx.size))
        for a, j in enumerate(idx):
            h = 1e-5 * max(1.0, abs(theta[j]))
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            gp, gm = _evaluate(tp, data, True)[1], _evaluate(tm, data, True)[1]
            if gp is None or gm is None:
                return theta, dev
            hess[:, a] = (gp[idx] - gm[idx]) / (2 * h)
        hess = (hess + hess.T) / 2
        try:
            np.linalg.cholesky(hess)
            step = -np.linalg.solve(hess, g0[idx])
        except np.linalg.LinAlgError:
            break
        new = theta.copy()
        new[idx] += step
        new[diag] = np.maximum(new[diag], 0.0)
        new_dev = _evaluate(new, data, False)[0]
        if not new_dev <= dev:
            break
        moved = float(np.max(np.abs(new - theta)))
        theta, dev = new, new_dev
        if moved < 1e-12:
            break
    return theta, dev


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
    by SLSQP with the analytic gradient (:func:`reml_gradient`) and the
    diagonal of ``Lambda`` bounded below by 0, restarted once from its end point,
    then refined by Newton steps on the exact gradient; ``converged`` is False
    when either run stops on its iteration limit. (SLSQP rather than L-BFGS-B:
    same optimum, and L-BFGS-B's small BLAS calls cost more than the criterion.)

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

    data = _Groups(y, x, groups, z, w)

    def crit(t: np.ndarray) -> float:
        return _evaluate(t, data, False)[0]

    def crit_grad(t: np.ndarray) -> tuple[float, np.ndarray]:
        dev, d, _ = _evaluate(t, data, True)
        if d is None:  # off the domain: steer the line search back
            return math.inf, np.zeros_like(t)
        return dev, d

    converged = True
    best, best_dev = start, crit(start)
    for _ in range(2):
        res = optimize.minimize(crit_grad, best, jac=True, method="SLSQP", bounds=bounds,
                                options={"ftol": 1e-15, "maxiter": 2000})
        if res.status == 9:  # SLSQP's iteration limit
            converged = False
        if res.fun <= best_dev:
            best, best_dev = np.asarray(res.x), float(res.fun)
    best, best_dev = _newton_polish(best, best_dev, data, diag)
    theta = best
    logdet, xhx, xhy, yhy = _evaluate(theta, data, False)[2]
    beta = np.linalg.solve(xhx, xhy)
    df = n - p
    sigma2 = (yhy - float(beta @ xhy)) / df
    vcov = sigma2 * np.linalg.inv(xhx)
    lam = _lambda(theta, q)
    psi = sigma2 * lam @ lam.T
    dev = best_dev
    # lme4: -2 logLik = criterion; the weights enter log|H| above
    loglik = -0.5 * dev
    singular = bool(np.any(np.abs(theta[diag]) < 1e-4))
    return LmmFit(beta=beta, vcov=vcov, sigma2=float(sigma2), psi=psi, theta=theta,
                  deviance=float(dev), loglik=float(loglik),
                  n_params=p + len(theta) + 1, nobs=n, converged=converged,
                  singular=singular)
