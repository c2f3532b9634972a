"""The bivariate normal random-effects model of Reitsma et al. (2005).

Each study contributes ``y_i = (logit sens_i, logit FPR_i)`` with known
within-study covariance ``S_i = diag(1/TP + 1/FN, 1/FP + 1/TN)``, and

    y_i ~ N(X_i beta, Psi + S_i),

``Psi`` an unstructured 2x2 between-study covariance. ``beta`` is profiled out
by generalised least squares; the restricted (REML) or full (ML)
log-likelihood is maximised over the lower Cholesky factor ``L`` of
``Psi = L L'`` with an analytic gradient. Every point of that parameter space
is a valid ``Psi``, including the boundary (a variance of zero, a correlation
of +-1), so a maximum on the boundary is reached, not approached; sub-models
with the boundary imposed are fitted as a check when the fit ends near it.

Two optimisers: ``"newton"`` (default; modified Newton steps on a batched,
vectorised likelihood, to full precision) and ``"mada"``, which follows mada's
own path (10 IGLS iterations from ``Psi = diag(0.001)``, then variable-metric
BFGS with R's ``optim`` settings) and so reproduces mada's numbers, including
where that path stops short of the maximum.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from metaanalysis.errors import FitError, FitWarning, InputError
from metaanalysis.results import BivariateResult
from metaanalysis.table import StudyTable

_LOG2PI = math.log(2.0 * math.pi)
#: Fewer studies than this draws a warning (as mada does).
FEW_STUDIES = 5
#: Fewer studies than this is refused: too few for the model's 5 parameters.
MIN_STUDIES = 3


@dataclass(frozen=True)
class BivariateNormalFit:
    """Raw output of :func:`fit_bivariate_normal`.

    Attributes
    ----------
    coef : numpy.ndarray
        (p, 2) coefficients; column 0 for outcome 1, column 1 for outcome 2.
    vcov : numpy.ndarray
        (2p, 2p) covariance of ``coef`` stacked outcome-major
        (``coef[:, 0]`` then ``coef[:, 1]``).
    psi : numpy.ndarray
        (2, 2) between-study covariance.
    loglik : float
        Restricted or full log-likelihood (mvmeta's convention: the REML value
        has no ``+1/2 log|X'X|`` term).
    method : str
        ``"reml"`` or ``"ml"``.
    converged : bool
        Whether the optimiser met its tolerance.
    niter : int
        Optimiser iterations (all starts and checks together).
    boundary : tuple of str
        Parameters on the boundary (``"tau2_1"``, ``"tau2_2"``, ``"rho"``).
    warnings : tuple of str
        Messages about the fit.
    """

    coef: np.ndarray
    vcov: np.ndarray
    psi: np.ndarray
    loglik: float
    method: str
    converged: bool
    niter: int
    boundary: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)


class _Likelihood:
    """Negative (restricted) log-likelihood of ``vech`` Cholesky parameters, with gradient."""

    def __init__(self, y: np.ndarray, S: np.ndarray, X: np.ndarray | None, reml: bool) -> None:
        self.y = y
        self.s1 = S[:, 0]
        self.s2 = S[:, 1]
        self.X = X
        self.reml = reml
        k = y.shape[0]
        p = 1 if X is None else X.shape[1]
        self.p = p
        n_fixed = 2 * p
        self.const = -0.5 * ((2 * k - n_fixed) if reml else 2 * k) * _LOG2PI

    # weights W_i = (Psi + S_i)^-1 in closed form, batched over studies
    def weights(self, psi: np.ndarray) -> tuple[np.ndarray, ...]:
        v11 = psi[0, 0] + self.s1
        v22 = psi[1, 1] + self.s2
        v12 = psi[0, 1]
        det = v11 * v22 - v12 * v12
        return v22 / det, -v12 / det, v11 / det, det

    def gls(self, psi: np.ndarray) -> tuple[np.ndarray, ...]:
        """GLS coefficients, their covariance, residuals and weights at ``psi``."""
        w11, w12, w22, det = self.weights(psi)
        y1, y2 = self.y[:, 0], self.y[:, 1]
        if self.X is None:
            a11, a12, a22 = w11.sum(), w12.sum(), w22.sum()
            b1 = (w11 * y1 + w12 * y2).sum()
            b2 = (w12 * y1 + w22 * y2).sum()
            adet = a11 * a22 - a12 * a12
            C = np.array([[a22, -a12], [-a12, a11]]) / adet
            coef = C @ np.array([b1, b2])
            r1 = y1 - coef[0]
            r2 = y2 - coef[1]
            logdet_a = math.log(adet)
            coef = coef.reshape(1, 2)
        else:
            X = self.X
            p = self.p
            wx11 = X * w11[:, None]
            wx12 = X * w12[:, None]
            wx22 = X * w22[:, None]
            A = np.empty((2 * p, 2 * p))
            A[:p, :p] = wx11.T @ X
            A[:p, p:] = wx12.T @ X
            A[p:, :p] = A[:p, p:].T
            A[p:, p:] = wx22.T @ X
            b = np.concatenate([wx11.T @ y1 + wx12.T @ y2, wx12.T @ y1 + wx22.T @ y2])
            chol = np.linalg.cholesky(A)
            C = np.linalg.inv(A)
            C = 0.5 * (C + C.T)
            flat = C @ b
            coef = np.column_stack([flat[:p], flat[p:]])
            fitted = X @ coef
            r1 = y1 - fitted[:, 0]
            r2 = y2 - fitted[:, 1]
            logdet_a = 2.0 * np.log(np.diag(chol)).sum()
        return coef, C, r1, r2, w11, w12, w22, det, logdet_a

    def value_and_grad_psi(self, psi: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-likelihood and its derivative with respect to Psi (symmetric 2x2)."""
        coef, C, r1, r2, w11, w12, w22, det, logdet_a = self.gls(psi)
        u1 = w11 * r1 + w12 * r2
        u2 = w12 * r1 + w22 * r2
        quad = (r1 * u1 + r2 * u2).sum()
        ll = self.const - 0.5 * np.log(det).sum() - 0.5 * quad
        g11 = (u1 * u1 - w11).sum()
        g12 = (u1 * u2 - w12).sum()
        g22 = (u2 * u2 - w22).sum()
        if self.reml:
            ll -= 0.5 * logdet_a
            if self.X is None:
                # sum_i W_i C W_i
                c11, c12, c22 = C[0, 0], C[0, 1], C[1, 1]
                t11 = w11 * c11 + w12 * c12
                t12 = w11 * c12 + w12 * c22
                t21 = w12 * c11 + w22 * c12
                t22 = w12 * c12 + w22 * c22
                g11 += (t11 * w11 + t12 * w12).sum()
                g12 += (t11 * w12 + t12 * w22).sum()
                g22 += (t21 * w12 + t22 * w22).sum()
            else:
                X, p = self.X, self.p
                h11 = np.einsum("ip,pq,iq->i", X, C[:p, :p], X)
                h12 = np.einsum("ip,pq,iq->i", X, C[:p, p:], X)
                h22 = np.einsum("ip,pq,iq->i", X, C[p:, p:], X)
                t11 = w11 * h11 + w12 * h12
                t12 = w11 * h12 + w12 * h22
                t21 = w12 * h11 + w22 * h12
                t22 = w12 * h12 + w22 * h22
                g11 += (t11 * w11 + t12 * w12).sum()
                g12 += (t11 * w12 + t12 * w22).sum()
                g22 += (t21 * w12 + t22 * w22).sum()
        grad = 0.5 * np.array([[g11, g12], [g12, g22]])
        return float(ll), grad

    def objective(self, theta: np.ndarray, free: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood and gradient in the free Cholesky entries."""
        full = np.zeros(3)
        full[free] = theta
        L = np.array([[full[0], 0.0], [full[1], full[2]]])
        psi = L @ L.T
        ll, G = self.value_and_grad_psi(psi)
        GL = 2.0 * G @ L
        g = np.array([GL[0, 0], GL[1, 0], GL[1, 1]])
        return -ll, -g[free]


    def batch(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Negative log-likelihood and full gradient at several Cholesky points at once.

        ``thetas`` is (m, 3); returns ``f`` (m,) and the gradient (m, 3). With an
        intercept-only design every study-level quantity is an (m, k) array and
        the 2x2 algebra is written out, so m points cost about as much as one.
        """
        if self.X is not None:
            out = [self.objective(th, _ALL) for th in thetas]
            return np.array([o[0] for o in out]), np.array([o[1] for o in out])
        a, b, c = thetas[:, 0:1], thetas[:, 1:2], thetas[:, 2:3]
        y1, y2 = self.y[:, 0], self.y[:, 1]
        v11 = a * a + self.s1
        v12 = a * b
        v22 = b * b + c * c + self.s2
        det = v11 * v22 - v12 * v12
        w11 = v22 / det
        w12 = -v12 / det
        w22 = v11 / det
        a11 = w11.sum(axis=1, keepdims=True)
        a12 = w12.sum(axis=1, keepdims=True)
        a22 = w22.sum(axis=1, keepdims=True)
        b1 = (w11 * y1 + w12 * y2).sum(axis=1, keepdims=True)
        b2 = (w12 * y1 + w22 * y2).sum(axis=1, keepdims=True)
        adet = a11 * a22 - a12 * a12
        c11, c12, c22 = a22 / adet, -a12 / adet, a11 / adet
        r1 = y1 - (c11 * b1 + c12 * b2)
        r2 = y2 - (c12 * b1 + c22 * b2)
        u1 = w11 * r1 + w12 * r2
        u2 = w12 * r1 + w22 * r2
        ll = self.const - 0.5 * (np.log(det) + r1 * u1 + r2 * u2).sum(axis=1)
        e11 = u1 * u1 - w11
        e12 = u1 * u2 - w12
        e22 = u2 * u2 - w22
        if self.reml:
            ll -= 0.5 * np.log(adet[:, 0])
            t11 = w11 * c11 + w12 * c12
            t12 = w11 * c12 + w12 * c22
            t21 = w12 * c11 + w22 * c12
            t22 = w12 * c12 + w22 * c22
            e11 = e11 + t11 * w11 + t12 * w12
            e12 = e12 + t11 * w12 + t12 * w22
            e22 = e22 + t21 * w12 + t22 * w22
        g11 = 0.5 * e11.sum(axis=1)
        g12 = 0.5 * e12.sum(axis=1)
        g22 = 0.5 * e22.sum(axis=1)
        a, b, c = a[:, 0], b[:, 0], c[:, 0]
        grad = 2.0 * np.column_stack([g11 * a + g12 * b, g12 * a + g22 * b, g22 * c])
        return -ll, -grad


def _cholesky_params(psi: np.ndarray) -> np.ndarray:
    a = math.sqrt(max(psi[0, 0], 0.0))
    b = psi[0, 1] / a if a > 0 else 0.0
    c = math.sqrt(max(psi[1, 1] - b * b, 0.0))
    return np.array([a, b, c])


def _moment_start(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Start from the method of moments: excess variance and half the observed correlation."""
    var = y.var(axis=0, ddof=1) if y.shape[0] > 1 else np.ones(2)
    tau2 = np.maximum(var - S.mean(axis=0), 0.05 * np.maximum(var, 1e-3))
    with np.errstate(invalid="ignore", divide="ignore"):  # identical studies: 0/0
        r = np.corrcoef(y.T)[0, 1] if y.shape[0] > 2 else 0.0
    r = 0.0 if not np.isfinite(r) else float(np.clip(0.5 * r, -0.9, 0.9))
    off = r * math.sqrt(tau2[0] * tau2[1])
    return np.array([[tau2[0], off], [off, tau2[1]]])


_ALL = np.array([True, True, True])
#: boundary sub-models as the free entries (a, b, c) of L = [[a, 0], [b, c]]:
#: rho = +-1 (c = 0), tau2_1 = 0 (a = b = 0), tau2_2 = 0 (b = c = 0)
_SUBMODELS: tuple[np.ndarray, ...] = (
    np.array([True, True, False]),
    np.array([False, False, True]),
    np.array([True, False, False]),
)


@dataclass
class _OptResult:
    x: np.ndarray
    fun: float
    jac: np.ndarray
    nit: int
    success: bool


def _newton(lik: _Likelihood, theta0: np.ndarray, free: np.ndarray,
            maxiter: int = 200) -> _OptResult:
    """Minimise by modified Newton iterations with a backtracking line search.

    The Hessian is the forward difference of the analytic gradient (the base
    point and the perturbed points are evaluated in one batch); its
    eigenvalues are replaced by their absolute values (floored), so every step
    is a descent step even near a saddle. Four step lengths are tried per
    batch in the line search.
    """
    full = np.asarray(theta0, dtype=float).copy()
    full[~free] = 0.0  # fixed entries of a boundary sub-model are zero
    idx = np.flatnonzero(free)
    n = idx.size
    steps = np.array([1.0, 0.5, 0.25, 0.125])
    nit = 0
    success = False
    f = float("inf")
    g = np.zeros(n)
    for nit in range(1, maxiter + 1):  # noqa: B007
        h = 1e-7 * np.maximum(1.0, np.abs(full[idx]))
        pts = np.repeat(full[None, :], n + 1, axis=0)
        pts[1 + np.arange(n), idx] += h
        F, Gr = lik.batch(pts)
        f, g = float(F[0]), Gr[0, idx]
        if not np.isfinite(f):
            return _OptResult(full[idx], float("inf"), g, nit, False)
        if np.max(np.abs(g)) < 1e-10 * max(1.0, abs(f)):
            success = True
            break
        H = (Gr[1:, idx] - g) / h[:, None]
        H = 0.5 * (H + H.T)
        w, V = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-10 * max(1.0, float(np.abs(w).max())))
        step = -V @ ((V.T @ g) / w)
        size = float(np.max(np.abs(step)))
        if size > 5.0:
            step *= 5.0 / size
        slope = float(g @ step)
        scale = 1.0
        accepted = None
        while scale * steps[-1] > 1e-12:
            trial = np.repeat(full[None, :], len(steps), axis=0)
            trial[:, idx] += (scale * steps)[:, None] * step
            Ft, _ = lik.batch(trial)
            ok = np.isfinite(Ft) & (Ft <= f + 1e-4 * scale * steps * slope)
            if ok.any():
                j = int(np.argmax(ok))
                accepted = (trial[j], float(Ft[j]), scale * steps[j])
                break
            scale *= steps[-1] / 2.0
        if accepted is None:  # no decrease possible: at the optimum to machine precision
            success = bool(np.max(np.abs(g)) < 1e-5 * max(1.0, abs(f)))
            break
        new, f_new, t = accepted
        small = abs(f - f_new) <= 1e-15 * max(1.0, abs(f)) and \
            float(np.max(np.abs(t * step))) < 1e-9
        full = new
        if small:
            f_new, g_new = lik.objective(full[idx], free)
            f, g = f_new, g_new
            success = bool(np.max(np.abs(g)) < 1e-5 * max(1.0, abs(f)))
            break
    return _OptResult(full[idx], float(f), g, nit, success)


def _minimise(lik: _Likelihood, theta0: np.ndarray, free: np.ndarray) -> _OptResult:
    return _newton(lik, theta0, free)


def _psi_from(theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    full = np.zeros(3)
    full[free] = theta
    L = np.array([[full[0], 0.0], [full[1], full[2]]])
    return L @ L.T


#: Optimisers of :func:`fit_bivariate_normal`.
OPTIMIZERS: tuple[str, ...] = ("newton", "mada")


#: Floor of the IGLS start's eigenvalues when one is negative (mvmeta's ``iter.igls``).
IGLS_EIGEN_FLOOR = 1e-8


def _igls_start(lik: _Likelihood, iterations: int = 10) -> np.ndarray:
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


def _variable_metric(lik: _Likelihood, theta0: np.ndarray, maxit: int = 100,
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
            f, g = lik.objective(th, _ALL)
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


def _fit_mada(lik: _Likelihood, method: str) -> BivariateNormalFit:
    """Fit along mada's path: IGLS start, then BFGS on the Cholesky factor."""
    theta, _, it = _variable_metric(lik, _cholesky_params(_igls_start(lik)))
    psi = _psi_from(theta, _ALL)
    ll, _ = lik.value_and_grad_psi(psi)
    coef, C, *_ = lik.gls(psi)
    msgs = []
    best = fit_bivariate_normal(lik.y, np.column_stack([lik.s1, lik.s2]), lik.X, method)
    if best.loglik > ll + 1e-6:
        msgs.append(f"mada's optimiser stopped {best.loglik - ll:.2g} below the maximum of the "
                    "log-likelihood; optimizer='newton' (the default) reaches it.")
    converged = it < 100
    if not converged:
        msgs.append("the BFGS optimiser reached 100 iterations (mada's limit) without "
                    "converging; use optimizer='newton'.")
    return BivariateNormalFit(coef=coef, vcov=C, psi=psi, loglik=ll, method=method,
                              converged=converged, niter=it,
                              boundary=tuple(_boundary_names(psi)), warnings=tuple(msgs))


def fit_bivariate_normal(
    y: np.ndarray,
    S: np.ndarray,
    X: np.ndarray | None = None,
    method: str = "reml",
    *,
    start: np.ndarray | None = None,
    optimizer: str = "newton",
) -> BivariateNormalFit:
    """Fit the bivariate normal random-effects model by REML or ML.

    Parameters
    ----------
    y : numpy.ndarray
        (k, 2) outcomes per study.
    S : numpy.ndarray
        (k, 2) within-study variances (the within-study covariance is zero).
    X : numpy.ndarray, optional
        (k, p) design applied to both outcomes; ``None`` means an intercept
        only (pooled means).
    method : {"reml", "ml"}
        Restricted or full maximum likelihood.
    start : numpy.ndarray, optional
        (2, 2) starting ``Psi`` (for ``optimizer="newton"``).
    optimizer : {"newton", "mada"}
        ``"newton"`` (default): modified Newton iterations to full precision,
        with boundary sub-models checked, so the maximum is reached.
        ``"mada"``: mada's own path (mvmeta's 10 IGLS iterations from
        ``Psi = diag(0.001)``, then BFGS with ``reltol = sqrt(eps)`` and at most
        100 iterations), which reproduces mada's estimates to about 1e-9 but
        can stop short of the maximum (a warning says so).

    Returns
    -------
    BivariateNormalFit

    Raises
    ------
    FitError
        If no start reaches a maximum (the message lists what to try).

    Notes
    -----
    The restricted log-likelihood is mvmeta's (and so mada's):
    ``-(2k-2p)/2 log 2pi - 1/2 sum log|V_i| - 1/2 log|sum X_i' V_i^-1 X_i|
    - 1/2 sum r_i' V_i^-1 r_i`` with ``V_i = Psi + S_i``; metafor's adds
    ``+1/2 log|X'X|``. Its gradient in ``Psi`` is
    ``1/2 sum (W_i r_i r_i' W_i - W_i + W_i X_i C X_i' W_i)``, ``W_i = V_i^-1``,
    ``C = (sum X_i' W_i X_i)^-1`` (the last term for REML only).

    References
    ----------
    .. [1] Reitsma JB, Glas AS, Rutjes AWS, Scholten RJPM, Bossuyt PM,
       Zwinderman AH. Bivariate analysis of sensitivity and specificity
       produces informative summary measures in diagnostic reviews.
       J Clin Epidemiol 2005;58:982-990.
    .. [2] Gasparrini A, Armstrong B, Kenward MG. Multivariate meta-analysis
       for non-linear and other multi-parameter associations. Stat Med
       2012;31:3821-3839.
    """
    method = method.lower()
    if method not in ("reml", "ml"):
        raise InputError(f"unknown method {method!r}; use 'reml' or 'ml'.")
    y = np.asarray(y, dtype=float)
    S = np.asarray(S, dtype=float)
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise InputError(f"the design matrix must have {y.shape[0]} rows.")
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise FitError("the design matrix is rank deficient (a covariate is constant or "
                           "collinear with others); drop or merge covariate levels.")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(S)) and np.all(S > 0)):
        raise FitError("outcomes or within-study variances are not finite; apply a continuity "
                       "correction ('all' or 'single') or use the binomial GLMM.")
    lik = _Likelihood(y, S, X, reml=(method == "reml"))
    if optimizer == "mada":
        return _fit_mada(lik, method)
    if optimizer != "newton":
        raise InputError(f"unknown optimizer {optimizer!r}; use 'newton' or 'mada'.")

    starts = [start] if start is not None else []
    starts += [_moment_start(y, S), np.diag([0.001, 0.001]), np.diag(y.var(axis=0) + 0.1)]
    best: _OptResult | None = None
    best_free = _ALL
    niter = 0
    for psi0 in starts:
        theta0 = _cholesky_params(np.asarray(psi0, dtype=float))
        theta0 = np.where(np.abs(theta0) < 1e-3, 1e-3, theta0)  # keep off the saddle at 0
        res = _minimise(lik, theta0, _ALL)
        niter += int(res.nit)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun - 1e-10):
            best = res
        ok = np.isfinite(res.fun) and np.max(np.abs(res.jac)) < 1e-5 * max(1.0, abs(res.fun))
        if ok:
            break
    if best is None or not np.isfinite(best.fun):
        raise FitError("the bivariate model could not be fitted from any start; try "
                       "method='ml', a continuity correction, the univariate model, or the "
                       "binomial GLMM.")
    psi = _psi_from(best.x, best_free)
    # near the boundary, fit the sub-models with the boundary imposed and keep the
    # best; the boundary is then reached exactly rather than approached
    if _near_boundary(psi):
        full_fit = best
        for free in _SUBMODELS:
            theta0 = _cholesky_params(psi)
            theta0 = np.where((np.abs(theta0) < 1e-3) & free, 1e-3, theta0)
            res = _minimise(lik, theta0, free)
            niter += int(res.nit)
            if np.isfinite(res.fun) and res.fun <= full_fit.fun + 1e-10 and \
                    (best is full_fit or res.fun < best.fun):
                best, best_free = res, free
        psi = _psi_from(best.x, best_free)
    boundary = _boundary_names(psi)
    for j, name in enumerate(("tau2_1", "tau2_2")):
        if name in boundary:  # a variance at 0 is 0, so rho is undefined, not +-1
            psi = psi.copy()
            psi[j, :] = 0.0
            psi[:, j] = 0.0
    grad_norm = float(np.max(np.abs(best.jac))) if best.jac.size else 0.0
    converged = bool(grad_norm < 1e-4 * max(1.0, abs(best.fun)))
    ll, _ = lik.value_and_grad_psi(psi)
    coef, C, *_ = lik.gls(psi)
    msgs: list[str] = []
    if not converged:
        msgs.append(f"the optimiser stopped with gradient {grad_norm:.2g} (not converged); "
                    "estimates may be inaccurate: try method='ml' or the univariate model.")
    return BivariateNormalFit(coef=coef, vcov=C, psi=psi, loglik=ll, method=method,
                              converged=converged, niter=niter, boundary=tuple(boundary),
                              warnings=tuple(msgs))


def _near_boundary(psi: np.ndarray) -> bool:
    t1, t2 = psi[0, 0], psi[1, 1]
    if t1 < 1e-4 or t2 < 1e-4:
        return True
    rho = psi[0, 1] / math.sqrt(t1 * t2)
    return abs(rho) > 0.99


def _boundary_names(psi: np.ndarray) -> list[str]:
    out = []
    t1, t2 = psi[0, 0], psi[1, 1]
    if t1 < 1e-8:
        out.append("tau2_1")
    if t2 < 1e-8:
        out.append("tau2_2")
    if t1 >= 1e-8 and t2 >= 1e-8 and abs(psi[0, 1]) / math.sqrt(t1 * t2) > 1 - 1e-6:
        out.append("rho")
    return out


def logit_outcomes(table: StudyTable, correction: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Compute per-study (logit sens, logit FPR) and their within-study variances.

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction (see :meth:`StudyTable.corrected`).

    Returns
    -------
    y, S : numpy.ndarray
        (k, 2) each.

    Raises
    ------
    InputError
        With ``correction="none"`` when a study has a zero cell.
    """
    tp, fp, fn, tn = table.corrected(correction)
    if correction == "none" and table.has_zero_cells:
        i = int(np.flatnonzero(np.any(table.counts() == 0, axis=1))[0])
        cell = ("TP", "FP", "FN", "TN")[int(np.flatnonzero(table.counts()[i] == 0)[0])]
        raise InputError(
            f"study {table.studies[i]!r} has a zero cell ({cell} = 0), so its logit is infinite "
            "with correction='none'; use correction='all' or 'single', or the binomial GLMM."
        )
    y = np.column_stack([np.log(tp / fn), np.log(fp / tn)])
    S = np.column_stack([1.0 / tp + 1.0 / fn, 1.0 / fp + 1.0 / tn])
    return y, S


def log_jacobian(table: StudyTable, correction: str = "all") -> float:
    """Compute the log-Jacobian of the logit that mada adds to the log-likelihood.

    ``sum_i -log(sens_i (1 - sens_i)) - log(fpr_i (1 - fpr_i))`` on the
    corrected proportions.
    """
    tp, fp, fn, tn = table.corrected(correction)
    se = tp / (tp + fn)
    f = fp / (fp + tn)
    return float(np.sum(-np.log(se * (1 - se)) - np.log(f * (1 - f))))


def reitsma(table: StudyTable, method: str = "reml", correction: str = "all",
            optimizer: str = "newton") -> BivariateResult:
    """Pool sensitivity and specificity with the bivariate model of Reitsma et al.

    Parameters
    ----------
    table : StudyTable
        The studies.
    method : {"reml", "ml"}
        Restricted (default, as mada) or full maximum likelihood.
    correction : {"all", "single", "none"}
        Continuity correction (see :meth:`StudyTable.corrected`); ``"all"`` is
        mada's default.
    optimizer : {"newton", "mada"}
        ``"newton"`` (default) reaches the maximum of the likelihood, also on
        the boundary; ``"mada"`` follows mada's optimiser step by step and
        reproduces its numbers (see :func:`fit_bivariate_normal`).

    Returns
    -------
    BivariateResult
        ``mu`` on (logit sens, logit FPR); ``loglik`` as mada reports it (the
        mvmeta log-likelihood plus the log-Jacobian of the logit).

    Raises
    ------
    FitError
        Fewer than 3 studies, or no start reaches a maximum.

    Warns
    -----
    FitWarning
        Fewer than 5 studies; an estimate on the boundary of the parameter
        space; non-convergence.

    References
    ----------
    .. [1] Reitsma JB, Glas AS, Rutjes AWS, Scholten RJPM, Bossuyt PM,
       Zwinderman AH. Bivariate analysis of sensitivity and specificity
       produces informative summary measures in diagnostic reviews.
       J Clin Epidemiol 2005;58:982-990.
    .. [2] Doebler P, Holling H. Meta-analysis of diagnostic accuracy with
       mada. R package vignette (mada 0.5).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> t = ma.simulate(k=20, mu=[1.5, -1.5], psi=[[0.5, 0.1], [0.1, 0.5]], n=200,
    ...                 prevalence=0.3, seed=1)
    >>> fit = ma.reitsma(t)
    >>> 0 < fit.sensitivity.estimate < 1
    True
    """
    if not isinstance(table, StudyTable):
        raise InputError(f"reitsma() needs a StudyTable, got {type(table).__name__}.")
    method = str(method).lower()
    if method not in ("reml", "ml"):
        raise InputError(f"unknown method {method!r}; use 'reml' or 'ml'.")
    if table.k < MIN_STUDIES:
        raise FitError(
            f"only {table.k} studies: too few to estimate the 5 parameters of the bivariate "
            "model; use the univariate model (--model univariate, or univariate(table)), "
            "or add studies."
        )
    y, S = logit_outcomes(table, correction)
    fit = fit_bivariate_normal(y, S, method=method, optimizer=optimizer)
    msgs = list(fit.warnings)
    if table.k < FEW_STUDIES:
        msgs.append(f"only {table.k} studies: the between-study covariance is poorly "
                    "estimated; interpret Psi, the prediction region and the SROC with care.")
    for name in fit.boundary:
        msgs.append({
            "tau2_1": "tau2 of logit sensitivity is on the boundary (0): no between-study "
                      "variation in sensitivity is estimated; the correlation and the HSROC "
                      "parameters are undefined (null).",
            "tau2_2": "tau2 of logit FPR is on the boundary (0): no between-study variation "
                      "in the false positive rate is estimated; the correlation, the HSROC "
                      "parameters and the SROC curve with its AUC are undefined (null).",
            "rho": "the correlation of logit sensitivity and logit FPR is on the boundary "
                   "(+-1): Psi is singular.",
        }[name])
    for m in msgs:
        warnings.warn(m, FitWarning, stacklevel=2)
    return BivariateResult(
        model="reitsma", method=method, table=table, correction=correction,
        mu=fit.coef[0].copy(), vcov=fit.vcov, psi=fit.psi,
        loglik=fit.loglik + log_jacobian(table, correction),
        df=5, nobs=2 * table.k, converged=fit.converged, warnings=tuple(msgs),
        extra={"loglik_without_jacobian": fit.loglik, "niter": fit.niter,
               "boundary": fit.boundary, "optimizer": optimizer},
    )
