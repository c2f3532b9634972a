"""The binomial-normal GLMM of Chu & Cole (2006), fitted by Laplace or adaptive quadrature.

Exact binomial within-study likelihood (no continuity correction) and a
bivariate normal distribution of the study-specific (logit sensitivity, logit
specificity).  The marginal likelihood is approximated by

- the Laplace approximation (``nagq=1``): the same objective as lme4's
  ``glmer(cbind(events, n - events) ~ 0 + sens + spec + (0 + sens + spec | study),
  family = binomial, nAGQ = 1)``, evaluated at the exact conditional modes;
- adaptive Gauss-Hermite quadrature (``nagq > 1``): a ``nagq x nagq``
  tensor-product rule per study, centred at the conditional mode and scaled by
  the curvature there (what Stata's ``metandi``/``meqrlogit`` and SAS
  ``NLMIXED`` do).

The covariance of the random effects is parameterised, as in lme4, by its
lower Cholesky factor ``theta = (L11, L21, L22)`` with ``L11, L22 >= 0``, so
singular fits (a variance of 0, a correlation of +-1) are inside the parameter
space; they are reached and flagged.

References
----------
.. [1] Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity
   with sparse data: a generalized linear mixed model approach. J Clin
   Epidemiol 2006;59:1331-1332.
.. [2] Bates D, Maechler M, Bolker B, Walker S. Fitting linear mixed-effects
   models using lme4. J Stat Softw 2015;67(1).
.. [3] Pinheiro JC, Bates DM. Approximations to the log-likelihood function in
   the nonlinear mixed-effects model. J Comput Graph Stat 1995;4:12-35.
.. [4] Harbord RM, Whiting P. metandi: meta-analysis of diagnostic accuracy
   using hierarchical logistic regression. Stata J 2009;9:211-229.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from metaanalysis.errors import (
    BoundaryEstimateWarning,
    DivergingEstimateWarning,
    FewStudiesWarning,
    FitError,
    InputError,
    MetaAnalysisWarning,
    NotConvergedWarning,
    UnreliableStandardErrorsWarning,
    ZeroVarianceWarning,
    emit,
    warning_codes,
    warning_texts,
)
from metaanalysis.models.quadrature import (
    LME4_TOL_PWRSS,
    BinomialData,
    ModeState,
    PirlsResult,
    aghq_loglik,
    conditional_modes,
    laplace_loglik,
    lme4_initial_eta,
    lme4_pirls,
)
from metaanalysis.models.quadrature import expit as quadrature_expit
from metaanalysis.models.registry import MAX_NAGQ
from metaanalysis.numerics import max_abs
from metaanalysis.results import BivariateResult
from metaanalysis.table import StudyTable

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["GlmmFit", "fit_binomial_normal", "glmm", "binomial_data", "PIRLS_MODES"]

#: lme4's tolerance for ``isSingular``: a Cholesky diagonal below this is on the boundary.
SINGULAR_TOL = 1e-4
#: Fewer studies than this draws a warning (as for the normal model).
FEW_STUDIES = 5
#: Fewer studies than this is refused.
MIN_STUDIES = 3
#: How the conditional modes of the Laplace approximation are found: ``"exact"`` (to
#: convergence) or ``"lme4"`` (glmer's default PIRLS stopping rule and two-stage fit).
PIRLS_MODES = ("exact", "lme4")
#: Step of lme4's central-difference Hessian of the deviance (``deriv12``'s ``delta``).
LME4_HESSIAN_STEP = 1e-4
#: Nelder-Mead tolerances of the first (``nAGQ = 0``) stage of ``pirls="lme4"``: it only
#: supplies the start and the linear predictor PIRLS restarts from in the second stage.
STAGE1_XATOL, STAGE1_FATOL = 1e-7, 1e-9


@dataclass(frozen=True)
class GlmmFit:
    """Raw output of :func:`fit_binomial_normal` on the (logit sens, logit spec) scale.

    Attributes
    ----------
    theta : numpy.ndarray
        (3,) lme4's Cholesky parameters ``(L11, L21, L22)`` of the random-effect covariance.
    coef : numpy.ndarray
        (2, p) fixed effects; row 0 logit sensitivity, row 1 logit specificity.
    vcov : numpy.ndarray
        (2p, 2p) covariance of ``coef.ravel()`` (row-major: sensitivity
        coefficients first).
    sigma : numpy.ndarray
        (2, 2) random-effect covariance of (logit sens, logit spec).
    loglik : float
        Approximate marginal log-likelihood, with the ``log choose(n, y)`` terms.
    nagq : int
        Quadrature points per dimension (1 = Laplace).
    converged : bool
        Whether the optimiser met its tolerance.
    singular : bool
        ``True`` when a Cholesky diagonal is below :data:`SINGULAR_TOL` (lme4's rule).
    n_evaluations : int
        Likelihood evaluations used by the optimiser.
    modes : numpy.ndarray
        (k, 2) conditional modes of the random effects ``Lambda u_i`` at the optimum.
    warnings : tuple of MetaAnalysisWarning
        Caveats of the fit (their text and ``code``).
    pirls : str
        ``"exact"`` or ``"lme4"``: see :data:`PIRLS_MODES`.
    """

    theta: np.ndarray
    coef: np.ndarray
    vcov: np.ndarray
    sigma: np.ndarray
    loglik: float
    nagq: int
    converged: bool
    singular: bool
    n_evaluations: int
    modes: np.ndarray
    warnings: tuple[MetaAnalysisWarning, ...] = field(default_factory=tuple)
    pirls: str = "exact"

    @property
    def se(self) -> np.ndarray:
        """(2, p) standard errors of ``coef``."""
        return np.sqrt(np.diag(self.vcov)).reshape(self.coef.shape)

    @property
    def rho(self) -> float:
        """Correlation of logit sensitivity and logit specificity (NaN if a variance is 0)."""
        d = self.sigma[0, 0] * self.sigma[1, 1]
        return float(self.sigma[0, 1] / math.sqrt(d)) if d > 0 else float("nan")


def binomial_data(table: StudyTable, X: np.ndarray | None = None) -> BinomialData:
    """Build the GLMM's data from a study table: events (TP, TN) out of (TP + FN, TN + FP).

    Parameters
    ----------
    table : StudyTable
        The studies.
    X : numpy.ndarray, optional
        (k, p) design; default an intercept.

    Returns
    -------
    BinomialData
    """
    y = np.column_stack([table.tp, table.tn]).astype(float)
    n = np.column_stack([table.tp + table.fn, table.tn + table.fp]).astype(float)
    if X is None:
        X = np.ones((table.k, 1))
    return BinomialData(y, n, np.asarray(X, dtype=float))


def _start(data: BinomialData) -> np.ndarray:
    """Moment start: least squares of corrected logits on X; Cholesky of the residual covariance."""
    y, n, X = data.y, data.n, data.X
    logit = np.log((y + 0.5) / (n - y + 0.5))
    var = 1.0 / (y + 0.5) + 1.0 / (n - y + 0.5)
    B, *_ = np.linalg.lstsq(X, logit, rcond=None)          # (p, 2)
    r = logit - X @ B
    k = y.shape[0]
    cov = r.T @ r / max(k - X.shape[1], 1) - np.diag(var.mean(axis=0))
    cov[0, 0] = max(cov[0, 0], 0.05)
    cov[1, 1] = max(cov[1, 1], 0.05)
    lim = 0.9 * math.sqrt(cov[0, 0] * cov[1, 1])
    cov[0, 1] = cov[1, 0] = float(np.clip(cov[0, 1], -lim, lim))
    L = np.linalg.cholesky(cov)
    return np.concatenate([[L[0, 0], L[1, 0], L[1, 1]], B.T.ravel()])


class _Objective:
    """Negative approximate log-likelihood with a warm-started mode state and a counter."""

    def __init__(self, data: BinomialData, nagq: int) -> None:
        self.data = data
        self.nagq = nagq
        self.state = ModeState()
        self.n_eval = 0
        #: the point and gradient of the latest :meth:`value_and_grad`, for the Hessian
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def value(self, phi: np.ndarray) -> float:
        self.n_eval += 1
        if self.nagq == 1:
            ll, _ = laplace_loglik(phi, self.data, self.state, gradient=False)
        else:
            ll = aghq_loglik(phi, self.data, self.nagq, self.state)
        return -ll if np.isfinite(ll) else 1e300

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        self.n_eval += 1
        ll, g = laplace_loglik(phi, self.data, self.state, gradient=True)
        assert g is not None
        if not math.isfinite(ll):
            return 1e300, np.zeros_like(phi)
        neg = -g
        self.last = (np.array(phi, dtype=float), neg)
        return -ll, neg

    def grad(self, phi: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Gradient of :meth:`value`: analytic for Laplace, central differences otherwise."""
        if self.nagq == 1:
            return self.value_and_grad(phi)[1]
        g = np.empty_like(phi)
        for j in range(phi.size):
            step = h * max(1.0, abs(phi[j]))
            e = np.zeros_like(phi)
            e[j] = step
            g[j] = (self.value(phi + e) - self.value(phi - e)) / (2 * step)
        return g


def _laplace_gradients(data: BinomialData, phis: np.ndarray, modes: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the negative Laplace log-likelihood at several points in one pass.

    The same arithmetic as the gradient of
    :func:`metaanalysis.models.quadrature.laplace_loglik`, operation by
    operation, on ``(points, studies)`` arrays: given each point's conditional
    modes, every point's gradient is the one ``laplace_loglik`` returns, bit for
    bit (sums over studies run row by row in the same order; the products with
    the design are taken per point), so the finite-difference Hessian does not
    change, only the calls it spends.

    Parameters
    ----------
    data : BinomialData
        Counts and design.
    phis : numpy.ndarray
        (m, 3 + 2p) points ``(theta, B.ravel())``.
    modes : numpy.ndarray
        (m, k, 2) the conditional modes at each point.

    Returns
    -------
    gradients : numpy.ndarray
        (m, 3 + 2p): minus the gradient at each point; zeros where the
        log-likelihood is not finite (as :meth:`_Objective.value_and_grad`).
    finite : numpy.ndarray
        (m,) whether the log-likelihood is finite at each point.

    References
    ----------
    .. [1] Bates D, Maechler M, Bolker B, Walker S. Fitting linear mixed-effects
       models using lme4. J Stat Softw 2015;67(1).
    """
    X, p = data.X, data.p
    y1, y2, n1, n2 = data.y1, data.y2, data.n1, data.n2
    a, b, c = phis[:, 0:1], phis[:, 1:2], phis[:, 2:3]
    if data.intercept_only:  # each study's offsets are the intercepts (1 * beta exactly)
        o1, o2 = phis[:, 3:4], phis[:, 4:5]
    else:
        off = np.stack([X @ phi[3:3 + 2 * p].reshape(2, p).T for phi in phis])
        o1, o2 = off[:, :, 0], off[:, :, 1]
    u1, u2 = modes[:, :, 0], modes[:, :, 1]
    eta1 = o1 + a * u1
    eta2 = o2 + b * u1 + c * u2
    p1, p2 = quadrature_expit(eta1), quadrature_expit(eta2)
    np1, np2 = n1 * p1, n2 * p2
    w1, w2 = np1 - np1 * p1, np2 - np2 * p2
    h11 = 1.0 + a * a * w1 + b * b * w2
    h12 = b * c * w2
    h22 = 1.0 + c * c * w2
    det = h11 * h22 - h12 * h12
    ll_i = (y1 * eta1 - n1 * np.logaddexp(0.0, eta1) + y2 * eta2 - n2 * np.logaddexp(0.0, eta2)
            - 0.5 * (u1 * u1 + u2 * u2 + np.log(det)))
    finite = np.isfinite(np.add.reduce(ll_i, axis=1) + data.log_choose)
    g1, g2 = y1 - np1, y2 - np2
    i11, i12, i22 = h22 / det, -h12 / det, h11 / det
    q1, q2, cw2 = a * w1, b * w2, c * w2
    A1 = (w1 - 2.0 * w1 * p1) * (a * a * i11)
    A2 = (w2 - 2.0 * w2 * p2) * (b * b * i11 + 2 * b * c * i12 + c * c * i22)
    P, Q = a * A1 + b * A2, c * A2
    R1 = P * i11 + Q * i12
    R2 = P * i12 + Q * i22
    E1 = g1 - 0.5 * (A1 - R1 * q1)
    E2 = g2 - 0.5 * (A2 - R1 * q2 - R2 * cw2)
    d_a = E1 * u1 - i11 * q1 - 0.5 * R1 * g1
    d_b = E2 * u1 - w2 * (i11 * b + i12 * c) - 0.5 * R1 * g2
    d_c = E2 * u2 - w2 * (i12 * b + i22 * c) - 0.5 * R2 * g2
    out = np.zeros((phis.shape[0], 3 + 2 * p))
    # each point's sums over studies: a reduction along the rows sums every row as the
    # sum of that row alone would
    sums = np.negative(np.add.reduce(np.stack([d_a, d_b, d_c]), axis=2).T)
    for j in np.flatnonzero(finite).tolist():
        out[j, :3] = sums[j]
        out[j, 3:] = -np.concatenate([X.T @ E1[j].copy(), X.T @ E2[j].copy()])
    return out, finite


def _hessian(obj: _Objective, phi: np.ndarray) -> np.ndarray:
    """Hessian of the deviance over (theta, beta) by finite differences of the gradient.

    Laplace: forward differences of the exact gradient (step 1e-6); the
    gradient at ``phi`` itself is the optimiser's last one when that was taken
    there.  The conditional modes at the perturbed points are found one after
    the other, each warm-started from the previous one, and the gradients at
    all of them are then taken in one pass (:func:`_laplace_gradients`).
    Quadrature: central differences of the central-difference gradient
    (step 1e-3).
    """
    m = phi.size
    H = np.empty((m, m))
    state = ModeState(None if obj.state.u is None else obj.state.u.copy())
    saved = obj.state
    obj.state = state
    try:
        if obj.nagq == 1:
            known = obj.last is not None and np.array_equal(obj.last[0], phi)
            g0 = obj.last[1] if known and obj.last is not None else obj.grad(phi)
            steps = np.array([1e-6 * max(1.0, abs(float(v))) for v in phi])
            points = phi[None, :] + np.diag(steps)  # row j: phi + step_j e_j
            modes = np.stack([conditional_modes(x, obj.data, state) for x in points])
            obj.n_eval += m
            grads, finite = _laplace_gradients(obj.data, points, modes)
            if finite[-1]:
                obj.last = (points[-1].copy(), grads[-1])
            H[:] = ((grads - g0) / steps[:, None]).T
        else:
            for j in range(m):
                e = np.zeros(m)
                e[j] = step = 1e-3 * max(1.0, abs(phi[j]))
                H[:, j] = (obj.grad(phi + e) - obj.grad(phi - e)) / (2 * step)
    finally:
        obj.state = saved
    return H + H.T          # symmetrised, and doubled: the deviance is -2 log L


def _canonical(phi: np.ndarray) -> np.ndarray:
    """Map ``theta`` to lme4's sign convention (diagonal >= 0); the likelihood is unchanged.

    The likelihood is even in ``theta3`` and in ``(theta1, theta2)`` jointly
    (flip the sign of ``u_2``, or of ``u_1``), so it can be maximised without
    bounds and the answer mapped back; a singular fit is then an ordinary
    stationary point at ``theta1 = 0`` or ``theta3 = 0``.
    """
    phi = np.array(phi, dtype=float)
    if phi[0] < 0:
        phi[0], phi[1] = -phi[0], -phi[1]
    if phi[2] < 0:
        phi[2] = -phi[2]
    return phi


def _bfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray,
          gtol: float = 1e-6, maxiter: int = 2000,
          at_x0: tuple[float, np.ndarray] | None = None,
          hinv0: np.ndarray | None = None
          ) -> tuple[np.ndarray, float, np.ndarray, str]:
    """Minimise a smooth function with its gradient by BFGS; return (x, f, gradient, message).

    The inverse-Hessian approximation starts as ``hinv0`` when given (then the
    first step is a full one), else as the identity, rescaled by ``s'y / y'y``
    after the first step; it is updated only when ``s'y > 0``.
    Each step is found by backtracking from the full quasi-Newton step until
    the Armijo condition holds, with a quadratic interpolation of the
    function along the step (a non-finite objective, reported as 1e300, only
    shortens the step); a trial point whose gradient already meets ``gtol`` is
    accepted, since near the optimum the function changes only by rounding.
    ``at_x0``, the value and gradient at ``x0`` if already known, saves their
    evaluation. Stops when the largest gradient component is below ``gtol``, when no
    step decreases the function, or after ``maxiter`` steps.

    References
    ----------
    .. [1] Nocedal J, Wright SJ. Numerical Optimization, 2nd ed. Springer, 2006,
       chapter 6 (the BFGS update, eq. 6.17, and the initial scaling, eq. 6.20)
       and section 3.5 (step length by interpolation).
    """
    # np.maximum.reduce is np.max without its Python wrapper, and the outer products
    # below are written as the broadcast products np.outer computes: one BFGS step is
    # a few dozen operations on vectors of 5, so call overhead is most of its cost
    amax = np.maximum.reduce
    x = np.array(x0, dtype=float)
    f, g = fun(x) if at_x0 is None else at_x0
    m = x.size
    Hinv = np.eye(m) if hinv0 is None else np.array(hinv0, dtype=float)
    first = hinv0 is None
    for it in range(1, maxiter + 1):
        if max_abs(g) < gtol:
            return x, f, g, f"converged after {it - 1} steps"
        d = -(Hinv @ g)
        slope = float(g @ d)
        if slope >= 0.0:                     # not a descent direction: restart
            Hinv = np.eye(m)
            d, slope, first = -g, -float(g @ g), True
        step = min(1.0, 1.0 / float(amax(np.abs(d)))) if first else 1.0
        while True:
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or max_abs(g_new) < gtol:
                break       # sufficient decrease, or a stationary point at rounding level
            if step * float(amax(np.abs(d))) < 1e-12 * (1.0 + float(amax(np.abs(x)))):
                return x, f, g, f"no decrease along the search direction after {it - 1} steps"
            # minimiser of the quadratic through f, the slope and f_new, kept within [0.1, 0.5]
            denom = 2.0 * (f_new - f - slope * step)
            trial = -slope * step * step / denom if f_new < 1e299 and denom > 0 else 0.1 * step
            step = min(max(trial, 0.1 * step), 0.5 * step)
        s_vec = x_new - x
        y_vec = g_new - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-12 * float(np.sqrt((s_vec @ s_vec) * (y_vec @ y_vec))):
            if first:
                Hinv = np.eye(m) * (sy / float(y_vec @ y_vec))
            r = 1.0 / sy
            Hy = Hinv @ y_vec
            s_col, s_row = s_vec[:, None], s_vec[None, :]
            Hinv = (Hinv - r * (s_col * Hy[None, :] + Hy[:, None] * s_row)
                    + (r * r * float(y_vec @ Hy) + r) * (s_col * s_row))
            first = False
        x, f, g = x_new, f_new, g_new
    return x, f, g, f"stopped after {maxiter} steps"


def _start_inverse_hessian(obj: _Objective, phi0: np.ndarray) -> np.ndarray | None:
    """Inverse of the objective's Hessian at the start, when it is positive definite, else None.

    The Hessian is :func:`_hessian`'s (forward differences of the exact gradient,
    the perturbed points' gradients in one pass: about the cost of one evaluation
    per parameter); BFGS started from its inverse takes Newton-sized steps from the
    first iteration instead of learning the curvature step by step, which on
    AuditC saves a third of the evaluations. The optimum is the same stationary
    point; only the path to it changes.
    """
    H0 = 0.5 * _hessian(obj, phi0)      # _hessian's is the deviance's: -2 log L
    if not np.all(np.isfinite(H0)):
        return None
    w = np.linalg.eigvalsh(H0)
    if not w.min() > 1e-8 * max(1.0, float(w.max())):
        return None
    return np.linalg.inv(H0)


def _optimise(obj: _Objective, phi0: np.ndarray,
              at_phi0: tuple[float, np.ndarray] | None = None
              ) -> tuple[np.ndarray, float, bool, str]:
    """Minimise the objective without bounds; return (phi, minimum, converged, message).

    Laplace: :func:`_bfgs` on the exact gradient (no SciPy import on this
    path). Quadrature: SciPy's BFGS on central-difference gradients.
    """
    if obj.nagq == 1:
        if at_phi0 is None:
            at_phi0 = obj.value_and_grad(phi0)
        x, fun, jac, message = _bfgs(obj.value_and_grad, phi0, gtol=1e-6, maxiter=2000,
                                     at_x0=at_phi0, hinv0=_start_inverse_hessian(obj, phi0))
    else:
        from scipy import optimize

        res = optimize.minimize(obj.value, phi0, jac=obj.grad, method="BFGS",
                                options={"maxiter": 2000, "gtol": 1e-6})
        x, fun, jac, message = res.x, float(res.fun), np.asarray(res.jac), str(res.message)
    gmax = float(np.max(np.abs(jac)))
    return (_canonical(x), float(fun), gmax < 1e-3,
            f"{message} (largest gradient {gmax:.2g})")


class _Lme4Deviance:
    """glmer's default Laplace deviance over ``(theta, beta)``: PIRLS restarted from ``eta0``.

    Every evaluation starts PIRLS from the same linear predictor (the one left
    by the first stage), as glmer's second stage does, so the value is a
    function of the parameters alone; it is piecewise smooth, jumping where
    the number of PIRLS iterations changes.
    """

    def __init__(self, data: BinomialData, eta0: np.ndarray, tol: float) -> None:
        self.data = data
        self.eta0 = eta0
        self.tol = tol
        self.n_eval = 0
        #: PIRLS iteration counts seen (reset by the caller): more than one value
        #: means the evaluations straddle a jump of the deviance.
        self.iterations_seen: set[int] = set()

    def pirls(self, phi: np.ndarray) -> PirlsResult:
        """Run PIRLS at ``phi = (theta, beta.ravel())``."""
        self.n_eval += 1
        res = lme4_pirls(phi[:3], self.data, self.eta0, beta=phi[3:], tol=self.tol)
        self.iterations_seen.add(res.iterations)
        return res

    def __call__(self, phi: np.ndarray) -> float:
        res = self.pirls(np.asarray(phi, dtype=float))
        ok = res.converged and np.isfinite(res.deviance)
        return float(res.deviance) if ok else 1e300


def _nelder_mead(fun: Callable[[np.ndarray], float], x0: np.ndarray, xatol: float,
                 fatol: float, maxfev: int) -> tuple[np.ndarray, float, bool, str]:
    """Minimise a piecewise-smooth function by Nelder-Mead."""
    from scipy import optimize

    res = optimize.minimize(fun, x0, method="Nelder-Mead",
                            options={"xatol": xatol, "fatol": fatol, "maxfev": maxfev,
                                     "maxiter": maxfev})
    return (np.asarray(res.x, dtype=float), float(res.fun), bool(res.success),
            str(res.message))


def _fit_lme4(data: BinomialData, theta0: np.ndarray, tol: float = LME4_TOL_PWRSS
              ) -> tuple[np.ndarray, float, bool, str, _Lme4Deviance, int]:
    """Run glmer's two stages with its PIRLS rule; return (phi, deviance, ok, msg, objective, n).

    Stage 1 (``nAGQ = 0``) maximises over ``theta`` alone, ``beta`` being
    solved for jointly with ``u`` in each PIRLS run from glmer's start
    :func:`lme4_initial_eta`.  Stage 2 (``nAGQ = 1``) maximises over
    ``(theta, beta)`` from the stage-1 optimum, each PIRLS run starting from
    the stage-1 final linear predictor.  Both are minimised by Nelder-Mead to
    tight tolerances, i.e. to the optimum glmer's optimisers approximate.
    """
    n_eval = 0

    def stage1(theta: np.ndarray) -> float:
        nonlocal n_eval
        n_eval += 1
        res = lme4_pirls(theta, data, eta_start, tol=tol)
        return float(res.deviance) if res.converged and np.isfinite(res.deviance) else 1e300

    eta_start = lme4_initial_eta(data)
    theta1, dev1, ok1, msg1 = _nelder_mead(stage1, np.asarray(theta0, dtype=float),
                                           xatol=STAGE1_XATOL, fatol=STAGE1_FATOL, maxfev=4000)
    if dev1 >= 1e299:
        raise FitError("glmer's first-stage (nAGQ = 0) deviance is not finite at any parameter "
                       "tried; use pirls='exact', or the normal model (reitsma).")
    theta1 = _canonical(np.r_[theta1, 0.0])[:3]
    first = lme4_pirls(theta1, data, eta_start, tol=tol)
    obj = _Lme4Deviance(data, first.eta, tol)
    phi, dev, ok, msg = _nelder_mead(obj, np.r_[theta1, first.beta.ravel()], xatol=1e-9,
                                     fatol=1e-11, maxfev=20000)
    n_eval += obj.n_eval
    if not ok1:
        ok, msg = False, f"first stage: {msg1}"
    return _canonical(phi), dev, ok, msg, obj, n_eval


def _central_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray,
                     delta: float = LME4_HESSIAN_STEP) -> np.ndarray:
    """Hessian by central differences with a fixed step, as lme4 computes it after a fit.

    Diagonal: ``(f(x + d e_j) - 2 f(x) + f(x - d e_j)) / d^2``; off-diagonal: the
    four-point formula ``(f(++) - f(+-) - f(-+) + f(--)) / (4 d^2)``.
    """
    m = x.size
    H = np.empty((m, m))
    fx = fun(x)
    eye = np.eye(m) * delta
    for j in range(m):
        H[j, j] = (fun(x + eye[j]) - 2.0 * fx + fun(x - eye[j])) / delta ** 2
        for i in range(j):
            H[i, j] = H[j, i] = (fun(x + eye[j] + eye[i]) - fun(x + eye[j] - eye[i])
                                 - fun(x - eye[j] + eye[i]) + fun(x - eye[j] - eye[i])
                                 ) / (4.0 * delta ** 2)
    return H


def _beta_block_vcov(Hb: np.ndarray) -> tuple[np.ndarray, bool]:
    """``2 inv(Hb)`` from the fixed-effect block of the deviance Hessian, kept positive definite.

    Eigenvalues of ``Hb`` that are not clearly positive (no information in that
    direction, as when a logit diverges) are raised to a tiny positive floor, so
    the variance there is huge but finite.  Returns the covariance and whether
    any eigenvalue was raised.
    """
    if not np.all(np.isfinite(Hb)):
        raise FitError("the GLMM's Hessian is not finite at the optimum, so no standard "
                       "errors can be computed; check the counts, or use the normal model "
                       "(reitsma) with a continuity correction.")
    w, V = np.linalg.eigh(0.5 * (Hb + Hb.T))
    floor = 1e-12 * max(float(np.max(np.abs(w))), 1.0)
    clipped = bool(np.any(w <= floor))
    w = np.maximum(w, floor)
    return 2.0 * (V / w) @ V.T, clipped


def fit_binomial_normal(data: BinomialData, nagq: int = 1,
                        start: np.ndarray | None = None, pirls: str = "exact") -> GlmmFit:
    """Fit the bivariate binomial-normal model by maximising the approximate likelihood.

    Parameters
    ----------
    data : BinomialData
        Events, trials and the (k, p) design shared by both logits.
    nagq : int
        Gauss-Hermite points per dimension; 1 is the Laplace approximation.
    start : numpy.ndarray, optional
        Starting ``(theta, coef.ravel())``; with ``pirls="lme4"`` only its
        ``theta`` is used (to start the first stage; glmer starts at ``(1, 0, 1)``,
        the default here too).
    pirls : {"exact", "lme4"}
        ``"exact"`` (default): the Laplace approximation at the exact
        conditional modes.  ``"lme4"``: glmer's default computation, see
        :func:`glmm`; needs ``nagq = 1``.

    Returns
    -------
    GlmmFit

    Raises
    ------
    InputError
        If ``nagq < 1``, ``pirls`` is unknown, or ``pirls="lme4"`` with ``nagq > 1``.
    FitError
        If the likelihood cannot be evaluated at any parameter tried.

    Notes
    -----
    The Laplace objective is maximised by BFGS with its exact gradient;
    for ``nagq > 1`` the Laplace optimum is the start and the gradient is by
    central differences.  The covariance of the fixed effects follows lme4's
    ``vcov(use.hessian = TRUE)``: the Hessian of the deviance over
    ``(theta, beta)`` is inverted and its ``beta`` block doubled.
    """
    nagq = check_nagq(nagq)
    pirls = _check_pirls(pirls, nagq)
    if pirls == "lme4":
        return _fit_binomial_normal_lme4(data, start)
    phi0 = _start(data) if start is None else np.asarray(start, dtype=float)
    obj = _Objective(data, 1)
    at_phi0 = obj.value_and_grad(phi0)  # the check below and the optimiser's first point
    if at_phi0[0] >= 1e299:
        raise FitError("the GLMM likelihood is not finite at the starting values; check the "
                       "counts, or use the normal model (reitsma).")
    phi, fun, ok, msg = _optimise(obj, phi0, at_phi0)
    n_eval = obj.n_eval
    if not ok:
        # a second start from an uncorrelated covariance
        alt0 = phi0.copy()
        alt0[1] = 0.0
        obj_alt = _Objective(data, 1)
        phi_alt, fun_alt, ok_alt, msg_alt = _optimise(obj_alt, alt0)
        n_eval += obj_alt.n_eval
        if fun_alt < fun - 1e-8:
            phi, fun, ok, msg, obj = phi_alt, fun_alt, ok_alt, msg_alt, obj_alt
    if nagq > 1:
        objq = _Objective(data, nagq)
        objq.state.u = obj.state.u
        phi, fun, ok, msg = _optimise(objq, phi)
        n_eval += objq.n_eval
        obj = objq
    H = _hessian(obj, phi)
    modes_u = conditional_modes(phi, data, ModeState(None if obj.state.u is None
                                                     else obj.state.u.copy()))
    return _finish(data, phi, -fun, H, ok, msg, n_eval, nagq, modes_u, "exact", [])


def _fit_binomial_normal_lme4(data: BinomialData, start: np.ndarray | None) -> GlmmFit:
    """Fit as glmer does by default: the ``pirls="lme4"`` branch of :func:`fit_binomial_normal`."""
    theta0 = np.array([1.0, 0.0, 1.0]) if start is None else np.asarray(start, dtype=float)[:3]
    phi, dev, ok, msg, obj, n_eval = _fit_lme4(data, theta0)
    final = obj.pirls(phi)
    msgs: list[MetaAnalysisWarning] = []
    if not final.converged:
        msgs.append(NotConvergedWarning(
            "PIRLS did not meet glmer's stopping rule at the optimum; the lme4-style "
            "deviance is unreliable there: use pirls='exact'."))
    obj.iterations_seen = set()
    H = _central_hessian(obj, phi)
    if len(obj.iterations_seen) > 1:
        msgs.append(UnreliableStandardErrorsWarning(
                    "glmer's default PIRLS stops after a different number of iterations "
                    "within the Hessian's step (1e-4) of the optimum, so the deviance jumps "
                    "there and the standard errors from its finite-difference Hessian (as "
                    "glmer computes them) are unreliable; use pirls='exact' for standard "
                    "errors."))
    return _finish(data, phi, -0.5 * final.deviance, H, ok, msg, n_eval, 1, final.u, "lme4",
                   msgs)


def _finish(data: BinomialData, phi: np.ndarray, loglik: float, H: np.ndarray, ok: bool,
            msg: str, n_eval: int, nagq: int, modes_u: np.ndarray, pirls: str,
            msgs: list[MetaAnalysisWarning]) -> GlmmFit:
    """Covariances, boundary and divergence checks, and the :class:`GlmmFit` of an optimum.

    ``H`` is the Hessian of the deviance ``-2 log L`` over ``(theta, beta)``;
    ``modes_u`` the spherical modes ``u_i``.
    """
    p = data.p
    theta = phi[:3].copy()
    coef = phi[3:].reshape(2, p)
    try:
        Hinv = np.linalg.inv(H)
        vcov = 2.0 * Hinv[3:, 3:]
        if not np.all(np.isfinite(vcov)) or np.any(np.linalg.eigvalsh(vcov) <= 0):
            raise np.linalg.LinAlgError("not positive definite")
    except np.linalg.LinAlgError:
        vcov, clipped = _beta_block_vcov(H[3:, 3:])
        msgs.append(UnreliableStandardErrorsWarning(
            "the Hessian over (theta, beta) is not invertible at the optimum; the "
            "fixed-effect covariance is from the beta block alone (conditional on theta)."))
        if clipped:
            msgs.append(UnreliableStandardErrorsWarning(
                "the data carry (almost) no information on some fixed effect at the "
                "optimum, so its standard error is set very large; see the warnings on "
                "diverging logits, or use the normal model (reitsma)."))
    vcov = 0.5 * (vcov + vcov.T)
    # round-off at a bound (|theta| ~ 1e-9) is a zero, so a zero variance leaves the
    # correlation undefined instead of a number made of noise
    theta = np.where(np.abs(theta) < 1e-8, 0.0, theta)
    # a variance the fit reports as 0 (lme4's isSingular rule) is 0 in Psi too, so the
    # correlation, HSROC and AUC, which need both variances, are undefined (NaN), as for the
    # normal model, instead of numbers made of the noise left in theta
    if theta[0] < SINGULAR_TOL:
        theta[0] = 0.0
    if theta[2] < SINGULAR_TOL and theta[1] ** 2 < SINGULAR_TOL ** 2:
        theta[1] = theta[2] = 0.0
    L = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    sigma = L @ L.T
    singular = bool(theta[0] < SINGULAR_TOL or theta[2] < SINGULAR_TOL)
    if singular:
        parts = []
        if theta[0] < SINGULAR_TOL:
            parts.append("the variance of logit sensitivity is 0")
        if theta[2] < SINGULAR_TOL:
            if theta[1] ** 2 < SINGULAR_TOL ** 2:
                parts.append("the variance of logit specificity is 0")
            elif theta[0] >= SINGULAR_TOL:
                sgn = float(np.sign(theta[1]))
                parts.append(f"the correlation of logit sensitivity and logit specificity is "
                             f"{sgn:+.0f} (sens-FPR {-sgn:+.0f})")
        kind = (ZeroVarianceWarning if all("variance" in part for part in parts)
                else BoundaryEstimateWarning)
        msgs.append(kind("singular fit (boundary of the parameter space): " + " and ".join(parts)
                         + "; the random-effects covariance is degenerate, so a simpler model "
                           "(e.g. univariate or no correlation) describes the data as well."))
    se = np.sqrt(np.abs(np.diag(vcov))).reshape(2, p)
    for j, outcome in enumerate(("sensitivity", "specificity")):
        bad = np.flatnonzero((np.abs(coef[j]) > 12) | (se[j] > 50))
        if bad.size:
            i = int(bad[0])
            # a design column's studies all at 0% or 100%: the estimate is truly infinite
            if i == 0:  # the intercept: the reference subgroup (other columns 0), if any
                rest = np.all(np.delete(data.X, 0, axis=1) == 0, axis=1)
                used = rest if rest.any() else np.ones(len(rest), dtype=bool)
            else:
                used = data.X[:, i] != 0
            yj, nj = data.y[used, j], data.n[used, j]
            extreme = bool(np.all((yj == 0) | (yj == nj)))
            if extreme:
                msgs.append(DivergingEstimateWarning(
                            f"the logit {outcome} diverges (coefficient {i}: estimate "
                            f"{coef[j, i]:.3g}, SE {se[j, i]:.3g}): the {outcome} is 0% or 100% "
                            "in every study (or every study of a subgroup), so its "
                            "maximum-likelihood estimate is infinite; report the observed "
                            "counts instead, or use the normal model with a continuity "
                            "correction."))
            else:
                msgs.append(DivergingEstimateWarning(
                            f"the logit {outcome} is not determined (coefficient {i}: estimate "
                            f"{coef[j, i]:.3g}, SE {se[j, i]:.3g}): the likelihood is "
                            "numerically flat there; check the counts for implausible values, "
                            "or use the normal model (reitsma)."))
    if not ok:
        msgs.append(NotConvergedWarning(
            f"the optimiser did not converge ({msg}); estimates may be inaccurate: "
            + ("try nagq=1, another start, or the normal model." if nagq > 1 else
               "try another start or optimiser, or the normal model.")))
    modes = modes_u @ L.T
    return GlmmFit(theta=theta, coef=coef, vcov=vcov, sigma=sigma, loglik=float(loglik),
                   nagq=nagq, converged=ok, singular=singular, n_evaluations=n_eval,
                   modes=modes, warnings=tuple(msgs), pirls=pirls)


def _check_pirls(pirls: object, nagq: int) -> str:
    if not isinstance(pirls, str) or pirls not in PIRLS_MODES:
        raise InputError(f"pirls must be one of {', '.join(PIRLS_MODES)}, got {pirls!r}.")
    if pirls == "lme4" and nagq != 1:
        raise InputError(f"pirls='lme4' is glmer's Laplace fit and needs nagq=1, got nagq={nagq} "
                         "(glmer allows nAGQ > 1 only for a single scalar random effect).")
    return pirls


def check_nagq(nagq: object) -> int:
    if isinstance(nagq, bool | np.bool_):
        raise InputError(f"nagq must be a whole number >= 1, got {nagq!r}.")
    if not isinstance(nagq, (int, np.integer)):
        try:
            as_float = float(nagq)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"nagq must be a whole number >= 1, got {nagq!r}.") from None
        if not as_float.is_integer():
            raise InputError(f"nagq must be a whole number >= 1, got {nagq!r}.")
        nagq = int(as_float)
    if int(nagq) < 1:
        raise InputError(f"nagq must be >= 1 (1 = Laplace approximation), got {nagq}.")
    if int(nagq) > MAX_NAGQ:
        raise InputError(f"nagq = {nagq} is more quadrature points than useful; use at most "
                         f"{MAX_NAGQ}.")
    return int(nagq)


def glmm(table: StudyTable, nagq: int = 1, pirls: str = "exact") -> BivariateResult:
    """Pool sensitivity and specificity with the binomial-normal GLMM (Chu & Cole 2006).

    Parameters
    ----------
    table : StudyTable
        The studies; zero cells need no correction.
    nagq : int
        Gauss-Hermite points per dimension: 1 (default) is the Laplace
        approximation (lme4's ``glmer(nAGQ = 1)``); larger values use adaptive
        quadrature (``method = "aghq"``), which converges to the exact
        likelihood as ``nagq`` grows.
    pirls : {"exact", "lme4"}
        How the conditional modes of the Laplace approximation are found.
        ``"exact"`` (default): iterated to convergence, so the objective is
        the Laplace approximation itself (lme4 with
        ``glmerControl(tolPwrss = 1e-13)``).  ``"lme4"``: reproduce
        ``glmer(..., nAGQ = 1)`` with its default settings, for users who must
        match its output (see Notes); needs ``nagq = 1``.

    Returns
    -------
    BivariateResult
        ``model="glmm"``, ``correction="none"``; ``mu``, ``vcov`` and ``psi``
        converted to (logit sens, logit FPR), so ``rho`` is minus the
        sens-spec correlation.  ``extra`` holds ``nagq``, ``theta`` (lme4's
        Cholesky parameters), the (sens, spec) estimates ``mu_sens_spec``,
        ``vcov_sens_spec``, ``psi_sens_spec``, ``rho_sens_spec``, the
        conditional modes, ``singular``, ``pirls`` and the number of likelihood
        evaluations.

    Raises
    ------
    InputError
        ``nagq < 1`` or not a whole number; ``table`` not a StudyTable;
        ``pirls`` not ``"exact"`` or ``"lme4"``, or ``"lme4"`` with ``nagq > 1``.
    FitError
        Fewer than 3 studies, or no finite likelihood.

    Warns
    -----
    FitWarning
        Singular fit (a variance at 0 or a correlation of +-1), fewer than
        5 studies, non-convergence.

    Notes
    -----
    The Laplace fit is the Laplace approximation at the exact conditional
    modes.  With its default PIRLS tolerance (``tolPwrss = 1e-7``) lme4 stops
    after about two PIRLS steps from the linear predictor of its first
    (``nAGQ = 0``) stage and takes ``log|L|^2`` from the weights of the
    iterate before the last update; its logLik then differs from the exact
    Laplace value by up to 4e-4 and its estimates by up to 1.4e-3 on the
    reference data sets.  With ``glmerControl(tolPwrss = 1e-13)`` lme4 and
    this function agree to about 1e-6.

    ``pirls="lme4"`` follows glmer's documented computation instead
    (Bates et al. 2015; lme4's ``?glmer`` and ``?glmerControl``):

    1. stage 1 (``nAGQ = 0``): the deviance is minimised over ``theta``
       alone, each evaluation running PIRLS for ``(u, beta)`` jointly from
       ``logit((y + 1/2) / (n + 1))`` (R's binomial starting values);
    2. stage 2 (``nAGQ = 1``): the Laplace deviance is minimised over
       ``(theta, beta)`` from the stage-1 optimum, each evaluation running
       PIRLS for ``u`` from the linear predictor stage 1 ended with;
    3. PIRLS stops when the penalised deviance changes by less than
       ``tolPwrss = 1e-7`` (relative), halves steps that increase it, and the
       Laplace deviance takes ``log|L|^2`` from the last decomposition (see
       :func:`metaanalysis.models.quadrature.lme4_pirls`);
    4. the covariance of the fixed effects is ``2 inv(H)`` (beta block), with
       ``H`` the Hessian of that deviance over ``(theta, beta)`` by central
       differences with step ``1e-4``, as lme4 computes it after the fit.

    Both stages are minimised by Nelder-Mead to tight tolerances (glmer uses
    bobyqa, then its own Nelder-Mead, with looser ones).  On ten data sets
    this reproduces glmer 1.1-31's defaults to about 1e-5 (estimates,
    variance components, correlation, logLik, conditional modes) and 1e-4
    (standard errors, whose finite-difference Hessian divides round-off of
    the deviance by ``1e-8``).  The deviance jumps where the number of PIRLS
    iterations changes; when that happens within ``1e-4`` of the optimum
    the standard errors are meaningless (glmer's too, which then fails its
    gradient check) and a warning says so.  The fit is slower (about 0.1 s
    against a few ms) and its optimum is not the Laplace maximum; prefer the
    default unless glmer's numbers must be reproduced.

    References
    ----------
    .. [1] Chu H, Cole SR. Bivariate meta-analysis of sensitivity and
       specificity with sparse data: a generalized linear mixed model
       approach. J Clin Epidemiol 2006;59:1331-1332.
    .. [2] Bates D, Maechler M, Bolker B, Walker S. Fitting linear
       mixed-effects models using lme4. J Stat Softw 2015;67(1).
    .. [3] Pinheiro JC, Bates DM. Approximations to the log-likelihood
       function in the nonlinear mixed-effects model. J Comput Graph Stat
       1995;4:12-35.
    .. [4] Bates D, Maechler M, Bolker B, Walker S, et al. lme4: Linear
       mixed-effects models using Eigen and S4. R package, manual pages
       ``glmer``, ``glmerControl`` (``tolPwrss``, ``nAGQ0initStep``,
       ``optimizer = c("bobyqa", "Nelder_Mead")``) and ``vcov.merMod``
       (``use.hessian``).

    Examples
    --------
    The shipped VBQ data set with glmer's default computation (lme4 1.1-31 gives
    0.861345 and 0.661074, tests/fixtures/reproduce/vbq_subsequent_fracture.ref.json):

    >>> import metaanalysis as ma
    >>> fit = ma.glmm(ma.datasets.load("vbq_subsequent_fracture"), pirls="lme4")
    >>> round(fit.sensitivity.estimate, 4), round(fit.specificity.estimate, 4)
    (0.8613, 0.6611)
    >>> fit.model, fit.correction
    ('glmm', 'none')
    """
    nagq = check_nagq(nagq)
    pirls = _check_pirls(pirls, nagq)
    if not isinstance(table, StudyTable):
        raise InputError(f"glmm() needs a StudyTable, got {type(table).__name__}.")
    if table.k < MIN_STUDIES:
        raise FitError(f"only {table.k} studies: too few to estimate the 5 parameters of the "
                       "GLMM; use the univariate model (metaanalysis pool --model "
                       "univariate; metaanalysis.univariate in Python), or add studies.")
    fit = fit_binomial_normal(binomial_data(table), nagq=nagq, pirls=pirls)
    caveats = list(fit.warnings)
    if table.k < FEW_STUDIES:
        caveats.append(FewStudiesWarning(
            f"only {table.k} studies: the between-study covariance is poorly "
            "estimated; interpret Psi, the prediction region and the SROC with care."))
    emit(caveats)
    flip = np.array([[1.0, -1.0], [-1.0, 1.0]])
    mu_ss = fit.coef[:, 0]
    extra = {
        "nagq": fit.nagq,
        "theta": fit.theta.tolist(),
        "mu_sens_spec": mu_ss.tolist(),
        "vcov_sens_spec": fit.vcov.tolist(),
        "psi_sens_spec": fit.sigma.tolist(),
        "rho_sens_spec": fit.rho,
        "singular": fit.singular,
        "pirls": fit.pirls,
        "conditional_modes": {"study": list(table.studies),
                              "logit_sens": fit.modes[:, 0].tolist(),
                              "logit_spec": fit.modes[:, 1].tolist()},
        "n_evaluations": fit.n_evaluations,
        "parameterisation": "fitted on (logit sens, logit spec); mu/vcov/psi reported on "
                            "(logit sens, logit FPR)",
    }
    return BivariateResult(
        model="glmm", method="laplace" if nagq == 1 else "aghq", table=table,
        correction="none", mu=np.array([mu_ss[0], -mu_ss[1]]), vcov=fit.vcov * flip,
        psi=fit.sigma * flip, loglik=fit.loglik, nobs=2 * table.k, df=5,
        converged=fit.converged, warnings=warning_texts(caveats),
        warning_codes=warning_codes(caveats), extra=extra)
