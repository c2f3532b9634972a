"""Result of the multiple-thresholds model, and everything derived from its four lines.

The model (:func:`metaanalysis.models.thresholds.thresholds`) gives, for the
non-diseased (group 0) and diseased (group 1), a line on the quantile scale of
the chosen distribution ``F`` (logistic or normal) against the (transformed)
cut-off ``x``::

    F^-1(specificity(x))     = alpha0 + beta0 x
    F^-1(1 - sensitivity(x)) = alpha1 + beta1 x

with the covariance of ``(alpha0, alpha1, beta0, beta1)``. This module derives, as
R's diagmeta does (Steinhauser, Schumacher & Rücker 2016): sensitivity and
specificity at any cut-off with Wald intervals on the quantile scale that add the
within-study variance (``var_diseased``, ``var_nondiseased``) to the variance of
the line; the optimal cut-off, where ``lambda * sens + (1 - lambda) * spec`` is
largest; and the areas under the SROC curve, ``AUCSens`` (sensitivity integrated
over specificity) and ``AUCSpec``, with bounds from the pointwise limits. The
interval of the optimal cut-off is the delta method through the implicit-function
theorem, for both distributions (diagmeta gives one only for the normal).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import logistic, norm

from metaanalysis.thresholds_table import ThresholdsTable

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["DISTRIBUTIONS", "Lines", "ThresholdsResult"]

#: Cut-offs: one number, a sequence or an array.
ArrayLikeFloat = float | Sequence[float] | np.ndarray
#: The two link distributions.
DISTRIBUTIONS: tuple[str, ...] = ("logistic", "normal")


def _cdf(z: np.ndarray | float, distr: str) -> np.ndarray:
    return np.asarray(logistic.cdf(z) if distr == "logistic" else norm.cdf(z), dtype=float)


def _pdf(z: np.ndarray | float, distr: str) -> np.ndarray:
    return np.asarray(logistic.pdf(z) if distr == "logistic" else norm.pdf(z), dtype=float)


def _ppf(p: float, distr: str) -> float:
    return float(logistic.ppf(p) if distr == "logistic" else norm.ppf(p))


def _dpdf(z: np.ndarray | float, distr: str) -> np.ndarray:
    """Return the derivative of the density."""
    if distr == "logistic":
        return _pdf(z, distr) * (1.0 - 2.0 * _cdf(z, distr))
    return -np.asarray(z) * _pdf(z, distr)


def _trapz(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


@dataclass(frozen=True)
class Lines:
    """The two fitted lines and their joint covariance.

    Attributes
    ----------
    alpha0, beta0 : float
        Intercept and slope of ``F^-1(spec)`` (non-diseased).
    alpha1, beta1 : float
        Intercept and slope of ``F^-1(1 - sens)`` (diseased).
    cov : numpy.ndarray
        Covariance of ``(alpha0, alpha1, beta0, beta1)``.
    var_nondiseased, var_diseased : float
        Within-study variances added to the variance of a line (diagmeta's).
    distr : str
        ``"logistic"`` or ``"normal"``.
    """

    alpha0: float
    alpha1: float
    beta0: float
    beta1: float
    cov: np.ndarray
    var_nondiseased: float
    var_diseased: float
    distr: str

    @classmethod
    def from_fixef(cls, fixef: Sequence[float] | np.ndarray, vcov: np.ndarray,
                   var_nondiseased: float,
                   var_diseased: float, distr: str) -> Lines:
        """Build the lines from ``(Intercept, Group, Cutoff, Group:Cutoff)`` and their covariance.

        ``alpha1 = b0 + b1``, ``beta1 = b2 + b3``; the covariance follows by the
        linear map.
        """
        b = np.asarray(fixef, dtype=float)
        a = np.array([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]])
        th = a @ b
        cov = a @ np.asarray(vcov, dtype=float) @ a.T
        return cls(alpha0=float(th[0]), alpha1=float(th[1]), beta0=float(th[2]),
                   beta1=float(th[3]), cov=cov, var_nondiseased=float(var_nondiseased),
                   var_diseased=float(var_diseased), distr=distr)

    def _line(self, x: np.ndarray, group: int, level: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = (self.alpha0, self.beta0) if group == 0 else (self.alpha1, self.beta1)
        ia, ib = (0, 2) if group == 0 else (1, 3)
        var_within = self.var_nondiseased if group == 0 else self.var_diseased
        y = a + b * x
        se = np.sqrt(self.cov[ia, ia] + x * x * self.cov[ib, ib] + 2 * x * self.cov[ia, ib]
                     + var_within)
        z = float(norm.ppf(0.5 + level / 2.0))
        return y, y - z * se, y + z * se

    def sens(self, x: ArrayLikeFloat, level: float = 0.95
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sensitivity at transformed cut-offs ``x``: estimate, lower, upper."""
        y, lo, hi = self._line(np.asarray(x, dtype=float), 1, level)
        return (1 - _cdf(y, self.distr), 1 - _cdf(hi, self.distr), 1 - _cdf(lo, self.distr))

    def spec(self, x: ArrayLikeFloat, level: float = 0.95
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Specificity at transformed cut-offs ``x``: estimate, lower, upper."""
        y, lo, hi = self._line(np.asarray(x, dtype=float), 0, level)
        return _cdf(y, self.distr), _cdf(lo, self.distr), _cdf(hi, self.distr)

    def youden(self, x: ArrayLikeFloat, lam: float) -> np.ndarray:
        """Weighted Youden index ``2 (lam sens + (1 - lam) spec) - 1`` at ``x``."""
        x = np.asarray(x, dtype=float)
        se = 1 - _cdf(self.alpha1 + self.beta1 * x, self.distr)
        sp = _cdf(self.alpha0 + self.beta0 * x, self.distr)
        return np.asarray(2 * (lam * se + (1 - lam) * sp) - 1)

    def _slope(self, x: float, lam: float) -> float:
        z0, z1 = self.alpha0 + self.beta0 * x, self.alpha1 + self.beta1 * x
        f0 = float(_pdf(z0, self.distr))
        f1 = float(_pdf(z1, self.distr))
        return (1 - lam) * self.beta0 * f0 - lam * self.beta1 * f1

    def optimal(self, lam: float) -> float:
        """Return the transformed cut-off of the largest local maximum of the weighted Youden index.

        The index is scanned between the two groups' 0.1 % and 99.9 % quantiles
        and every interior maximum refined to machine precision (root of the
        derivative by Brent's method). NaN when there is none.
        """
        ends = []
        for a, b in ((self.alpha0, self.beta0), (self.alpha1, self.beta1)):
            ends += [(_ppf(1e-3, self.distr) - a) / b, (_ppf(1 - 1e-3, self.distr) - a) / b]
        lo, hi = min(ends), max(ends)
        span = hi - lo
        grid = np.linspace(lo - span, hi + span, 4001)
        slope = ((1 - lam) * self.beta0 * _pdf(self.alpha0 + self.beta0 * grid, self.distr)
                 - lam * self.beta1 * _pdf(self.alpha1 + self.beta1 * grid, self.distr))
        best, best_j = math.nan, -math.inf
        for j in np.flatnonzero((slope[:-1] > 0) & (slope[1:] <= 0)):
            root = optimize.brentq(self._slope, grid[j], grid[j + 1], args=(lam,),
                                   xtol=1e-14, rtol=4 * np.finfo(float).eps)
            value = float(self.youden(root, lam))
            if value > best_j:
                best, best_j = float(root), value
        return best

    def optimal_se(self, x: float, lam: float) -> float:
        """Return the standard error of the optimal cut-off ``x`` (delta method).

        ``x`` solves ``G(x) = (1 - lam) beta0 f(z0) - lam beta1 f(z1) = 0``; its
        gradient in ``(alpha0, alpha1, beta0, beta1)`` is ``-dG/dtheta / dG/dx``.
        """
        if not math.isfinite(x):
            return math.nan
        z0, z1 = self.alpha0 + self.beta0 * x, self.alpha1 + self.beta1 * x
        f0, f1 = float(_pdf(z0, self.distr)), float(_pdf(z1, self.distr))
        d0, d1 = float(_dpdf(z0, self.distr)), float(_dpdf(z1, self.distr))
        g_x = (1 - lam) * self.beta0 ** 2 * d0 - lam * self.beta1 ** 2 * d1
        g_theta = np.array([(1 - lam) * self.beta0 * d0,
                            -lam * self.beta1 * d1,
                            (1 - lam) * (f0 + self.beta0 * x * d0),
                            -lam * (f1 + self.beta1 * x * d1)], dtype=float)
        grad = -g_theta / g_x
        var = float(grad @ self.cov @ grad)
        return math.sqrt(var) if var >= 0 else math.nan

    def auc(self, level: float = 0.95) -> dict[str, float]:
        """``AUCSens`` and ``AUCSpec`` with their bounds, on diagmeta's grid of 999 cut-offs.

        The grid runs from where sensitivity is 1 - 1e-6 to where specificity is
        1 - 1e-6; each area is the trapezoidal integral divided by the range of
        the integration variable.
        """
        a = (_ppf(1e-6, self.distr) - self.alpha1) / self.beta1
        b = (_ppf(1 - 1e-6, self.distr) - self.alpha0) / self.beta0
        t = a + (b - a) * np.arange(1, 1000) / 1000.0
        sens, sens_lo, sens_hi = self.sens(t, level)
        spec, spec_lo, spec_hi = self.spec(t, level)
        rs = float(np.nanmax(spec) - np.nanmin(spec))
        re = float(np.nanmax(sens) - np.nanmin(sens))
        return {"AUCSens": _trapz(spec, sens) / rs,
                "AUCSens_lower": _trapz(spec, sens_lo) / rs,
                "AUCSens_upper": _trapz(spec, sens_hi) / rs,
                "AUCSpec": -_trapz(sens, spec) / re,
                "AUCSpec_lower": -_trapz(sens, spec_lo) / re,
                "AUCSpec_upper": -_trapz(sens, spec_hi) / re}


@dataclass(frozen=True, kw_only=True)
class ThresholdsResult:
    """A fitted multiple-thresholds model (Steinhauser, Schumacher & Rücker 2016).

    Parameters
    ----------
    table : ThresholdsTable
        The data.
    model : str
        Random-effects structure (``CI, DI, CS, DS, CICS, DIDS, DICS, CIDS``).
    distr : str
        ``"logistic"`` or ``"normal"``.
    log_cutoff : bool
        Whether the model is linear in the log of the cut-off.
    lam : float
        Weight of sensitivity in the weighted Youden index.
    level : float
        Confidence level of every interval.
    lines : Lines
        The fitted lines and their covariance.
    fixef : Mapping
        lmer's fixed effects ``(Intercept), Group, Cutoff, Group:Cutoff``.
    vcov : numpy.ndarray
        Their covariance.
    random_names : tuple of str
        The random effects, in lme4's order.
    psi : numpy.ndarray
        Their covariance matrix.
    sigma2 : float
        Residual variance.
    loglik, aic, bic : float
        REML log-likelihood and the criteria from it (lme4's).
    nobs : int
        Observations (two per row).
    converged : bool
        Whether the optimiser converged.
    warnings, warning_codes : tuple of str
        Caveats of the data and fit, and their codes.

    References
    ----------
    Steinhauser S, Schumacher M, Rücker G (2016). Modelling multiple thresholds in
    meta-analysis of diagnostic test accuracy studies. BMC Medical Research
    Methodology 16:97.
    """

    table: ThresholdsTable
    model: str
    distr: str
    log_cutoff: bool
    lam: float
    level: float
    lines: Lines
    fixef: Mapping[str, float]
    vcov: np.ndarray
    random_names: tuple[str, ...]
    psi: np.ndarray
    sigma2: float
    loglik: float
    aic: float
    bic: float
    nobs: int
    converged: bool = True
    warnings: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------- cut-off scale --
    def to_model_scale(self, cutoff: ArrayLikeFloat) -> np.ndarray:
        """Map cut-offs to the model's x (log if ``log_cutoff``; negated for ``lower``)."""
        c = np.asarray(cutoff, dtype=float)
        if self.log_cutoff:
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.log(c)
        return np.asarray(-c if self.table.direction == "lower" else c)

    def from_model_scale(self, x: ArrayLikeFloat) -> np.ndarray:
        """Inverse of :meth:`to_model_scale`."""
        u = np.asarray(x, dtype=float)
        u = -u if self.table.direction == "lower" else u
        return np.asarray(np.exp(u) if self.log_cutoff else u)

    # ------------------------------------------------------------ estimates --
    def sens_spec(self, cutoffs: ArrayLikeFloat) -> pd.DataFrame:
        """Pooled sensitivity and specificity at ``cutoffs`` with their intervals.

        Returns
        -------
        pandas.DataFrame
            Columns ``cutoff, sens, sens_lower, sens_upper, spec, spec_lower,
            spec_upper, extrapolated`` (True for a cut-off outside the studies'
            cut-offs, :attr:`observed_range`: read off the fitted lines beyond the data).
        """
        c = np.atleast_1d(np.asarray(cutoffs, dtype=float))
        x = self.to_model_scale(c)
        se, se_lo, se_hi = self.lines.sens(x, self.level)
        sp, sp_lo, sp_hi = self.lines.spec(x, self.level)
        lo, hi = self.observed_range
        return pd.DataFrame({"cutoff": c, "sens": se, "sens_lower": se_lo, "sens_upper": se_hi,
                             "spec": sp, "spec_lower": sp_lo, "spec_upper": sp_hi,
                             "extrapolated": (c < lo) | (c > hi)})

    @property
    def observed_range(self) -> tuple[float, float]:
        """The smallest and largest cut-off of the studies."""
        cut = np.asarray(self.table.cutoff, dtype=float)
        return float(cut.min()), float(cut.max())

    @property
    def optimal_cutoff(self) -> dict[str, float]:
        """The optimal cut-off with its interval (``value, lower, upper``; NaN if none)."""
        x = self.lines.optimal(self.lam)
        se = self.lines.optimal_se(x, self.lam)
        z = float(norm.ppf(0.5 + self.level / 2.0))
        ends = self.from_model_scale([x, x - z * se, x + z * se])
        lo, hi = sorted([float(ends[1]), float(ends[2])])
        return {"value": float(ends[0]), "lower": lo, "upper": hi}

    @property
    def at_optimum(self) -> dict[str, float]:
        """Sensitivity and specificity at the optimal cut-off, with intervals."""
        row = self.sens_spec([self.optimal_cutoff["value"]]).iloc[0]
        return {k: float(row[k]) for k in row.index if k != "cutoff"}

    @property
    def auc(self) -> dict[str, float]:
        """``AUCSens`` and ``AUCSpec`` with bounds (see :meth:`Lines.auc`)."""
        return self.lines.auc(self.level)

    @property
    def n_studies(self) -> int:
        """Number of studies."""
        return self.table.k

    # -------------------------------------------------------------- output --
    def summary(self) -> dict[str, Any]:
        """Return the main numbers (as :meth:`to_dict`)."""
        return self.to_dict()

    def to_dict(self, at: Sequence[float] = ()) -> dict[str, Any]:
        """Return a JSON-ready mapping (``metaanalysis thresholds --json``).

        Keys: ``model``, ``distr``, ``log_cutoff``, ``direction``, ``lambda``,
        ``level``, ``n_studies``, ``n_rows``, ``optimal_cutoff`` (value, lower,
        upper), ``at_optimum`` (sens, spec and bounds), ``at`` (one entry per
        cut-off asked for), ``auc``, ``fixef``, ``vcov_fixef``, ``lines``
        (alpha0, beta0, alpha1, beta1), ``random_effects`` (names and
        covariance), ``sigma2``, ``var_diseased``, ``var_nondiseased``,
        ``loglik_reml``, ``aic``, ``bic``, ``converged``, ``warnings`` and
        ``warning_codes``.
        """
        ln = self.lines
        return {
            "model": self.model, "distr": self.distr, "log_cutoff": self.log_cutoff,
            "direction": self.table.direction, "lambda": self.lam, "level": self.level,
            "n_studies": self.table.k, "n_rows": self.table.n_rows,
            "optimal_cutoff": self.optimal_cutoff, "at_optimum": self.at_optimum,
            "at": self.sens_spec(list(at)).to_dict(orient="records") if len(at) else [],
            "auc": self.auc, "fixef": dict(self.fixef), "vcov_fixef": self.vcov.tolist(),
            "lines": {"alpha0": ln.alpha0, "beta0": ln.beta0, "alpha1": ln.alpha1,
                      "beta1": ln.beta1},
            "random_effects": {"names": list(self.random_names), "covariance": self.psi.tolist()},
            "sigma2": self.sigma2, "var_diseased": ln.var_diseased,
            "var_nondiseased": ln.var_nondiseased, "loglik_reml": self.loglik,
            "aic": self.aic, "bic": self.bic, "converged": self.converged,
            "warnings": list(self.warnings), "warning_codes": list(self.warning_codes),
        }

    def format_summary(self, at: Sequence[float] = (), digits: int = 3) -> str:
        """Text summary: the optimal cut-off, accuracy there and at ``at``, AUCs, fit."""
        def ci(v: float, lo: float, hi: float) -> str:
            return f"{v:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"

        oc = self.optimal_cutoff
        op = self.at_optimum
        a = self.auc
        pct = f"{100 * self.level:g}%"
        scale = "log cut-off" if self.log_cutoff else "cut-off"
        lines = [f"Multiple-thresholds model {self.model} ({self.distr}, linear in the {scale}; "
                 f"positive when the value is {'>=' if self.table.direction == 'higher' else '<='}"
                 f" the cut-off), studies={self.table.k}, rows={self.table.n_rows}",
                 f"Optimal cut-off (lambda={self.lam:g}): "
                 + (ci(oc["value"], oc["lower"], oc["upper"]) if math.isfinite(oc["lower"])
                    else f"{oc['value']:.{digits}f} (no interval)") + f" [{pct} CI]",
                 f"  sensitivity {ci(op['sens'], op['sens_lower'], op['sens_upper'])}",
                 f"  specificity {ci(op['spec'], op['spec_lower'], op['spec_upper'])}"]
        if len(at):
            lo, hi = self.observed_range
            for _, r in self.sens_spec(list(at)).iterrows():
                beyond = (f" [extrapolated: the studies' cut-offs run from {lo:g} to {hi:g}]"
                          if r["extrapolated"] else "")
                lines.append(f"At cut-off {r['cutoff']:g}: sensitivity "
                             f"{ci(r['sens'], r['sens_lower'], r['sens_upper'])}, specificity "
                             f"{ci(r['spec'], r['spec_lower'], r['spec_upper'])}{beyond}")
        lines += [f"AUCSens {ci(a['AUCSens'], a['AUCSens_lower'], a['AUCSens_upper'])}; "
                  f"AUCSpec {ci(a['AUCSpec'], a['AUCSpec_lower'], a['AUCSpec_upper'])}",
                  f"REML logLik {self.loglik:.4f}, AIC {self.aic:.4f}, BIC {self.bic:.4f}"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    # --------------------------------------------------------------- plots --
    def plot_sroc(self, ax: Axes | None = None) -> Axes:
        """SROC curve with the study points, the optimal cut-off and cut-offs marked."""
        from metaanalysis.thresholds_plots import plot_sroc

        return plot_sroc(self, ax=ax)

    def plot_sens_spec(self, ax: Axes | None = None) -> Axes:
        """Sensitivity and specificity against the cut-off, with bands and the data."""
        from metaanalysis.thresholds_plots import plot_sens_spec

        return plot_sens_spec(self, ax=ax)
