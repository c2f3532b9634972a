"""The bivariate normal random-effects model of Reitsma et al. (2005).

Each study contributes ``y_i = (logit sens_i, logit FPR_i)`` with known
within-study covariance ``S_i = diag(1/TP + 1/FN, 1/FP + 1/TN)``, and

    y_i ~ N(X_i beta, Psi + S_i),

``Psi`` an unstructured 2x2 between-study covariance. ``beta`` is profiled out
by generalised least squares; the restricted (REML) or full (ML)
log-likelihood is maximised over the lower Cholesky factor ``L`` of
``Psi = L L'`` with its analytic gradient and Hessian. Every point of that
parameter space is a valid ``Psi``, including the boundary (a variance of zero,
a correlation of +-1), so a maximum on the boundary is reached, not
approached; sub-models with the boundary imposed are fitted as a check when the
fit ends near it.

Two optimisers: ``"newton"`` (default; modified Newton steps on the
closed-form Hessian, to full precision) and ``"mada"``, which follows mada's
own path (10 IGLS iterations from ``Psi = diag(0.001)``, then variable-metric
BFGS with R's ``optim`` settings) and so reproduces mada's numbers, including
where that path stops short of the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from metaanalysis.errors import (
    BelowMaximumWarning,
    BoundaryEstimateWarning,
    CorrectionDrivenWarning,
    FewStudiesWarning,
    FitError,
    InputError,
    MetaAnalysisWarning,
    NotConvergedWarning,
    ZeroVarianceWarning,
    emit,
    warning_codes,
    warning_texts,
)
from metaanalysis.models.likelihood import (
    ALL_FREE,
    BivariateNormalFit,
    Likelihood,
    boundary_names,
    cholesky_params,
    near_boundary,
    psi_from,
)
from metaanalysis.models.mada_path import fit_mada_path
from metaanalysis.numerics import max_abs
from metaanalysis.results import BivariateResult
from metaanalysis.table import StudyTable

__all__ = ["BivariateNormalFit", "FEW_STUDIES", "MIN_STUDIES", "OPTIMIZERS",
           "fit_bivariate_normal", "log_jacobian", "logit_outcomes", "reitsma"]
#: Fewer studies than this draws a warning (as mada does).
FEW_STUDIES = 5
#: Fewer studies than this is refused: too few for the model's 5 parameters.
MIN_STUDIES = 3


def _moment_start(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Start from the method of moments: excess variance and half the observed correlation.

    The sample variances and correlation are written out on the two columns
    (the same values as ``var(ddof=1)`` and ``corrcoef``, without their call
    overhead, which dominated this start on a few studies).
    """
    k = y.shape[0]
    add = np.add.reduce  # the means as ndarray.mean takes them: the sum, divided by k
    s_mean = add(S, axis=0) / k
    if k > 1:
        d = y - add(y, axis=0) / k
        d1, d2 = d[:, 0], d[:, 1]
        s11, s22, s12 = float(d1 @ d1), float(d2 @ d2), float(d1 @ d2)
        var1, var2 = s11 / (k - 1), s22 / (k - 1)
    else:
        s11 = s22 = s12 = 0.0
        var1 = var2 = 1.0
    tau1 = max(var1 - float(s_mean[0]), 0.05 * max(var1, 1e-3))
    tau2 = max(var2 - float(s_mean[1]), 0.05 * max(var2, 1e-3))
    r = s12 / math.sqrt(s11 * s22) if k > 2 and s11 > 0.0 and s22 > 0.0 else 0.0
    r = 0.0 if not math.isfinite(r) else min(max(0.5 * r, -0.9), 0.9)
    off = r * math.sqrt(tau1 * tau2)
    return np.array([[tau1, off], [off, tau2]])


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


#: a function of the full Cholesky entries (a, b, c) returning the objective, its
#: gradient, its Hessian and its expected information (None if not known), all in the
#: three entries, as Python floats
Derivatives = Callable[[list[float]], tuple[float, list[float], list[list[float]],
                                            list[list[float]] | None]]


def _finite_difference_derivatives(lik: Likelihood, free: np.ndarray) -> Derivatives:
    """Make derivatives from the analytic gradient, the Hessian by its forward difference.

    For a design matrix, where :meth:`Likelihood.derivatives` does not apply:
    the gradient is differenced along the free entries only (step
    ``1e-7 max(1, |x_j|)``) and symmetrised; the rows and columns of fixed
    entries are zero. No expected information.
    """
    idx = np.flatnonzero(free).tolist()

    def derivs(x: list[float]) -> tuple[float, list[float], list[list[float]], None]:
        theta = np.array(x)
        f, g0 = lik.objective(theta, ALL_FREE)
        H = np.zeros((3, 3))
        for j in idx:
            h = 1e-7 * max(1.0, abs(x[j]))
            moved = theta.copy()
            moved[j] += h
            H[j, idx] = (lik.objective(moved, ALL_FREE)[1][idx] - g0[idx]) / h
        H = 0.5 * (H + H.T)
        return float(f), g0.tolist(), H.tolist(), None

    return derivs


def _solve_pd(H: list[list[float]], g: list[float]) -> list[float] | None:
    """Return the Newton step ``-H^-1 g`` if ``H`` is safely positive definite, else None.

    Solved through the Cholesky factor ``L`` of ``H``, written out. "Safely":
    the smallest eigenvalue is above ``1e-9 max(1, lambda_max)``, so that
    :func:`_eigen_step` would take the same step (its floor on the
    eigenvalues is not reached). The test uses ``lambda_max <= ||H||_F`` and
    ``1 / lambda_min = ||H^-1||_2 <= ||L^-1||_F^2``.
    """
    n = len(g)
    if n == 3:
        (h11, h12, h13), (_, h22, h23), (_, _, h33) = H
        if not h11 > 0.0:
            return None
        l11 = math.sqrt(h11)
        l21, l31 = h12 / l11, h13 / l11
        d2 = h22 - l21 * l21
        if not d2 > 0.0:
            return None
        l22 = math.sqrt(d2)
        l32 = (h23 - l31 * l21) / l22
        d3 = h33 - l31 * l31 - l32 * l32
        if not d3 > 0.0:
            return None
        l33 = math.sqrt(d3)
        m11, m22, m33 = 1.0 / l11, 1.0 / l22, 1.0 / l33
        m21 = -l21 * m11 * m22
        m32 = -l32 * m22 * m33
        m31 = -(l31 * m11 + l32 * m21) * m33
        norm_h2 = h11 * h11 + h22 * h22 + h33 * h33 + 2.0 * (h12 * h12 + h13 * h13 + h23 * h23)
        norm_m2 = m11 * m11 + m22 * m22 + m33 * m33 + m21 * m21 + m31 * m31 + m32 * m32
        if max(1.0, math.sqrt(norm_h2)) * norm_m2 >= 1e9:
            return None
        g1, g2, g3 = g
        z1, z2, z3 = m11 * g1, m21 * g1 + m22 * g2, m31 * g1 + m32 * g2 + m33 * g3
        return [-(m11 * z1 + m21 * z2 + m31 * z3), -(m22 * z2 + m32 * z3), -(m33 * z3)]
    L = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = H[i][j] - sum(L[i][m] * L[j][m] for m in range(j))
            if i == j:
                if not s > 0.0:
                    return None
                L[i][i] = math.sqrt(s)
            else:
                L[i][j] = s / L[j][j]
    M = [[0.0] * n for _ in range(n)]  # L^-1, lower triangular
    for i in range(n):
        M[i][i] = 1.0 / L[i][i]
        for j in range(i):
            M[i][j] = -sum(L[i][m] * M[m][j] for m in range(j, i)) / L[i][i]
    norm_h = math.sqrt(sum(v * v for row in H for v in row))
    if max(1.0, norm_h) * sum(v * v for row in M for v in row) >= 1e9:
        return None
    z = [sum(M[i][m] * g[m] for m in range(i + 1)) for i in range(n)]
    return [-sum(M[m][i] * z[m] for m in range(i, n)) for i in range(n)]


def _eigen_step(H: list[list[float]], g: list[float]) -> list[float]:
    """Return the modified Newton step ``-|H|^-1 g``.

    ``|H|`` is ``H`` with its eigenvalues replaced by their absolute values,
    floored at ``1e-10 max(1, lambda_max)``, so the step descends even near a
    saddle or where ``H`` is singular.
    """
    w, V = np.linalg.eigh(np.array(H))
    w = np.abs(w)
    w = np.maximum(w, 1e-10 * max(1.0, float(np.max(w))))
    return (-V @ ((V.T @ np.array(g)) / w)).tolist()


def _newton(derivs: Derivatives, theta0: np.ndarray, free: np.ndarray,
            maxiter: int = 200) -> _OptResult:
    """Minimise by modified Newton iterations with a backtracking line search.

    ``derivs`` gives the objective with its gradient and Hessian (analytic for
    an intercept-only model, :meth:`Likelihood.derivatives`) and the expected
    information if it knows it. The first step is a Fisher-scoring step
    (Jennrich and Schluchter 1986) on the expected information, which is
    positive definite away from the boundary where the Hessian at a start far
    from the maximum often is not; the others are Newton steps where the
    Hessian is safely positive definite (:func:`_solve_pd`) and otherwise
    steps on its absolute eigenvalues (:func:`_eigen_step`). A step is capped
    at 5 in each entry. The line
    search shortens it (to the minimum of the quadratic through the values and
    the slope, between a tenth and a half of the last trial) until the decrease
    is sufficient (Armijo, ``1e-4``), or, where the objective is flat to its
    rounding, until the gradient shrinks. The derivatives at the accepted point
    are those of the next iteration, so a full step costs one evaluation.

    References
    ----------
    .. [1] Jennrich RI, Schluchter MD. Unbalanced repeated-measures models with
       structured covariance matrices. Biometrics 1986;42:805-820.
    """
    full = [float(v) if on else 0.0 for v, on in zip(theta0, free, strict=True)]
    idx = [j for j in range(3) if free[j]]
    every = len(idx) == 3
    f, G, H, info = derivs(full)
    g = G if every else [G[j] for j in idx]
    nit = 0
    success = False
    for nit in range(1, maxiter + 1):  # noqa: B007
        g = G if every else [G[j] for j in idx]
        if not math.isfinite(f):
            return _OptResult(np.array([full[j] for j in idx]), math.inf, np.array(g), nit,
                              False)
        scale = max(1.0, abs(f))
        g_max = max(map(abs, g))
        if g_max < 1e-10 * scale:
            success = True
            break
        Hs = H if every else [[H[i][j] for j in idx] for i in idx]
        step = None
        if nit == 1 and info is not None:  # Fisher scoring from the start
            step = _solve_pd(info if every else [[info[i][j] for j in idx] for i in idx], g)
        if step is None:
            step = _solve_pd(Hs, g)
        if step is None:
            step = _eigen_step(Hs, g)
        size = max(map(abs, step))
        if size > 5.0:
            step = [s * (5.0 / size) for s in step]
        slope = sum([gi * si for gi, si in zip(g, step, strict=True)])
        noise = 1e-14 * scale
        t = 1.0
        accepted = False
        while t > 1e-12:
            trial = full.copy()
            for j, s in zip(idx, step, strict=True):
                trial[j] += t * s
            f_new, G_new, H_new, info_new = derivs(trial)
            if math.isfinite(f_new):
                # a sufficient decrease, or, where f is flat to its rounding, a smaller
                # gradient (from a gradient near 1e-7 the decrease a step predicts is
                # below the rounding of f, which would refuse it by chance)
                if f_new <= f + 1e-4 * t * slope or \
                        (f_new <= f + noise and max(abs(G_new[j]) for j in idx) < g_max):
                    accepted = True
                    break
                curv = f_new - f - t * slope
                t_min = -slope * t * t / (2.0 * curv) if curv > 0.0 else 0.5 * t
                t = min(0.5 * t, max(0.1 * t, t_min))
            else:
                t *= 0.5
        if not accepted:  # no decrease possible: at the optimum to machine precision
            success = g_max < 1e-5 * scale
            break
        small = abs(f - f_new) <= 1e-15 * scale and max(abs(t * s) for s in step) < 1e-9
        full, f, G, H, info = trial, f_new, G_new, H_new, info_new
        if small:
            g = G if every else [G[j] for j in idx]
            success = max(map(abs, g)) < 1e-5 * max(1.0, abs(f))
            break
    return _OptResult(np.array([full[j] for j in idx]), float(f), np.array(g), nit, success)


def _minimise(lik: Likelihood, theta0: np.ndarray, free: np.ndarray) -> _OptResult:
    derivs = lik.derivatives if lik.X is None else _finite_difference_derivatives(lik, free)
    return _newton(derivs, theta0, free)


#: Optimisers of :func:`fit_bivariate_normal`.
OPTIMIZERS: tuple[str, ...] = ("newton", "mada")


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
    if not (np.isfinite(y).all() and np.isfinite(S).all() and (S > 0).all()):
        raise FitError("outcomes or within-study variances are not finite; apply a continuity "
                       "correction ('all' or 'single') or use the binomial GLMM.")
    lik = Likelihood(y, S, X, reml=(method == "reml"))
    if optimizer == "mada":
        path = fit_mada_path(lik, method)
        best_fit = fit_bivariate_normal(y, S, X, method)
        caveats: list[MetaAnalysisWarning] = []
        if best_fit.loglik > path.loglik + 1e-6:
            caveats.append(BelowMaximumWarning(
                f"mada's optimiser stopped {best_fit.loglik - path.loglik:.2g} below the "
                "maximum of the log-likelihood; optimizer='newton' (the default) reaches it."))
        return replace(path, warnings=(*caveats, *path.warnings))
    if optimizer != "newton":
        raise InputError(f"unknown optimizer {optimizer!r}; use 'newton' or 'mada'.")

    def starts() -> Iterator[np.ndarray]:
        """Yield the starting Psi, each made only when the ones before it failed."""
        if start is not None:
            yield start
        yield _moment_start(y, S)
        yield np.diag([0.001, 0.001])
        yield np.diag(y.var(axis=0) + 0.1)

    best: _OptResult | None = None
    best_free = ALL_FREE
    niter = 0
    for psi0 in starts():
        theta0 = cholesky_params(np.asarray(psi0, dtype=float))
        theta0 = np.where(np.abs(theta0) < 1e-3, 1e-3, theta0)  # keep off the saddle at 0
        res = _minimise(lik, theta0, ALL_FREE)
        niter += int(res.nit)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun - 1e-10):
            best = res
        ok = np.isfinite(res.fun) and max_abs(res.jac) < 1e-5 * max(1.0, abs(res.fun))
        if ok:
            break
    if best is None or not np.isfinite(best.fun):
        raise FitError("the bivariate model could not be fitted from any start; try "
                       "method='ml', a continuity correction, the univariate model, or the "
                       "binomial GLMM.")
    psi = psi_from(best.x, best_free)
    # near the boundary, fit the sub-models with the boundary imposed and keep the
    # best; the boundary is then reached exactly rather than approached
    if near_boundary(psi):
        full_fit = best
        for free in _SUBMODELS:
            theta0 = cholesky_params(psi)
            theta0 = np.where((np.abs(theta0) < 1e-3) & free, 1e-3, theta0)
            res = _minimise(lik, theta0, free)
            niter += int(res.nit)
            if np.isfinite(res.fun) and res.fun <= full_fit.fun + 1e-10 and \
                    (best is full_fit or res.fun < best.fun):
                best, best_free = res, free
        psi = psi_from(best.x, best_free)
    boundary = boundary_names(psi)
    for j, name in enumerate(("tau2_1", "tau2_2")):
        if name in boundary:  # a variance at 0 is 0, so rho is undefined, not +-1
            psi = psi.copy()
            psi[j, :] = 0.0
            psi[:, j] = 0.0
    grad_norm = max_abs(best.jac) if best.jac.size else 0.0
    converged = bool(grad_norm < 1e-4 * max(1.0, abs(best.fun)))
    ll, coef, C = lik.loglik_and_gls(psi)
    notes: list[MetaAnalysisWarning] = []
    if not converged:
        notes.append(NotConvergedWarning(
            f"the optimiser stopped with gradient {grad_norm:.2g} (not converged); "
            "estimates may be inaccurate: try method='ml' or the univariate model."))
    return BivariateNormalFit(coef=coef, vcov=C, psi=psi, loglik=ll, method=method,
                              converged=converged, niter=niter, boundary=tuple(boundary),
                              warnings=tuple(notes))


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
        (k, 2) each: :meth:`StudyTable.logits`.

    Raises
    ------
    InputError
        With ``correction="none"`` when a study has a zero cell.
    """
    return table.logits(correction)


def log_jacobian(table: StudyTable, correction: str = "all") -> float:
    """Compute the log-Jacobian of the logit that mada adds to the log-likelihood.

    ``sum_i -log(sens_i (1 - sens_i)) - log(fpr_i (1 - fpr_i))`` on the
    corrected proportions.
    """
    return _log_jacobian(*table.corrected(correction))


def _log_jacobian(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> float:
    """:func:`log_jacobian` from the corrected counts."""
    se = tp / (tp + fn)
    f = fp / (fp + tn)
    return float(np.sum(-np.log(se * (1 - se)) - np.log(f * (1 - f))))


def correction_driven(table: StudyTable, correction: str) -> list[CorrectionDrivenWarning]:
    """Warn for an outcome that is 0% or 100% in every study (pooled on the correction alone).

    Its logit in every study is then ``log(0.5 / (n + 0.5))`` or its negative,
    set by the continuity correction: the pooled value and its interval say
    how large the studies are, not how accurate the test is.

    Examples
    --------
    >>> import pandas as pd
    >>> from metaanalysis.table import StudyTable
    >>> t = StudyTable(pd.DataFrame({"study": ["a", "b", "c"], "TP": [5, 9, 4],
    ...                              "FP": [1, 2, 0], "FN": [0, 0, 0], "TN": [9, 7, 8]}))
    >>> [w.code for w in correction_driven(t, "all")]
    ['correction_driven']
    """
    out = []
    for outcome, events, total in (
            ("sensitivity", table.tp, table.tp + table.fn),
            ("specificity", table.tn, table.tn + table.fp)):
        events, total = np.asarray(events, dtype=float), np.asarray(total, dtype=float)
        if total.size and bool(np.all((events == 0) | (events == total))):
            seen = sorted({"0%" if e == 0 else "100%" for e in events})
            out.append(CorrectionDrivenWarning(
                f"the {outcome} is {' or '.join(seen)} in every study: its pooled value and "
                f"interval rest on the continuity correction (correction '{correction}'), "
                "not on the data; report the observed counts as well."))
    return out


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
    The shipped VBQ data set (metafor's ``rma.mv`` gives 0.850062 and 0.659933,
    tests/fixtures/reproduce/vbq_subsequent_fracture.ref.json):

    >>> import metaanalysis as ma
    >>> fit = ma.reitsma(ma.datasets.load("vbq_subsequent_fracture"))
    >>> round(fit.sensitivity.estimate, 4), round(fit.specificity.estimate, 4)
    (0.8501, 0.6599)
    """
    if not isinstance(table, StudyTable):
        raise InputError(f"reitsma() needs a StudyTable, got {type(table).__name__}.")
    method = str(method).lower()
    if method not in ("reml", "ml"):
        raise InputError(f"unknown method {method!r}; use 'reml' or 'ml'.")
    if table.k < MIN_STUDIES:
        raise FitError(
            f"only {table.k} studies: too few to estimate the 5 parameters of the bivariate "
            "model; use the univariate model (metaanalysis pool --model univariate; "
            "metaanalysis.univariate in Python), "
            "or add studies."
        )
    counts = table.corrected(correction)  # once, for the outcomes and the log-Jacobian
    y, S = table.logits(correction, corrected=counts)
    fit = fit_bivariate_normal(y, S, method=method, optimizer=optimizer)
    caveats = list(fit.warnings)
    if table.k < FEW_STUDIES:
        caveats.append(FewStudiesWarning(
            f"only {table.k} studies: the between-study covariance is poorly "
            "estimated; interpret Psi, the prediction region and the SROC with care."))
    caveats += correction_driven(table, correction)
    for name in fit.boundary:
        kind = BoundaryEstimateWarning if name == "rho" else ZeroVarianceWarning
        caveats.append(kind({
            "tau2_1": "tau2 of logit sensitivity is on the boundary (0): no between-study "
                      "variation in sensitivity is estimated; the correlation and the HSROC "
                      "parameters are undefined (null).",
            "tau2_2": "tau2 of logit FPR is on the boundary (0): no between-study variation "
                      "in the false positive rate is estimated; the correlation, the HSROC "
                      "parameters and the SROC curve with its AUC are undefined (null).",
            "rho": "the correlation of logit sensitivity and logit FPR is on the boundary "
                   "(+-1): Psi is singular.",
        }[name]))
    emit(caveats)
    result = BivariateResult(
        model="reitsma", method=method, table=table, correction=correction,
        mu=fit.coef[0].copy(), vcov=fit.vcov, psi=fit.psi,
        loglik=fit.loglik + _log_jacobian(*counts),
        df=5, nobs=2 * table.k, converged=fit.converged, warnings=warning_texts(caveats),
        warning_codes=warning_codes(caveats),
        extra={"loglik_without_jacobian": fit.loglik, "niter": fit.niter,
               "boundary": fit.boundary, "optimizer": optimizer},
    )
    result._reuse_counts(counts)
    return result

