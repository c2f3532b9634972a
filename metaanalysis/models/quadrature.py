"""Marginal likelihood of the bivariate binomial-normal model, by Laplace and adaptive quadrature.

The model (Chu & Cole 2006) for study ``i`` with counts ``y = (TP, TN)`` out of
``n = (TP + FN, TN + FP)``::

    y_ij ~ Binomial(n_ij, expit(eta_ij)),    eta_i = B x_i + Lambda u_i,    u_i ~ N(0, I_2)

where ``B`` (2, p) holds the fixed effects of the two logits (sensitivity,
specificity) on the study covariates ``x_i`` and ``Lambda`` is the lower
Cholesky factor of the between-study covariance, parameterised as in lme4 by
``theta = (Lambda11, Lambda21, Lambda22)``.  Working in the spherical
random-effect ``u`` keeps the likelihood defined on the boundary (a zero
variance or a correlation of +-1).

Everything here works on plain arrays and is vectorised over studies: the
conditional modes of all studies are found by one Newton iteration on arrays of
shape ``(k,)``.  The 2x2 algebra is written out explicitly because it is much
faster than stacked ``numpy.linalg`` calls on tiny matrices.

References
----------
.. [1] Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity
   with sparse data: a generalized linear mixed model approach. J Clin
   Epidemiol 2006;59:1331-1332.
.. [2] Bates D, Maechler M, Bolker B, Walker S. Fitting linear mixed-effects
   models using lme4. J Stat Softw 2015;67(1). (Laplace deviance of glmer:
   conditional deviance + ||u||^2 + log|L|^2.)
.. [3] Pinheiro JC, Bates DM. Approximations to the log-likelihood function in
   the nonlinear mixed-effects model. J Comput Graph Stat 1995;4:12-35.
   (Adaptive Gauss-Hermite quadrature.)
.. [4] Liu Q, Pierce DA. A note on Gauss-Hermite quadrature. Biometrika
   1994;81:624-629.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metaanalysis.numerics import gammaln, xlogy

__all__ = ["BinomialData", "ModeState", "laplace_loglik", "aghq_loglik", "conditional_modes",
           "hermite_grid", "PirlsResult", "lme4_initial_eta", "lme4_pirls", "LME4_TOL_PWRSS"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def expit(eta: np.ndarray) -> np.ndarray:
    """Success probability ``1 / (1 + exp(-eta))`` in two ufunc calls, for the inner loops.

    ``exp(-log(1 + exp(-eta)))``: no overflow, a relative error of a few
    ``|eta|`` units in the last place (the conditioning of the logistic
    function itself), and a third of the calls of
    :func:`metaanalysis.numerics.expit`, which matters in loops run hundreds
    of times per fit on arrays of a few dozen studies.
    """
    return np.exp(-np.logaddexp(0.0, -eta))


@dataclass
class BinomialData:
    """Counts and design of the bivariate binomial model.

    Parameters
    ----------
    y : ndarray, shape (k, 2)
        Events: true positives and true negatives.
    n : ndarray, shape (k, 2)
        Trials: diseased (TP + FN) and non-diseased (TN + FP) subjects.
    X : ndarray, shape (k, p)
        Study-level design applied to both logits (a column of ones for the
        intercept-only model).
    """

    y: np.ndarray
    n: np.ndarray
    X: np.ndarray
    log_choose: float = field(init=False)
    y1: np.ndarray = field(init=False, repr=False)
    y2: np.ndarray = field(init=False, repr=False)
    n1: np.ndarray = field(init=False, repr=False)
    n2: np.ndarray = field(init=False, repr=False)
    #: whether the design is a single column of ones (the pooled model): each study's
    #: offsets are then the two intercepts themselves
    intercept_only: bool = field(init=False, repr=False)
    #: events and trials of the two logits as rows (2, k), for operations on both at once
    y_rows: np.ndarray = field(init=False, repr=False)
    n_rows: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=float)
        self.n = np.asarray(self.n, dtype=float)
        self.X = np.asarray(self.X, dtype=float)
        y, n = self.y, self.n
        self.log_choose = float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)))
        # contiguous columns for the inner loops
        self.y1, self.y2 = np.ascontiguousarray(y[:, 0]), np.ascontiguousarray(y[:, 1])
        self.n1, self.n2 = np.ascontiguousarray(n[:, 0]), np.ascontiguousarray(n[:, 1])
        self.intercept_only = bool(self.X.shape[1] == 1 and np.all(self.X == 1.0))
        self.y_rows, self.n_rows = np.ascontiguousarray(y.T), np.ascontiguousarray(n.T)

    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.y.shape[0])

    @property
    def p(self) -> int:
        """Number of columns of the design (per logit)."""
        return int(self.X.shape[1])


@dataclass
class ModeState:
    """Warm start for the conditional modes, carried between likelihood evaluations."""

    u: np.ndarray | None = None
    newton_iterations: int = 0


#: 1 and 1/2 as numpy scalars: numpy multiplies or adds an array and a numpy scalar in
#: about half the time it takes with a Python float (the same operation, so the same
#: numbers); the inner loops below take a few dozen such steps per Newton iteration.
_ONE = np.float64(1.0)
_HALF = np.float64(0.5)
_TWO = np.float64(2.0)


def _split(phi: np.ndarray, p: int) -> tuple[np.float64, np.float64, np.float64, np.ndarray]:
    """``theta`` as three numpy scalars and ``B`` (2, p) from ``phi``."""
    phi = np.asarray(phi, dtype=float)
    a, b, c = phi[0], phi[1], phi[2]
    B = phi[3:3 + 2 * p].reshape(2, p)
    return a, b, c, B


def _offsets(data: BinomialData, B: np.ndarray
             ) -> tuple[np.ndarray | np.float64, np.ndarray | np.float64]:
    """Return the fixed part ``X B'`` of each logit, per study.

    With an intercept-only design each study's offset is the intercept itself
    (``1 * beta`` exactly), so the two intercepts are returned as numbers, which
    broadcast to the same values without the product.
    """
    if data.intercept_only:
        return B[0, 0], B[1, 0]
    off = data.X @ B.T
    return np.ascontiguousarray(off[:, 0]), np.ascontiguousarray(off[:, 1])


def _cond_loglik(y: np.ndarray, n: np.ndarray, eta1: np.ndarray, eta2: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood without the log-choose constants, per study."""
    return (y[:, 0] * eta1 - n[:, 0] * np.logaddexp(0.0, eta1)
            + y[:, 1] * eta2 - n[:, 1] * np.logaddexp(0.0, eta2))


def conditional_modes(phi: np.ndarray, data: BinomialData, state: ModeState | None = None,
                      tol: float = 1e-7, max_iter: int = 100, *, rows: bool = False
                      ) -> np.ndarray:
    """Conditional modes ``u_i`` of the spherical random effects, all studies at once.

    Maximises ``f_i(u) = log p(y_i | u) - |u|^2 / 2`` by damped Newton steps.
    ``f_i`` is strictly concave (its negative Hessian is ``I + Lambda' W Lambda``),
    so the iteration converges from any start; steps that do not increase
    ``f_i`` are halved.

    Parameters
    ----------
    phi : ndarray
        ``(theta1, theta2, theta3, B.ravel())``.
    data : BinomialData
        Counts and design.
    state : ModeState, optional
        Warm start; updated in place with the modes found.
    tol : float
        Stop after a Newton step smaller than this (convergence is quadratic,
        so the modes are then accurate to about ``tol**2``).
    max_iter : int
        Maximum number of Newton iterations.
    rows : bool
        Return the modes as rows, shape (2, k), instead.

    Returns
    -------
    ndarray, shape (k, 2)
        The modes.
    """
    a, b, c, B = _split(phi, data.p)
    o1, o2 = _offsets(data, B)
    y1, y2, n1, n2 = data.y1, data.y2, data.n1, data.n2
    y_rows, n_rows = data.y_rows, data.n_rows
    amax = np.maximum.reduce  # ndarray.max without its Python wrapper
    k = data.k
    # the two logits' quantities, and the two modes, are the rows of (2, k) arrays, so
    # that one call computes both (each entry the same operations as written out per row)
    if state is not None and state.u is not None and state.u.shape == (k, 2):
        U = state.u.T.copy()
    else:
        U = np.zeros((2, k))
    u1, u2 = U
    aa, bb, cc, bc = a * a, b * b, c * c, b * c
    eta = np.empty((2, k))
    D = np.empty((2, k))

    def objective(v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
        e1 = o1 + a * v1
        e2 = o2 + b * v1 + c * v2
        return (y1 * e1 - n1 * np.logaddexp(0.0, e1) + y2 * e2 - n2 * np.logaddexp(0.0, e2)
                - _HALF * (v1 * v1 + v2 * v2))

    anyof = np.logical_or.reduce  # np.any without its Python wrapper
    f_old: np.ndarray | None = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        np.add(o1, a * u1, out=eta[0])
        np.add(o2 + b * u1, c * u2, out=eta[1])
        p = expit(eta)
        n_p = n_rows * p
        g1, g2 = y_rows - n_p  # y - n p of each logit
        w1, w2 = n_p - n_p * p  # n p (1 - p)
        r1 = a * g1 + b * g2 - u1
        r2 = c * g2 - u2
        h11 = _ONE + aa * w1 + bb * w2
        h12 = bc * w2
        h22 = _ONE + cc * w2
        det = h11 * h22 - h12 * h12
        d1 = np.divide(h22 * r1 - h12 * r2, det, out=D[0])
        d2 = np.divide(h11 * r2 - h12 * r1, det, out=D[1])
        step = 1.0
        V = U + D
        v1, v2 = V
        biggest = amax(np.abs(D), axis=None)
        if biggest < 0.05:  # close to the mode: a full Newton step on a concave function
            U = V
            u1, u2 = v1, v2
            if biggest < tol:
                break
            f_old = None
            continue
        if f_old is None:
            f_old = objective(u1, u2)
        f_new = objective(v1, v2)
        bad = f_new < f_old - 1e-12 * (1.0 + np.abs(f_old))
        while anyof(bad) and step > 1e-8:
            step *= 0.5
            v1 = np.where(bad, u1 + step * d1, v1)
            v2 = np.where(bad, u2 + step * d2, v2)
            f_try = objective(v1, v2)
            f_new = np.where(bad, f_try, f_new)
            bad = bad & (f_try < f_old - 1e-12 * (1.0 + np.abs(f_old)))
        u1, u2, f_old = v1, v2, f_new
        U = np.stack([u1, u2])
        if biggest < tol:
            break
    out = U.T.copy()  # (k, 2)
    if state is not None:
        state.u = out if rows else out.copy()
        state.newton_iterations += it
    return U if rows else out


def laplace_loglik(phi: np.ndarray, data: BinomialData, state: ModeState | None = None,
                   gradient: bool = True, per_study: bool = False
                   ) -> tuple[float, np.ndarray | None] | np.ndarray:
    """Laplace approximation to the marginal log-likelihood, with its exact gradient.

    Per study, ``log L_i = log p(y_i | u_i) - |u_i|^2/2 - log det(I + Lambda' W_i Lambda)/2``
    at the conditional mode ``u_i``, including the binomial ``log choose(n, y)``
    constants: this is ``-deviance/2`` of lme4's ``glmer(nAGQ = 1)``.

    The gradient is the total derivative: the mode moves with the parameters
    (implicit function theorem), which matters for the log-determinant term.

    Parameters
    ----------
    phi : ndarray
        ``(theta1, theta2, theta3, B.ravel())`` with ``B`` of shape (2, p),
        row 0 for logit sensitivity, row 1 for logit specificity.
    data : BinomialData
        Counts and design.
    state : ModeState, optional
        Warm start for the modes.
    gradient : bool
        Also return the gradient with respect to ``phi``.
    per_study : bool
        Return the per-study log-likelihood contributions instead.

    Returns
    -------
    (float, ndarray or None) or ndarray
        Log-likelihood and gradient, or the per-study contributions.
    """
    phi = np.asarray(phi, dtype=float)
    a, b, c, B = _split(phi, data.p)
    u1, u2 = conditional_modes(phi, data, state, rows=True)
    y, n, X = data.y, data.n, data.X
    y_rows, n_rows = data.y_rows, data.n_rows
    o1, o2 = _offsets(data, B)
    # the two logits' quantities are the rows of (2, k) arrays, so that one call computes
    # both (each entry the same operations as written out per logit)
    eta = np.empty((2, u1.shape[0]))
    np.add(o1, a * u1, out=eta[0])
    np.add(o2 + b * u1, c * u2, out=eta[1])
    p = expit(eta)
    p1, p2 = p
    n_p = n_rows * p
    w = n_p - n_p * p
    w1, w2 = w
    h11 = _ONE + a * a * w1 + b * b * w2
    h12 = b * c * w2
    h22 = _ONE + c * c * w2
    det = h11 * h22 - h12 * h12
    ye = y_rows * eta
    nl = n_rows * np.logaddexp(0.0, eta)
    ll_i = ye[0] - nl[0] + ye[1] - nl[1] - _HALF * (u1 * u1 + u2 * u2 + np.log(det))
    if per_study:
        return ll_i + (gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)).sum(axis=1)
    add = np.add.reduce  # ndarray.sum without its Python wrapper
    ll = float(add(ll_i)) + data.log_choose
    if not gradient:
        return ll, None

    g1, g2 = y_rows - n_p
    i11, i12, i22 = h22 / det, -h12 / det, h11 / det
    # The derivative of log L_i along a parameter is
    #   g' s - (tr(H^-1 dH/dLambda) + sum_j w'_j m_j de_j) / 2,
    # with s = d eta / d parameter at fixed u, de = s + Lambda du the total change of
    # eta, du = H^-1 (dLambda' g - Lambda' W s) the move of the mode (implicit function
    # theorem), w' = dw/deta and m = diag(Lambda H^-1 Lambda').  Everything is linear
    # in (s, dLambda), so the mode's move is folded into per-study weights E1, E2 of
    # s1, s2 and R1, R2 of dLambda' g; the five directions (the two offsets, theta1,
    # theta2, theta3) then take a few array operations each.
    q1, q2, cw2 = a * w1, b * w2, c * w2
    wd1, wd2 = w - _TWO * w * p  # w1 - 2 w1 p1, w2 - 2 w2 p2
    A1 = wd1 * (a * a * i11)
    A2 = wd2 * (b * b * i11 + 2 * b * c * i12 + c * c * i22)
    P, Q = a * A1 + b * A2, c * A2
    R1 = P * i11 + Q * i12
    R2 = P * i12 + Q * i22
    E1 = g1 - _HALF * (A1 - R1 * q1)
    E2 = g2 - _HALF * (A2 - R1 * q2 - R2 * cw2)
    d_a = E1 * u1 - i11 * q1 - _HALF * R1 * g1
    d_b = E2 * u1 - w2 * (i11 * b + i12 * c) - _HALF * R1 * g2
    d_c = E2 * u2 - w2 * (i12 * b + i22 * c) - _HALF * R2 * g2
    grad = np.concatenate([[add(d_a), add(d_b), add(d_c)], X.T @ E1, X.T @ E2])
    return ll, grad


def hermite_grid(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite rule for ``N(0, I_2)``-type integrals.

    Parameters
    ----------
    nagq : int
        Points per dimension.

    Returns
    -------
    z : ndarray, shape (nagq**2, 2)
        Nodes.
    log_w : ndarray, shape (nagq**2,)
        Log of ``w_q exp(|z_q|^2 / 2) / (2 pi)``, where ``w_q`` integrates
        against ``exp(-|z|^2/2)``; so that ``sum_q exp(log_w_q + g(z_q))``
        approximates ``(2 pi)^-1 * integral exp(g(z)) dz``.
    """
    x, w = np.polynomial.hermite_e.hermegauss(nagq)
    z1, z2 = np.meshgrid(x, x, indexing="ij")
    w2 = np.outer(w, w).ravel()
    z = np.column_stack([z1.ravel(), z2.ravel()])
    log_w = np.log(w2) + 0.5 * np.sum(z * z, axis=1) - _LOG_2PI
    return z, log_w


def aghq_loglik(phi: np.ndarray, data: BinomialData, nagq: int,
                state: ModeState | None = None, per_study: bool = False) -> float | np.ndarray:
    """Adaptive Gauss-Hermite approximation to the marginal log-likelihood.

    Each study's integral over ``u`` is recentred at its conditional mode and
    scaled by the Cholesky factor of the inverse curvature
    ``(I + Lambda' W Lambda)^-1``, then evaluated on a tensor-product rule of
    ``nagq`` points per dimension.  ``nagq = 1`` is the Laplace approximation.

    Parameters
    ----------
    phi : ndarray
        ``(theta1, theta2, theta3, B.ravel())``.
    data : BinomialData
        Counts and design.
    nagq : int
        Points per dimension.
    state : ModeState, optional
        Warm start for the modes.
    per_study : bool
        Return per-study contributions.

    Returns
    -------
    float or ndarray
        The log-likelihood (with the binomial constants).
    """
    phi = np.asarray(phi, dtype=float)
    a, b, c, B = _split(phi, data.p)
    u = conditional_modes(phi, data, state)
    u1, u2 = u[:, 0], u[:, 1]
    y, n = data.y, data.n
    off = data.X @ B.T
    eta1 = off[:, 0] + a * u1
    eta2 = off[:, 1] + b * u1 + c * u2
    p1, p2 = expit(eta1), expit(eta2)
    w1, w2 = n[:, 0] * p1 * (1 - p1), n[:, 1] * p2 * (1 - p2)
    h11 = 1.0 + a * a * w1 + b * b * w2
    h12 = b * c * w2
    h22 = 1.0 + c * c * w2
    det = h11 * h22 - h12 * h12
    f_mode = _cond_loglik(y, n, eta1, eta2) - 0.5 * (u1 * u1 + u2 * u2)
    # H = L L' (lower); C = L^-T (upper) so that C C' = H^-1
    l11 = np.sqrt(h11)
    l21 = h12 / l11
    l22 = np.sqrt(h22 - l21 * l21)
    c11 = 1.0 / l11
    c12 = -l21 / (l11 * l22)
    c22 = 1.0 / l22
    z, log_w = hermite_grid(nagq)
    z1, z2 = z[:, 0][None, :], z[:, 1][None, :]
    v1 = u1[:, None] + c11[:, None] * z1 + c12[:, None] * z2
    v2 = u2[:, None] + c22[:, None] * z2
    e1 = off[:, 0][:, None] + a * v1
    e2 = off[:, 1][:, None] + b * v1 + c * v2
    f = (y[:, 0][:, None] * e1 - n[:, 0][:, None] * np.logaddexp(0.0, e1)
         + y[:, 1][:, None] * e2 - n[:, 1][:, None] * np.logaddexp(0.0, e2)
         - 0.5 * (v1 * v1 + v2 * v2))
    t = f - f_mode[:, None] + log_w[None, :]
    tmax = np.max(t, axis=1, keepdims=True)
    log_sum = tmax[:, 0] + np.log(np.sum(np.exp(t - tmax), axis=1))
    ll_i = f_mode - 0.5 * np.log(det) + log_sum
    if per_study:
        return ll_i + (gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)).sum(axis=1)
    return float(np.sum(ll_i)) + data.log_choose


# ------------------------------------------------------------ lme4-compatible PIRLS --
#: lme4's default ``glmerControl(tolPwrss = 1e-7)``: relative change of the penalised deviance.
LME4_TOL_PWRSS = 1e-7
#: R's binomial inverse link keeps ``mu`` in ``[eps, 1 - eps]``: ``|eta| <= -logit(eps)``.
_ETA_CLAMP = float(-np.log(np.finfo(float).eps / (1.0 - np.finfo(float).eps)))
#: Step-halvings allowed per PIRLS iteration when the penalised deviance goes up.
_MAX_HALVINGS = 10


@dataclass(frozen=True)
class PirlsResult:
    """State left by :func:`lme4_pirls`.

    Attributes
    ----------
    deviance : float
        lme4's Laplace deviance ``log|L|^2 + ||u||^2 - 2 log p(y | u)`` (with the
        binomial constants), ``L`` being the Cholesky factor of the last
        decomposition made, i.e. with the weights of the iterate before the last update.
    u : numpy.ndarray
        (k, 2) spherical random effects at the last iterate.
    beta : numpy.ndarray
        (2, p) fixed effects (solved for jointly, or the ones given).
    eta : numpy.ndarray
        (k, 2) linear predictor at the last iterate.
    iterations : int
        PIRLS iterations used.
    converged : bool
        Whether the stopping rule was met within the iteration limit.
    """

    deviance: float
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    iterations: int
    converged: bool


def lme4_initial_eta(data: BinomialData) -> np.ndarray:
    """Linear predictor glmer starts from: ``logit(mustart)`` with ``mustart = (y + 1/2)/(n + 1)``.

    This is R's ``binomial()$initialize`` for a two-column (events, non-events) response.

    Parameters
    ----------
    data : BinomialData
        Counts.

    Returns
    -------
    numpy.ndarray
        (k, 2) linear predictor.
    """
    return np.log((data.y + 0.5) / (data.n - data.y + 0.5))


def _binomial_deviance(data: BinomialData, eta: np.ndarray) -> float:
    """Sum of binomial deviance residuals at ``eta`` (0 for a saturated fit)."""
    y, n = data.y, data.n
    mu = expit(eta)
    return float(2.0 * np.sum(xlogy(y, y) - xlogy(y, n * mu)
                              + xlogy(n - y, n - y) - xlogy(n - y, n * (1.0 - mu))))


def lme4_pirls(theta: np.ndarray, data: BinomialData, eta0: np.ndarray,
               beta: np.ndarray | None = None, tol: float = LME4_TOL_PWRSS,
               max_iter: int = 100) -> PirlsResult:
    """Penalised iteratively reweighted least squares as glmer runs it, with its stopping rule.

    Each iteration takes the weights ``W = n mu (1 - mu)`` and the working
    response ``z = eta - offset + (y - n mu) / W`` of the current linear
    predictor and solves the penalised weighted least-squares problem
    ``min ||W^(1/2) (z - Z Lambda u - X beta)||^2 + ||u||^2`` for the
    spherical random effects ``u`` (and, in glmer's first, ``nAGQ = 0``
    stage, jointly for the fixed effects ``beta``).  The iteration stops when
    the penalised deviance ``pdev = sum of deviance residuals + ||u||^2``
    changes by less than ``tol`` relative to its new value; when ``pdev``
    increases, the step is halved (at most 10 times).  The Laplace deviance is
    then evaluated at the last iterate, but with ``log|L|^2`` from the
    decomposition that produced it (the weights of the iterate before).  With
    the default ``tol = 1e-7`` this stops after two or three iterations, not
    at the exact conditional modes; that is what makes glmer's default output
    differ from the Laplace approximation by up to about 1e-3.

    Parameters
    ----------
    theta : numpy.ndarray
        (3,) Cholesky parameters ``(Lambda11, Lambda21, Lambda22)``.
    data : BinomialData
        Counts and design.
    eta0 : numpy.ndarray
        (k, 2) linear predictor the iteration starts from (glmer: the start
        :func:`lme4_initial_eta` in the first stage, the first stage's final
        linear predictor in the second).
    beta : numpy.ndarray, optional
        (2, p) fixed effects held fixed (the offset ``X beta``); ``None``
        solves for them jointly with ``u``.
    tol : float
        Relative change of the penalised deviance that stops the iteration.
    max_iter : int
        Iteration limit.

    Returns
    -------
    PirlsResult

    References
    ----------
    .. [1] Bates D, Maechler M, Bolker B, Walker S. Fitting linear mixed-effects
       models using lme4. J Stat Softw 2015;67(1). (PIRLS; glmer's two stages,
       ``nAGQ = 0`` then ``nAGQ = 1``; ``glmerControl(tolPwrss = 1e-7)``.)
    """
    a, b, c = (float(v) for v in np.asarray(theta, dtype=float)[:3])
    X, y, n = data.X, data.y, data.n
    k, p = X.shape
    joint = beta is None
    B = np.zeros((2, p)) if joint else np.asarray(beta, dtype=float).reshape(2, p)
    # the offset of the working response: X beta when beta is held fixed
    base = np.zeros((k, 2)) if joint else X @ B.T
    eta = np.clip(np.asarray(eta0, dtype=float), -_ETA_CLAMP, _ETA_CLAMP)
    u1 = u2 = np.zeros(k)
    old_pdev = np.inf
    log_det = 0.0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        mu = expit(eta)
        w = n * mu * (1.0 - mu)
        wz = w * (eta - base) + (y - n * mu)
        w1, w2 = w[:, 0], w[:, 1]
        h11 = 1.0 + a * a * w1 + b * b * w2
        h12 = b * c * w2
        h22 = 1.0 + c * c * w2
        det = h11 * h22 - h12 * h12
        log_det = float(np.sum(np.log(det)))
        r1 = a * wz[:, 0] + b * wz[:, 1]
        r2 = c * wz[:, 1]
        if joint:
            # Schur complement of the block-diagonal u part: (2p x 2p) system for beta
            # per study, H_ub = Lambda' W Xl with Xl = [[x', 0], [0, x']]
            hub1 = np.concatenate([(a * w1)[:, None] * X, (b * w2)[:, None] * X], axis=1)
            hub2 = np.concatenate([np.zeros((k, p)), (c * w2)[:, None] * X], axis=1)
            m1 = (h22[:, None] * hub1 - h12[:, None] * hub2) / det[:, None]
            m2 = (h11[:, None] * hub2 - h12[:, None] * hub1) / det[:, None]
            hbb = np.zeros((2 * p, 2 * p))
            hbb[:p, :p] = (X * w1[:, None]).T @ X
            hbb[p:, p:] = (X * w2[:, None]).T @ X
            schur = hbb - hub1.T @ m1 - hub2.T @ m2
            rb = np.concatenate([X.T @ wz[:, 0], X.T @ wz[:, 1]]) - m1.T @ r1 - m2.T @ r2
            bvec = np.linalg.solve(schur, rb)
            B_new = bvec.reshape(2, p)
            v1 = (h22 * r1 - h12 * r2) / det - m1 @ bvec
            v2 = (h11 * r2 - h12 * r1) / det - m2 @ bvec
        else:
            B_new = B
            v1 = (h22 * r1 - h12 * r2) / det
            v2 = (h11 * r2 - h12 * r1) / det
        off_new = X @ B_new.T
        new_eta = np.column_stack([off_new[:, 0] + a * v1, off_new[:, 1] + b * v1 + c * v2])
        new_eta = np.clip(new_eta, -_ETA_CLAMP, _ETA_CLAMP)
        pdev = _binomial_deviance(data, new_eta) + float(np.sum(v1 * v1 + v2 * v2))
        halvings = 0
        while not (pdev <= old_pdev) and np.isfinite(old_pdev) and halvings < _MAX_HALVINGS:
            # the update made the penalised deviance worse: go half-way back
            v1, v2 = 0.5 * (u1 + v1), 0.5 * (u2 + v2)
            B_new = 0.5 * (B + B_new)
            off_new = X @ B_new.T
            new_eta = np.column_stack([off_new[:, 0] + a * v1, off_new[:, 1] + b * v1 + c * v2])
            pdev = _binomial_deviance(data, new_eta) + float(np.sum(v1 * v1 + v2 * v2))
            halvings += 1
        u1, u2, B, eta = v1, v2, B_new, new_eta
        if abs((old_pdev - pdev) / pdev) < tol:
            converged = True
            break
        old_pdev = pdev
    cond = float(np.sum(y * eta - n * np.logaddexp(0.0, eta))) + data.log_choose
    deviance = log_det + float(np.sum(u1 * u1 + u2 * u2)) - 2.0 * cond
    return PirlsResult(deviance=deviance, u=np.column_stack([u1, u2]), beta=B, eta=eta,
                       iterations=it, converged=converged)
