"""The likelihood of the bivariate normal model of the logits, and its parameter space.

This module owns what every optimiser of that model shares: the (restricted)
log-likelihood with its analytic gradient (:class:`Likelihood`), the map from
the lower Cholesky factor ``L = [[a, 0], [b, c]]`` to ``Psi = L L'``, the
boundary tests, and the raw fit record (:class:`BivariateNormalFit`). The
optimisers live in :mod:`metaanalysis.models.reitsma` (modified Newton, the
default) and :mod:`metaanalysis.models.mada_path` (mada's IGLS + BFGS path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from metaanalysis.errors import MetaAnalysisWarning

__all__ = ["ALL_FREE", "BivariateNormalFit", "Likelihood", "boundary_names", "cholesky_params",
           "near_boundary", "psi_from"]

_LOG2PI = math.log(2.0 * math.pi)
#: 1/2 and -2 as numpy scalars: numpy combines an array with a numpy scalar in about half
#: the time it takes with a Python float (the same operation, so the same numbers)
_HALF = np.float64(0.5)
_MINUS_TWO = np.float64(-2.0)


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
    warnings : tuple of MetaAnalysisWarning
        Caveats of the fit (their text and ``code``).
    """

    coef: np.ndarray
    vcov: np.ndarray
    psi: np.ndarray
    loglik: float
    method: str
    converged: bool
    niter: int
    boundary: tuple[str, ...] = ()
    warnings: tuple[MetaAnalysisWarning, ...] = field(default_factory=tuple)


class Likelihood:
    """Negative (restricted) log-likelihood of ``vech`` Cholesky parameters, with gradient."""

    def __init__(self, y: np.ndarray, S: np.ndarray, X: np.ndarray | None, reml: bool) -> None:
        self.y = y
        self.y1 = y[:, 0]
        self.y2 = y[:, 1]
        self.s1 = S[:, 0]
        self.s2 = S[:, 1]
        self.X = X
        self.reml = reml
        k = y.shape[0]
        p = 1 if X is None else X.shape[1]
        self.p = p
        n_fixed = 2 * p
        self.const = -0.5 * ((2 * k - n_fixed) if reml else 2 * k) * _LOG2PI
        self._const = np.float64(self.const)

    def weights(self, psi: np.ndarray) -> tuple[np.ndarray, ...]:
        """Weights ``W_i = (Psi + S_i)^-1`` in closed form, batched over studies.

        Returns ``(w11, w12, w22, det)``: the entries of each ``W_i`` and ``|Psi + S_i|``.
        """
        v11 = psi[0, 0] + self.s1
        v22 = psi[1, 1] + self.s2
        v12 = psi[0, 1]
        det = v11 * v22 - v12 * v12
        return v22 / det, -v12 / det, v11 / det, det

    def gls(self, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            float]:
        """GLS coefficients, their covariance, residuals and weights at ``psi``."""
        w11, w12, w22, det = self.weights(psi)
        y1, y2 = self.y[:, 0], self.y[:, 1]
        if self.X is None:
            add = np.add.reduce  # ndarray.sum without its Python wrapper
            a11, a12, a22 = add(w11), add(w12), add(w22)
            b1 = add(w11 * y1 + w12 * y2)
            b2 = add(w12 * y1 + w22 * y2)
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
            logdet_a = float(2.0 * np.log(np.diag(chol)).sum())
        return coef, C, r1, r2, w11, w12, w22, det, logdet_a

    def loglik_and_gls(self, psi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, GLS coefficients and their covariance at ``psi`` (one GLS solve)."""
        coef, C, r1, r2, w11, w12, w22, det, logdet_a = self.gls(psi)
        add = np.add.reduce
        quad = add(r1 * (w11 * r1 + w12 * r2) + r2 * (w12 * r1 + w22 * r2))
        ll = self.const - 0.5 * add(np.log(det)) - 0.5 * quad
        if self.reml:
            ll -= 0.5 * logdet_a
        return float(ll), coef, C

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
            out = [self.objective(th, ALL_FREE) for th in thetas]
            return np.array([o[0] for o in out]), np.array([o[1] for o in out])
        # np.add.reduce is what ndarray.sum calls, without its Python wrapper: a batch is
        # a few dozen operations on small arrays, so call overhead is most of its cost
        add = np.add.reduce
        a, b, c = thetas[:, 0:1], thetas[:, 1:2], thetas[:, 2:3]
        y1, y2 = self.y1, self.y2
        v11 = a * a + self.s1
        v12 = a * b
        v22 = b * b + c * c + self.s2
        det = v11 * v22 - v12 * v12
        # the three weights in one array, so that one reduction sums all three (row by
        # row, in the order three separate sums would take)
        W = np.empty((3, *det.shape))
        w11 = np.divide(v22, det, out=W[0])
        w12 = np.divide(np.negative(v12, out=W[1]), det, out=W[1])
        w22 = np.divide(v11, det, out=W[2])
        A = add(W, axis=2, keepdims=True)
        a11, a12, a22 = A[0], A[1], A[2]
        b1 = add(w11 * y1 + w12 * y2, axis=1, keepdims=True)
        b2 = add(w12 * y1 + w22 * y2, axis=1, keepdims=True)
        adet = a11 * a22 - a12 * a12
        c11, c12, c22 = a22 / adet, -a12 / adet, a11 / adet
        r1 = y1 - (c11 * b1 + c12 * b2)
        r2 = y2 - (c12 * b1 + c22 * b2)
        u1 = w11 * r1 + w12 * r2
        u2 = w12 * r1 + w22 * r2
        ll = self._const - _HALF * add(np.log(det) + r1 * u1 + r2 * u2, axis=1)
        E = np.empty_like(W)
        e11 = np.subtract(u1 * u1, w11, out=E[0])
        e12 = np.subtract(u1 * u2, w12, out=E[1])
        e22 = np.subtract(u2 * u2, w22, out=E[2])
        if self.reml:
            ll -= _HALF * np.log(adet[:, 0])
            t11 = w11 * c11 + w12 * c12
            t12 = w11 * c12 + w12 * c22
            t21 = w12 * c11 + w22 * c12
            t22 = w12 * c12 + w22 * c22
            np.add(e11 + t11 * w11, t12 * w12, out=E[0])
            np.add(e12 + t11 * w12, t12 * w22, out=E[1])
            np.add(e22 + t21 * w12, t22 * w22, out=E[2])
        g = add(E, axis=2)
        g11 = _HALF * g[0]
        g12 = _HALF * g[1]
        g22 = _HALF * g[2]
        a, b, c = a[:, 0], b[:, 0], c[:, 0]
        grad = np.empty((thetas.shape[0], 3))
        grad[:, 0] = g11 * a + g12 * b
        grad[:, 1] = g12 * a + g22 * b
        grad[:, 2] = g22 * c
        grad *= _MINUS_TWO
        return -ll, grad


def cholesky_params(psi: np.ndarray) -> np.ndarray:
    """Return ``(a, b, c)`` of the lower Cholesky factor ``[[a, 0], [b, c]]`` of ``psi``."""
    a = math.sqrt(max(psi[0, 0], 0.0))
    b = psi[0, 1] / a if a > 0 else 0.0
    c = math.sqrt(max(psi[1, 1] - b * b, 0.0))
    return np.array([a, b, c])


#: Every Cholesky entry free (the full model).
ALL_FREE = np.array([True, True, True])


def psi_from(theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Return ``Psi = L L'`` from the free Cholesky entries ``theta`` (the others are 0)."""
    full = np.zeros(3)
    full[free] = theta
    L = np.array([[full[0], 0.0], [full[1], full[2]]])
    return L @ L.T


def near_boundary(psi: np.ndarray) -> bool:
    """Tell whether ``psi`` is close enough to the boundary to fit the boundary sub-models."""
    t1, t2 = psi[0, 0], psi[1, 1]
    if t1 < 1e-4 or t2 < 1e-4:
        return True
    rho = psi[0, 1] / math.sqrt(t1 * t2)
    return abs(rho) > 0.99


def boundary_names(psi: np.ndarray) -> list[str]:
    """Name the parameters of ``psi`` on the boundary: ``tau2_1``, ``tau2_2`` or ``rho``."""
    out = []
    t1, t2 = psi[0, 0], psi[1, 1]
    if t1 < 1e-8:
        out.append("tau2_1")
    if t2 < 1e-8:
        out.append("tau2_2")
    if t1 >= 1e-8 and t2 >= 1e-8 and abs(psi[0, 1]) / math.sqrt(t1 * t2) > 1 - 1e-6:
        out.append("rho")
    return out


