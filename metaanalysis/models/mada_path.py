"""mada's own optimisation path for the bivariate normal model (``optimizer="mada"``).

mvmeta (and so mada) starts from 10 iterations of iterative generalised least
squares from ``Psi = diag(0.001)`` (:func:`igls_start`) and then runs R's
variable-metric BFGS (:func:`variable_metric`) on the Cholesky factor of
``Psi``. Following the same path reproduces mada's numbers, including where
that path stops short of the maximum; :func:`fit_mada_path` returns the fit it
reaches. The comparison with the true maximum is made by the caller,
:func:`metaanalysis.models.reitsma.fit_bivariate_normal`.
"""

from __future__ import annotations

import numpy as np

from metaanalysis.errors import NotConvergedWarning
from metaanalysis.models.likelihood import (
    ALL_FREE,
    BivariateNormalFit,
    Likelihood,
    boundary_names,
    cholesky_params,
    psi_from,
)

__all__ = ["IGLS_EIGEN_FLOOR", "fit_mada_path", "igls_start", "variable_metric"]

#: Floor of the IGLS start's eigenvalues when one is negative (mvmeta's ``iter.igls``).
IGLS_EIGEN_FLOOR = 1e-8


def igls_start(lik: Likelihood, iterations: int = 10) -> np.ndarray:
    """Run iterative generalised least squares from ``Psi = diag(0.001)``.

    Each iteration takes the GLS fit at the current ``Psi``, forms the residual
    cross-products minus the within-study covariances ``F_i = e_i e_i' - S_i``
    and estimates ``vech(Psi)`` by least squares weighted by
    ``(Sigma_i kron Sigma_i)^-1``; when an eigenvalue of that estimate is
    negative, every eigenvalue below ``1e-8`` is raised to ``1e-8``, as
    mvmeta's ``iter.igls`` does, so the start is never exactly on the
    boundary (a start with a zero eigenvalue has rho = +-1, where the BFGS
    steps on the Cholesky factor cannot leave it). This is the starting point
    mvmeta (and so mada) uses.

    References
    ----------
    .. [1] Goldstein H. Multilevel mixed linear model analysis using
       iterative generalized least squares. Biometrika 1986;73:43-56.
    .. [2] Gasparrini A, Armstrong B, Kenward MG. Multivariate meta-analysis
       for non-linear and other multi-parameter associations. Stat Med
       2012;31:3821-3839.
    """
    dup = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    k = lik.y.shape[0]
    psi = np.diag([0.001, 0.001])
    for _ in range(iterations):
        _, _, r1, r2, w11, w12, w22, _, _ = lik.gls(psi)
        W = np.empty((k, 2, 2))
        W[:, 0, 0], W[:, 0, 1], W[:, 1, 0], W[:, 1, 1] = w11, w12, w12, w22
        F = np.empty((k, 4))
        F[:, 0] = r1 * r1 - lik.s1
        F[:, 1] = F[:, 2] = r1 * r2
        F[:, 3] = r2 * r2 - lik.s2
        K = np.einsum("kij,klm->kiljm", W, W).reshape(k, 4, 4)
        KD = K @ dup
        M = np.einsum("ia,kib->ab", dup, KD)
        v = np.einsum("kia,ki->a", KD, F)
        th = np.linalg.solve(M, v)
        psi = np.array([[th[0], th[1]], [th[1], th[2]]])
        ev, vec = np.linalg.eigh(psi)
        if np.any(ev < 0.0):
            psi = (vec * np.maximum(ev, IGLS_EIGEN_FLOOR)) @ vec.T
    return psi


def variable_metric(lik: Likelihood, theta0: np.ndarray, maxit: int = 100,
                     reltol: float = 1.4901161193847656e-08) -> tuple[np.ndarray, float, int]:
    """Minimise by the variable metric (BFGS) method of Nash, as R's ``optim(method="BFGS")``.

    The inverse Hessian starts as the identity and is reset when a step fails;
    the line search backtracks by a factor 0.2 until the Armijo condition
    (slope factor 1e-4) holds; iteration stops when the relative change of the
    function falls below ``reltol`` or after ``maxit`` gradient evaluations.

    Returns
    -------
    theta, value, iterations

    References
    ----------
    .. [1] Nash JC. Compact Numerical Methods for Computers: Linear Algebra
       and Function Minimisation. 2nd ed. Adam Hilger; 1990. Algorithm 21.
    """
    cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def fg(th: np.ndarray) -> tuple[float, np.ndarray]:
        key = th.tobytes()
        if key not in cache:
            f, g = lik.objective(th, ALL_FREE)
            cache.clear()
            cache[key] = (f, g)
        return cache[key]

    b = np.array(theta0, dtype=float)
    n = b.size
    fmin, g = fg(b)
    if not np.isfinite(fmin):
        return b, float("inf"), 0
    gradcount = 1
    it = 1
    ilast = gradcount
    B = np.eye(n)
    f = fmin
    while True:
        if ilast == gradcount:
            B = np.eye(n)
        x = b.copy()
        c = g.copy()
        t = -B @ g
        gradproj = float(t @ g)
        if gradproj < 0.0:
            steplength = 1.0
            while True:
                b = x + steplength * t
                count = int(np.sum(10.0 + x == 10.0 + b))
                accpoint = False
                if count < n:
                    f = fg(b)[0]
                    accpoint = bool(np.isfinite(f) and f <= fmin + gradproj * steplength * 1e-4)
                    if not accpoint:
                        steplength *= 0.2
                if count == n or accpoint:
                    break
            if not abs(f - fmin) > reltol * (abs(fmin) + reltol):
                count = n
                fmin = f
            if count < n:
                fmin = f
                g = fg(b)[1]
                gradcount += 1
                it += 1
                t = steplength * t
                c = g - c
                d1 = float(t @ c)
                if d1 > 0:
                    bc = B @ c
                    d2 = 1.0 + float(bc @ c) / d1
                    B = B + (d2 * np.outer(t, t) - np.outer(bc, t) - np.outer(t, bc)) / d1
                else:
                    ilast = gradcount
            elif ilast < gradcount:
                count = 0
                ilast = gradcount
        else:
            count = 0
            if ilast == gradcount:
                count = n
            else:
                ilast = gradcount
        if it >= maxit:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if count == n and ilast == gradcount:
            break
    return b, float(fmin), it


def fit_mada_path(lik: Likelihood, method: str) -> BivariateNormalFit:
    """Fit along mada's path: IGLS start, then BFGS on the Cholesky factor.

    Parameters
    ----------
    lik : Likelihood
        The model's likelihood (its data, design and REML/ML choice).
    method : {"reml", "ml"}
        Recorded on the fit.

    Returns
    -------
    BivariateNormalFit
        Where the path stops; ``converged`` is False (with a warning) when
        BFGS used all of mada's 100 iterations.
    """
    theta, _, it = variable_metric(lik, cholesky_params(igls_start(lik)))
    psi = psi_from(theta, ALL_FREE)
    ll, _ = lik.value_and_grad_psi(psi)
    coef, C, *_ = lik.gls(psi)
    caveats = []
    converged = it < 100
    if not converged:
        caveats.append(NotConvergedWarning(
            "the BFGS optimiser reached 100 iterations (mada's limit) without "
            "converging; use optimizer='newton'."))
    return BivariateNormalFit(coef=coef, vcov=C, psi=psi, loglik=ll, method=method,
                              converged=converged, niter=it,
                              boundary=tuple(boundary_names(psi)), warnings=tuple(caveats))
