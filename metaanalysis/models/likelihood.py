"""The likelihood of the bivariate normal model of the logits, and its parameter space.

This module owns what every optimiser of that model shares: the (restricted)
log-likelihood with its analytic gradient and, for the intercept-only model, its
analytic Hessian (:class:`Likelihood`), the map from
the lower Cholesky factor ``L = [[a, 0], [b, c]]`` to ``Psi = L L'``, the
boundary tests, and the raw fit record (:class:`BivariateNormalFit`). The
optimisers live in :mod:`metaanalysis.models.reitsma` (modified Newton, the
default) and :mod:`metaanalysis.models.mada_path` (mada's IGLS + BFGS path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from metaanalysis.errors import MetaAnalysisWarning

__all__ = ["ALL_FREE", "BivariateNormalFit", "Likelihood", "boundary_names", "cholesky_params",
           "near_boundary", "psi_from"]

_LOG2PI = math.log(2.0 * math.pi)


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
    """Negative (restricted) log-likelihood of ``vech`` Cholesky parameters, with derivatives."""

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
        if X is None:
            self._buffers(k)

    def _buffers(self, k: int) -> None:
        """Allocate the work arrays of :meth:`derivatives` and their fixed views.

        ``Z`` holds, one row each, ``y1, y2, 1, w11, w12, w22`` and then either
        ``log|V_i|`` or the residuals ``r1, r2``; ``U`` holds ``1, u1, u2``.
        """
        Z = np.empty((8, k))
        Z[0] = self.y1
        Z[1] = self.y2
        Z[2] = 1.0
        base = np.empty((3, k))
        base[0] = self.s2
        base[1] = 0.0
        base[2] = self.s1
        self._base = base
        self._pcol = np.empty((3, 1))
        self._W = Z[3:6]
        self._v22, self._v11, self._logdet = Z[3], Z[5], Z[6]
        self._g_col, self._g_row = Z[2:6, None, :], Z[None, 2:6, :]
        self._q1 = np.empty((4, 4, k))
        self._q1_flat = self._q1.reshape(16, k)
        self._p1 = Z[0:7].T
        self._mu = np.empty((2, 1))
        self._yy, self._r = Z[0:2], Z[6:8]
        self._w_top, self._w_bottom, self._r1, self._r2 = Z[3:5], Z[4:6], Z[6], Z[7]
        U = np.empty((3, k))
        U[0] = 1.0
        self._u = U[1:3]
        self._tmp = np.empty((2, k))
        self._u_col, self._u_row = U[:, None, :], U[None, :, :]
        self._q2 = np.empty((3, 3, k))
        self._q2_flat = self._q2.reshape(9, k)
        self._p2 = Z[2:8].T

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

    def derivatives(self, theta: Sequence[float]) -> tuple[float, list[float], list[list[float]],
                                                           list[list[float]]]:
        """Negative log-likelihood, its gradient, Hessian and expected information in closed form.

        For the intercept-only model (``X is None``). The derivatives in the
        entries ``(psi11, psi12, psi22)`` of ``Psi`` are those of the restricted
        likelihood of a linear mixed model (Harville 1977; Searle, Casella and
        McCulloch 1992, ch. 6): with ``P = W - W X C X' W`` and ``V_m = dV/dpsi_m``
        (``V`` is linear in ``Psi``, so its second derivatives vanish),

            dl/dpsi_m = -1/2 tr(P V_m) + 1/2 y' P V_m P y,
            d2l/dpsi_m dpsi_n = 1/2 tr(P V_m P V_n) - y' P V_m P V_n P y;

        for ML the traces take ``W`` instead of ``P`` (the quadratic terms, of the
        profile likelihood in ``beta``, keep ``P``). The expected information is
        the trace term alone, ``1/2 tr(P V_m P V_n)``, as ``E[y' P V_m P V_n P y]
        = tr(P V_m P V_n)`` (Fisher scoring). With 2x2 blocks and an
        intercept design every trace is a weighted sum over studies of
        products of the entries of ``W_i`` and ``u_i = W_i r_i``, so all of them
        come from two matrix products of per-study monomials. The chain rule
        through ``Psi = L L'`` gives the derivatives in ``theta = (a, b, c)``.

        Parameters
        ----------
        theta : sequence of float
            ``(a, b, c)`` of the lower Cholesky factor ``[[a, 0], [b, c]]``.

        Returns
        -------
        f : float
            Negative (restricted) log-likelihood.
        grad : list of float
            Its gradient in ``(a, b, c)``.
        hess : list of list of float
            Its Hessian in ``(a, b, c)`` (3x3, symmetric).
        info : list of list of float
            The expected information in ``(a, b, c)``, ``J' I_psi J`` with ``J``
            the Jacobian of ``(psi11, psi12, psi22)`` (3x3, symmetric).

        References
        ----------
        .. [1] Harville DA. Maximum likelihood approaches to variance component
           estimation and to related problems. J Am Stat Assoc 1977;72:320-338.
        .. [2] Searle SR, Casella G, McCulloch CE. Variance Components. New York:
           Wiley; 1992.
        """
        a, b, c = theta
        p11, p12, p22 = a * a, a * b, b * b + c * c
        # pass 1, at Psi: the weights, then sum_i of every product of up to three of
        # (1, w11, w12, w22) with one of (y1, y2, 1, w11, w12, w22, log|V_i|)
        pcol = self._pcol
        pcol[0, 0] = p22
        pcol[1, 0] = -p12
        pcol[2, 0] = p11
        W = np.add(self._base, pcol, out=self._W)  # (v22, -v12, v11)
        det = self._v22 * self._v11
        det -= p12 * p12
        np.divide(W, det, out=W)
        np.log(det, out=self._logdet)
        np.multiply(self._g_col, self._g_row, out=self._q1)
        t = np.dot(self._q1_flat, self._p1).tolist()
        t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
        sw1, sw2, sw3 = t0[3], t0[4], t0[5]
        adet = sw1 * sw3 - sw2 * sw2
        if not 0.0 < adet < math.inf:  # Psi overflowed: no finite likelihood here
            nan = math.nan
            return math.inf, [nan] * 3, [[nan] * 3 for _ in range(3)], \
                [[nan] * 3 for _ in range(3)]
        c11, c12, c22 = sw3 / adet, -sw2 / adet, sw1 / adet
        b1 = t1[0] + t2[1]
        b2 = t2[0] + t3[1]
        mu = self._mu
        mu[0, 0] = c11 * b1 + c12 * b2
        mu[1, 0] = c12 * b1 + c22 * b2
        # pass 2, at the GLS means: residuals r_i and u_i = W_i r_i, then sum_i of every
        # product of up to two of (1, u1, u2) with one of (1, w11, w12, w22, r1, r2)
        np.subtract(self._yy, mu, out=self._r)
        u = np.multiply(self._w_top, self._r1, out=self._u)
        u += np.multiply(self._w_bottom, self._r2, out=self._tmp)
        np.multiply(self._u_col, self._u_row, out=self._q2)
        s = np.dot(self._q2_flat, self._p2).tolist()
        su1, su2, su11, su12, su22 = s[1], s[2], s[4], s[5], s[8]
        ll = self.const - 0.5 * t0[6] - 0.5 * (su1[4] + su2[5])
        s11, s12, s13, s22, s23, s33 = t1[3], t1[4], t1[5], t2[4], t2[5], t3[5]
        # gradient in (psi11, psi12, psi22), twice over
        g1 = su11[0] - sw1
        g2 = 2.0 * (su12[0] - sw2)
        g3 = su22[0] - sw3
        # Hessian: the traces sum_i tr(W_i E_m W_i E_n), twice over ...
        h11, h12, h13 = s11, 2.0 * s12, s22
        h22, h23, h33 = 2.0 * (s22 + s13), 2.0 * s23, s33
        if self.reml:
            ll -= 0.5 * math.log(adet)
            # ... minus 2 sum_i tr(C W_i E_m W_i E_n W_i) plus tr(C M_m C M_n), with
            # M_m = sum_i W_i E_m W_i, for REML
            m12 = s13 + s22
            k10, k11 = c11 * s11 + c12 * s12, c11 * s12 + c12 * s22
            k12, k13 = c12 * s11 + c22 * s12, c12 * s12 + c22 * s22
            k20, k21 = 2.0 * (c11 * s12) + c12 * m12, c11 * m12 + 2.0 * (c12 * s23)
            k22, k23 = 2.0 * (c12 * s12) + c22 * m12, c12 * m12 + 2.0 * (c22 * s23)
            k30, k31 = c11 * s22 + c12 * s23, c11 * s23 + c12 * s33
            k32, k33 = c12 * s22 + c22 * s23, c12 * s23 + c22 * s33
            g1 += k10 + k13
            g2 += k20 + k23
            g3 += k30 + k33
            t5, t6, t7, t10, t11 = t[5], t[6], t[7], t[10], t[11]
            e111, e112, e113, e122, e123 = t5[3], t5[4], t5[5], t6[4], t6[5]
            e133, e222, e223, e233, e333 = t7[5], t10[4], t10[5], t11[5], t[15][5]
            cc = 2.0 * c12
            q11_1 = c11 * e111 + cc * e112 + c22 * e122
            q11_2 = c11 * e112 + cc * e122 + c22 * e222
            q11_3 = c11 * e113 + cc * e123 + c22 * e223
            q12_1 = c11 * e112 + c12 * (e113 + e122) + c22 * e123
            q12_2 = c11 * e122 + c12 * (e123 + e222) + c22 * e223
            q12_3 = c11 * e123 + c12 * (e133 + e223) + c22 * e233
            q22_1 = c11 * e122 + cc * e123 + c22 * e133
            q22_2 = c11 * e222 + cc * e223 + c22 * e233
            q22_3 = c11 * e223 + cc * e233 + c22 * e333
            h11 += k10 * k10 + 2.0 * (k11 * k12) + k13 * k13 - 2.0 * q11_1
            h12 += k10 * k20 + k11 * k22 + k12 * k21 + k13 * k23 - 2.0 * (q12_1 + q11_2)
            h13 += k10 * k30 + k11 * k32 + k12 * k31 + k13 * k33 - 2.0 * q12_2
            h22 += (k20 * k20 + 2.0 * (k21 * k22) + k23 * k23
                    - 2.0 * (q11_3 + 2.0 * q12_2 + q22_1))
            h23 += k20 * k30 + k21 * k32 + k22 * k31 + k23 * k33 - 2.0 * (q12_3 + q22_2)
            h33 += k30 * k30 + 2.0 * (k31 * k32) + k33 * k33 - 2.0 * q22_3
        # the quadratic terms sum_i u_i' E_m W_i E_n u_i - z_m' C z_n, z_m = sum_i W_i E_m u_i
        za1, za2 = su1[1], su1[2]
        zc1, zc2 = su2[2], su2[3]
        zb1, zb2 = su2[1] + su1[2], su2[2] + su1[3]
        ca1, ca2 = c11 * za1 + c12 * za2, c12 * za1 + c22 * za2
        cb1, cb2 = c11 * zb1 + c12 * zb2, c12 * zb1 + c22 * zb2
        cc1, cc2 = c11 * zc1 + c12 * zc2, c12 * zc1 + c22 * zc2
        H11 = 0.5 * h11 - su11[1] + (ca1 * za1 + ca2 * za2)
        H12 = 0.5 * h12 - (su12[1] + su11[2]) + (ca1 * zb1 + ca2 * zb2)
        H13 = 0.5 * h13 - su12[2] + (ca1 * zc1 + ca2 * zc2)
        H22 = 0.5 * h22 - (su22[1] + 2.0 * su12[2] + su11[3]) + (cb1 * zb1 + cb2 * zb2)
        H23 = 0.5 * h23 - (su22[2] + su12[3]) + (cb1 * zc1 + cb2 * zc2)
        H33 = 0.5 * h33 - su22[3] + (cc1 * zc1 + cc2 * zc2)
        g1 *= 0.5
        g2 *= 0.5
        g3 *= 0.5
        # through Psi = L L': d psi / d(a, b, c) has columns (2a, b, 0), (0, a, 2b),
        # (0, 0, 2c), and the second derivatives of psi11, psi12, psi22 are constants
        a2, b2, c2 = 2.0 * a, 2.0 * b, 2.0 * c
        ha1, ha2, ha3 = a2 * H11 + b * H12, a2 * H12 + b * H22, a2 * H13 + b * H23
        hb2, hb3 = a * H22 + b2 * H23, a * H23 + b2 * H33
        haa = a2 * ha1 + b * ha2 + 2.0 * g1
        hab = a * ha2 + b2 * ha3 + g2
        hac = c2 * ha3
        hbb = a * hb2 + b2 * hb3 + 2.0 * g3
        hbc = c2 * hb3
        hcc = c2 * c2 * H33 + 2.0 * g3
        grad = [-(a2 * g1 + b * g2), -(a * g2 + b2 * g3), -(c2 * g3)]
        hess = [[-haa, -hab, -hac], [-hab, -hbb, -hbc], [-hac, -hbc, -hcc]]
        # the expected information: the trace terms alone (E y'P V_m P V_n P y is
        # tr(P V_m P V_n)), through the first derivatives of Psi only
        fa1, fa2, fa3 = a * h11 + 0.5 * b * h12, a * h12 + 0.5 * b * h22, a * h13 + 0.5 * b * h23
        fb2, fb3 = 0.5 * a * h22 + b * h23, 0.5 * a * h23 + b * h33
        info = [[a2 * fa1 + b * fa2, a * fa2 + b2 * fa3, c2 * fa3],
                [a * fa2 + b2 * fa3, a * fb2 + b2 * fb3, c2 * fb3],
                [c2 * fa3, c2 * fb3, 2.0 * c * c * h33]]
        return -ll, grad, hess, info


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


