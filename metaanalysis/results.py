"""Results of the bivariate models: frozen records with everything derived from them.

This module owns the result classes of the bivariate random-effects models.
:class:`FitResult` is the one base: it holds what every bivariate fit shares
(the model and method, the data, the between-study covariance ``Psi``, the
log-likelihood and its convention, AIC/BIC, convergence, the caveats as
``warnings`` with their ``warning_codes``) and derives ``tau2``, ``rho``
(:func:`correlation`) and the I2 of ``Psi`` from them.
:class:`BivariateResult` (pooled sensitivity and specificity) adds ``mu``
and every quantity computed from it on access (sensitivity with CI, HSROC
parameters, SROC curve, AUC, regions, LR+/LR-/DOR), so any model that
produces one (the Reitsma normal model, the binomial GLMM) gets the same
surface; :class:`metaanalysis.models.regression.RegressionResult` adds the
coefficients of a meta-regression. Results import no model: the models
import them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis import heterogeneity, regions, sroc
from metaanalysis.errors import MetaAnalysisWarning
from metaanalysis.numerics import expit, normal_quantile
from metaanalysis.summary_points import Estimate, summary_points_delta, summary_points_mc
from metaanalysis.table import StudyTable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["BivariateResult", "Estimate", "FitResult", "correlation", "format_i2_lines",
           "format_table"]

_Z95 = normal_quantile(0.975)
_SUMMARY_COLUMNS = ("estimate", "se", "ci_low", "ci_high")


def correlation(psi: np.ndarray) -> float:
    """Correlation of a 2x2 covariance matrix, in [-1, 1]; NaN when a variance is 0.

    Shared by every result class, so that a fit on the boundary reports the same
    correlation whichever result holds it: round-off that puts ``|rho|`` a few
    ulps above 1 is clipped, and a zero (or negative) variance leaves it undefined.
    """
    d = float(psi[0, 0]) * float(psi[1, 1])
    if not d > 0:
        return float("nan")
    return float(np.clip(float(psi[0, 1]) / math.sqrt(d), -1.0, 1.0))


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%" if math.isfinite(x) else "undefined"


def format_i2_lines(fit: FitResult) -> list[str]:
    """Text lines naming each I2 estimator of a fit (``i2``, ``i2_cochran_q``), in percent.

    Used by every text output (pool, regress), so one fit reads the same everywhere.
    """
    i2 = fit.i2
    lines = [f"I\u00b2 (Higgins-Thompson, fitted tau\u00b2): logit sens {_pct(i2['logit_sens'])}, "
             f"logit FPR {_pct(i2['logit_fpr'])}; bivariate share of generalised variance "
             f"{_pct(i2['bivariate'])}"]
    q = getattr(fit, "i2_cochran_q", None)
    if q is not None:
        lines.append(f"I\u00b2 (Cochran's Q, (Q - df)/Q): logit sens {_pct(q['logit_sens'])}, "
                     f"logit FPR {_pct(q['logit_fpr'])}")
    return lines


def format_table(index_name: str, columns: tuple[str, ...],
                 rows: Sequence[tuple[str, tuple[float, ...]]], digits: int = 4) -> str:
    """Lay out a table of floats as text, exactly as pandas' ``DataFrame.to_string`` does.

    The same text as ``frame.to_string(float_format=lambda v: f"{v:.{digits}f}",
    na_rep="")`` for a frame of float columns whose index is named
    ``index_name``, without importing pandas: labels left-aligned, every
    column right-aligned to its widest cell or one more than its header, one
    space between columns, NaN left blank.

    Parameters
    ----------
    index_name : str
        The name of the index, printed on the second line.
    columns : tuple of str
        The column names.
    rows : list of (str, tuple of float)
        Each row's label and values.
    digits : int
        Digits after the decimal point.

    Returns
    -------
    str

    Examples
    --------
    >>> text = format_table("q", ("a", "b"), [("x", (1.0, float("nan"))), ("yy", (-2.5, 3.0))])
    >>> text.splitlines()
    ['         a      b', 'q                ', 'x   1.0000       ', 'yy -2.5000 3.0000']
    """
    cells = [[("" if math.isnan(v) else f"{v:.{digits}f}") for v in values]
             for _, values in rows]
    wi = max(len(index_name), *(len(label) for label, _ in rows))
    # pandas keeps one space more before a header than before a value
    widths = [max(len(name) + 1, *(len(r[j]) for r in cells)) for j, name in enumerate(columns)]
    head = " " * wi + "".join(" " + n.rjust(w) for n, w in zip(columns, widths, strict=True))
    lines = [head, index_name.ljust(wi) + " " * sum(1 + w for w in widths)]
    for (label, _), row in zip(rows, cells, strict=True):
        lines.append(label.ljust(wi) + "".join(" " + c.rjust(w)
                                               for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _float(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """What every fitted bivariate random-effects model holds, and what follows from it.

    Parameters
    ----------
    model : str
        ``"reitsma"`` or ``"glmm"``.
    method : str
        ``"reml"``, ``"ml"``, ``"laplace"`` or ``"aghq"``.
    table : StudyTable
        The data the model was fitted to.
    correction : str
        Continuity correction used (``"none"`` for the GLMM).
    vcov : numpy.ndarray
        Covariance of the fixed effects.
    psi : numpy.ndarray
        (2, 2) between-study (residual) covariance of (logit sens, logit FPR).
    loglik : float
        Log-likelihood in the package's convention (:attr:`loglik_convention`):
        mada's for the normal model (with the log-Jacobian of the logit),
        glmer's for the GLMM.
    nobs : int
        Number of observations for BIC (2 k).
    converged : bool
        Whether the optimiser converged.
    warnings : tuple of str
        Caveats of the fit (boundary, few studies, ...).
    warning_codes : tuple of str
        The ``code`` of each caveat (:class:`metaanalysis.errors.MetaAnalysisWarning`
        and its subclasses), in the order of ``warnings``. Left empty, every
        caveat gets the generic code ``"warning"``.
    extra : Mapping
        Model-specific details.
    """

    model: str
    method: str
    table: StudyTable
    correction: str
    vcov: np.ndarray
    psi: np.ndarray
    loglik: float
    nobs: int
    converged: bool = True
    warnings: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("vcov", "psi"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.psi.shape != (2, 2):
            raise ValueError(f"psi must have shape (2, 2), got {self.psi.shape}")
        object.__setattr__(self, "warnings", tuple(self.warnings))
        codes = tuple(self.warning_codes) or (MetaAnalysisWarning.code,) * len(self.warnings)
        if len(codes) != len(self.warnings):
            raise ValueError(f"warning_codes has {len(codes)} entries for "
                             f"{len(self.warnings)} warnings")
        object.__setattr__(self, "warning_codes", codes)

    @property
    def n_parameters(self) -> int:
        """Number of estimated parameters (fixed effects and the 3 of ``Psi``)."""
        raise NotImplementedError

    @property
    def tau2(self) -> tuple[float, float]:
        """Between-study variances of logit sensitivity and logit FPR."""
        return float(self.psi[0, 0]), float(self.psi[1, 1])

    @property
    def rho(self) -> float:
        """Between-study correlation of logit sensitivity and logit FPR (NaN if undefined)."""
        return correlation(self.psi)

    @property
    def loglik_convention(self) -> str:
        """Whose log-likelihood ``loglik`` (and so AIC, BIC) is: ``"mada"`` or ``"glmer"``."""
        return "glmer" if self.model == "glmm" else "mada"

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``-2 logLik + 2 n_parameters``."""
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``-2 logLik + n_parameters log(nobs)``."""
        return -2.0 * self.loglik + self.n_parameters * math.log(self.nobs)

    @property
    def _i2_correction(self) -> str:
        """Correction for within-study variances: the fit's, ``"all"`` for the GLMM."""
        return "all" if self.correction == "none" else self.correction

    def _design(self) -> np.ndarray | None:
        """Return the (k, p) design of the fixed effects; ``None`` for intercepts only."""
        return None

    @cached_property
    def _within(self) -> heterogeneity.WithinStudy:
        """The table's within-study quantities under the I2 correction, each computed once."""
        return heterogeneity.WithinStudy(self.table, self._i2_correction)

    def _reuse_counts(self, counts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                      ) -> None:
        """Hand over the corrected counts the fit computed, so the I2 statistics reuse them.

        ``counts`` must be ``table.corrected(correction)``; they are used only when that
        is also the correction of the I2 statistics (not for ``"none"``).
        """
        if self._i2_correction == self.correction:
            # the cached value of the property _within
            self.__dict__["_within"] = heterogeneity.WithinStudy(
                self.table, self.correction, counts=counts)

    @cached_property
    def i2(self) -> dict[str, float]:
        """Higgins-Thompson I2 of logit sens and FPR from ``Psi``, and a bivariate share.

        The share is of the generalised variance; see
        :func:`metaanalysis.heterogeneity.bivariate_i2` (with the fit's design, so a
        meta-regression reports residual I2).
        """
        return heterogeneity.bivariate_i2(self.table, self.psi, correction=self._i2_correction,
                                          X=self._design(), within=self._within)

    def _caveats_dict(self) -> dict[str, Any]:
        """Return the ``warnings`` and ``warning_codes`` keys of the JSON output."""
        return {"warnings": list(self.warnings), "warning_codes": list(self.warning_codes)}


@dataclass(frozen=True, kw_only=True)
class BivariateResult(FitResult):
    """A fitted bivariate random-effects model of sensitivity and FPR (pooled, no covariates).

    The fields shared with every fit are those of :class:`FitResult`.

    Parameters
    ----------
    model : str
        ``"reitsma"`` or ``"glmm"``.
    method : str
        ``"reml"``, ``"ml"``, ``"laplace"`` or ``"aghq"``.
    table : StudyTable
        The data the model was fitted to.
    correction : str
        Continuity correction used (``"none"`` for the GLMM).
    mu : numpy.ndarray
        (2,) pooled (logit sensitivity, logit false positive rate).
    vcov : numpy.ndarray
        (2, 2) covariance of ``mu``.
    psi : numpy.ndarray
        (2, 2) between-study covariance of (logit sens, logit FPR).
    loglik : float
        Log-likelihood (mada's convention for Reitsma, with the log-Jacobian of
        the logit; glmer's for the GLMM); :attr:`loglik_convention` names it.
    df : int
        Number of parameters (5).
    nobs : int
        Number of observations for BIC (2 k).
    converged : bool
        Whether the optimiser converged.
    warnings : tuple of str
        Caveats of the fit (boundary, few studies, ...).
    warning_codes : tuple of str
        The ``code`` of each caveat, in the order of ``warnings``.
    extra : Mapping
        Model-specific details.

    Notes
    -----
    Wald intervals on the logit scale, back-transformed; the specificity
    interval is one minus the FPR interval with the ends swapped (as mada).
    """

    mu: np.ndarray
    df: int = 5

    def __post_init__(self) -> None:
        for name, shape in (("mu", (2,)), ("vcov", (2, 2)), ("psi", (2, 2))):
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        super().__post_init__()
        mu = np.array(self.mu, dtype=float)
        mu.setflags(write=False)
        object.__setattr__(self, "mu", mu)

    @property
    def n_parameters(self) -> int:
        """Number of parameters, :attr:`df` (5: two means and the three of ``Psi``)."""
        return self.df

    # ----------------------------------------------------------- estimates --
    @property
    def se(self) -> np.ndarray:
        """Standard errors of ``mu``."""
        return np.sqrt(np.diag(self.vcov))

    def _wald(self, j: int, level: float = 0.95) -> tuple[float, float, float]:
        z = normal_quantile(0.5 + level / 2.0)
        m, s = float(self.mu[j]), float(self.se[j])
        if self.diverged:  # no interval: see :attr:`diverged`
            return float(expit(m)), math.nan, math.nan
        return float(expit(m)), float(expit(m - z * s)), float(expit(m + z * s))

    @cached_property
    def _wald95(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """:meth:`_wald` of logit sens and of logit FPR at the 95% level, computed once.

        The same arithmetic as :meth:`_wald`, with the six logistic values in one call.
        """
        v = self.vcov
        m0, m1 = float(self.mu[0]), float(self.mu[1])
        s0, s1 = (float(x) for x in np.sqrt(np.array([v[0, 0], v[1, 1]])))
        e = expit(np.array([m0, m0 - _Z95 * s0, m0 + _Z95 * s0,
                            m1, m1 - _Z95 * s1, m1 + _Z95 * s1])).tolist()
        if self.diverged:  # no interval: see :attr:`diverged`
            return (e[0], math.nan, math.nan), (e[3], math.nan, math.nan)
        return (e[0], e[1], e[2]), (e[3], e[4], e[5])

    @property
    def sensitivity(self) -> Estimate:
        """Pooled sensitivity with its 95% CI."""
        return Estimate(*self._wald95[0])

    @property
    def false_positive_rate(self) -> Estimate:
        """Pooled false positive rate with its 95% CI."""
        return Estimate(*self._wald95[1])

    @property
    def specificity(self) -> Estimate:
        """Pooled specificity (1 - FPR) with its 95% CI."""
        f, lo, hi = self._wald95[1]
        return Estimate(1.0 - f, 1.0 - hi, 1.0 - lo)

    @property
    def diverged(self) -> bool:
        """Whether a pooled logit diverged or is not determined (a ``diverging_estimate``).

        The pooled sensitivity or FPR then sits at 0 or 1 with an arbitrary logit, so
        what is derived from both logits (LR+, LR-, DOR, HSROC, AUC) is undefined: NaN
        here, null in JSON. The covariance of the pooled logits is then that of a
        degenerate fit (a standard error of hundreds for one logit, of almost 0 for the
        other), so no standard error or interval of a pooled quantity is given either:
        the point estimates stay, as the fit found them.
        """
        return "diverging_estimate" in self.warning_codes

    # ---------------------------------------------------------------- SROC --
    @cached_property
    def hsroc(self) -> dict[str, float]:
        """HSROC parameters (Harbord et al. 2007): Theta, Lambda, beta, sigma2theta, sigma2alpha."""
        found = sroc.hsroc_parameters(self.mu, self.psi)
        return {k: math.nan for k in found} if self.diverged else found

    def sroc(self, fpr: ArrayLike, type: str = "ruttergatsonis") -> np.ndarray:
        """Sensitivity on the SROC curve at the given false positive rates."""
        return sroc.sroc_curve(self.mu, self.psi, fpr, type)

    @property
    def observed_fpr(self) -> np.ndarray:
        """Per-study false positive rates from the uncorrected counts."""
        t = self.table
        return t.fp / (t.fp + t.tn)

    @cached_property
    def auc(self) -> float:
        """Area under the SROC curve as mada computes it (99-point trapezoid)."""
        return math.nan if self.diverged else sroc.auc_mada(self.mu, self.psi)

    @cached_property
    def pauc(self) -> float:
        """Partial AUC over the observed FPR range as mada computes it."""
        return (math.nan if self.diverged
                else sroc.pauc_mada(self.mu, self.psi, self.observed_fpr))

    @cached_property
    def auc_exact(self) -> float:
        """The exact integral of the SROC curve over FPR in (0, 1)."""
        return math.nan if self.diverged else sroc.auc_exact(self.mu, self.psi)

    # ------------------------------------------------------------- regions --
    def confidence_region(self, level: float = 0.95, n: int = 100) -> pd.DataFrame:
        """Confidence ellipse of the summary point (columns fpr, sens, logit_fpr, logit_sens)."""
        return regions.confidence_region(self.mu, self.vcov, level, n)

    def prediction_region(self, level: float = 0.95, n: int = 100) -> pd.DataFrame:
        """Prediction ellipse for a new study (``Psi + vcov``)."""
        return regions.prediction_region(self.mu, self.vcov, self.psi, level, n)

    # ------------------------------------------------------ summary points --
    @cached_property
    def _points(self) -> dict[str, Estimate]:
        found = summary_points_delta(self.mu, self.vcov)
        if self.diverged:
            return {k: Estimate(math.nan, math.nan, math.nan) for k in found}
        return found

    @property
    def lr_positive(self) -> Estimate:
        """Positive likelihood ratio sens/FPR (delta-method CI)."""
        return self._points["lr_positive"]

    @property
    def lr_negative(self) -> Estimate:
        """Negative likelihood ratio (1-sens)/(1-FPR) (delta-method CI)."""
        return self._points["lr_negative"]

    @property
    def dor(self) -> Estimate:
        """Diagnostic odds ratio (delta-method CI)."""
        return self._points["dor"]

    def summary_points_mc(self, n_draws: int = 1_000_000,
                          seed: int | None = 0) -> dict[str, dict[str, float]]:
        """Monte Carlo LR+, LR-, 1/LR-, DOR summaries (mada's ``SummaryPts``)."""
        return summary_points_mc(self.mu, self.vcov, n_draws=n_draws, seed=seed)

    # -------------------------------------------------------- heterogeneity --
    @cached_property
    def i2_cochran_q(self) -> dict[str, float]:
        """``(Q - df) / Q`` of logit sens and logit FPR (no model; the fit's correction).

        See :func:`metaanalysis.heterogeneity.cochran_q_i2`.
        """
        return heterogeneity.cochran_q_i2(self.table, correction=self._i2_correction,
                                          within=self._within)

    @cached_property
    def i2_holling(self) -> dict[str, float]:
        """Holling et al.'s six I2 values, as mada's ``summary.reitsma`` reports them.

        See :func:`metaanalysis.heterogeneity.i2_holling`.
        """
        return heterogeneity.i2_holling(self.table, correction=self._i2_correction,
                                        within=self._within)

    @cached_property
    def i2_zhou(self) -> dict[str, float]:
        """Zhou and Dendukuri's I2 (per outcome and bivariate) from this fit.

        See :func:`metaanalysis.heterogeneity.i2_zhou`.
        """
        return heterogeneity.i2_zhou(self.table, self.mu, self.psi)

    # -------------------------------------------------------------- output --
    def _summary_rows(self) -> list[tuple[str, tuple[float, float, float, float]]]:
        """Return the rows of :meth:`summary`: (quantity, (estimate, se, ci_low, ci_high))."""
        rows: list[tuple[str, tuple[float, float, float, float]]] = []
        se = self.se
        nan = float("nan")
        for j, name in enumerate(("logit_sens", "logit_fpr")):
            m, s = float(self.mu[j]), float(se[j])
            rows.append((name, (m, nan, nan, nan) if self.diverged
                         else (m, s, m - _Z95 * s, m + _Z95 * s)))
        for name in ("sensitivity", "specificity", "false_positive_rate",
                     "lr_positive", "lr_negative", "dor"):
            e: Estimate = getattr(self, name)
            rows.append((name, (float(e.estimate), nan, float(e.ci_low), float(e.ci_high))))
        t1, t2 = self.tau2
        for name, val in (("tau2_logit_sens", t1), ("tau2_logit_fpr", t2),
                          ("rho_sens_fpr", self.rho), ("auc", self.auc), ("pauc", self.pauc),
                          ("auc_exact", self.auc_exact), ("loglik", self.loglik),
                          ("aic", self.aic), ("bic", self.bic)):
            rows.append((name, (float(val), nan, nan, nan)))
        return rows

    def summary(self) -> pd.DataFrame:
        """Tabulate the estimates, one row per quantity.

        Returns
        -------
        pandas.DataFrame
            Index = quantity; columns ``estimate, se, ci_low, ci_high``.
        """
        import pandas as pd

        rows = [(name, *values) for name, values in self._summary_rows()]
        df = pd.DataFrame(rows, columns=["quantity", *_SUMMARY_COLUMNS])
        return df.set_index("quantity")

    def summary_frame(self, level: float = 0.95) -> pd.DataFrame:
        """Tabulate each study and the pooled estimate (statsmodels' ``summary_frame`` surface).

        Parameters
        ----------
        level : float
            Confidence level of every interval.

        Returns
        -------
        pandas.DataFrame
            Index ``study`` (the study names, then ``"pooled"``); columns
            ``type`` (``"study"`` or ``"pooled"``), ``sensitivity``,
            ``sensitivity_ci_low``, ``sensitivity_ci_high``, ``specificity``,
            ``specificity_ci_low``, ``specificity_ci_high`` and ``weight``.
            Study rows hold the observed proportions (uncorrected counts) with
            Wilson intervals, as the forest plot draws them, and each study's
            share of the information on the summary point
            (:func:`metaanalysis.studies.study_weights`; the shares sum to 1).
            The pooled row holds the model's estimates with Wald intervals on
            the logit scale, back-transformed, and weight 1.
        """
        import pandas as pd

        from metaanalysis.studies import study_estimates, study_weights

        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie between 0 and 1; got {level!r}")
        cols = ["sensitivity", "sensitivity_ci_low", "sensitivity_ci_high",
                "specificity", "specificity_ci_low", "specificity_ci_high"]
        studies = study_estimates(self.table, level)[["study", *cols]]
        studies.insert(1, "type", "study")
        studies["weight"] = study_weights(self)
        s = self._wald(0, level)
        f = self._wald(1, level)
        pooled = pd.DataFrame([{"study": "pooled", "type": "pooled",
                                "sensitivity": s[0], "sensitivity_ci_low": s[1],
                                "sensitivity_ci_high": s[2], "specificity": 1.0 - f[0],
                                "specificity_ci_low": 1.0 - f[2],
                                "specificity_ci_high": 1.0 - f[1], "weight": 1.0}])
        return pd.concat([studies, pooled], ignore_index=True).set_index("study")

    def print_summary(self, digits: int = 4) -> None:
        """Print a human-readable summary (estimates, heterogeneity, warnings)."""
        print(self.format_summary(digits))

    def format_summary(self, digits: int = 4) -> str:
        """Format the text :meth:`print_summary` prints."""
        head = (f"Bivariate meta-analysis: model={self.model}, method={self.method}, "
                f"studies={self.table.k}, patients={self.table.n_patients}, "
                f"correction={self.correction}")
        body = format_table("quantity", _SUMMARY_COLUMNS, self._summary_rows(), digits)
        hs = ("undefined (a pooled logit diverged)" if self.diverged
              else ", ".join(f"{k}={v:.{digits}f}" for k, v in self.hsroc.items()))
        lines = [head, "", body, "", f"HSROC: {hs}", *format_i2_lines(self)]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the result-JSON mapping of the design contract (plain Python types).

        Keys: model, method, n_studies, correction, sensitivity, specificity,
        false_positive_rate, logit_sens, logit_fpr, tau2_logit_sens,
        tau2_logit_fpr, rho_sens_fpr, loglik, aic, bic, hsroc, auc, pauc,
        lr_positive, lr_negative, dor, warnings, warning_codes (the ``code`` of each
        warning, same order); plus loglik_convention
        ("mada" or "glmer"), auc_exact, i2 (Higgins-Thompson from Psi, and the
        bivariate share), i2_cochran_q ((Q - df) / Q), i2_zhou (Zhou and
        Dendukuri's bivariate I2), i2_holling (Holling's six I2 values),
        n_patients, vcov, psi, converged. Every I2 is a proportion in [0, 1].
        """
        se = self.se
        t1, t2 = self.tau2
        return {
            "model": self.model,
            "method": self.method,
            "n_studies": self.table.k,
            "correction": self.correction,
            "sensitivity": self.sensitivity.to_dict(),
            "specificity": self.specificity.to_dict(),
            "false_positive_rate": self.false_positive_rate.to_dict(),
            # diverged: no standard error (:attr:`diverged`); vcov stays the fit's own
            "logit_sens": {"estimate": float(self.mu[0]),
                           "se": None if self.diverged else float(se[0])},
            "logit_fpr": {"estimate": float(self.mu[1]),
                          "se": None if self.diverged else float(se[1])},
            "tau2_logit_sens": t1,
            "tau2_logit_fpr": t2,
            "rho_sens_fpr": _float(self.rho),
            "loglik": float(self.loglik),
            "aic": float(self.aic),
            "bic": float(self.bic),
            "loglik_convention": self.loglik_convention,
            "hsroc": {k: _float(v) for k, v in self.hsroc.items()},
            "auc": _float(self.auc),
            "pauc": _float(self.pauc),
            "lr_positive": self.lr_positive.to_dict(),
            "lr_negative": self.lr_negative.to_dict(),
            "dor": self.dor.to_dict(),
            **self._caveats_dict(),
            "auc_exact": _float(self.auc_exact),
            "i2": {k: _float(v) for k, v in self.i2.items()},
            "i2_cochran_q": {k: _float(v) for k, v in self.i2_cochran_q.items()},
            "i2_zhou": _float(self.i2_zhou["bivariate"]),
            "i2_holling": {k: _float(v) for k, v in self.i2_holling.items()},
            "n_patients": self.table.n_patients,
            "vcov": self.vcov.tolist(),
            "psi": self.psi.tolist(),
            "converged": bool(self.converged),
        }

    # --------------------------------------------------------------- plots --
    def plot_forest(self, ax: Axes | None = None, **kw: Any) -> Axes:
        """Paired forest plot of sensitivity and specificity (see :mod:`metaanalysis.plots`).

        Keyword arguments (``level``, ``title``) go to :func:`metaanalysis.plots.plot_forest`.
        """
        from metaanalysis import plots

        return plots.plot_forest(self, ax=ax, **kw)

    def plot_sroc(self, ax: Axes | None = None, **kw: Any) -> Axes:
        """SROC plot with summary point and regions (see :mod:`metaanalysis.plots`)."""
        from metaanalysis import plots

        return plots.plot_sroc(self, ax=ax, **kw)

    def __repr__(self) -> str:
        s, f = self.sensitivity, self.specificity
        return (f"BivariateResult(model={self.model!r}, method={self.method!r}, k={self.table.k}, "
                f"sens={s.estimate:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}], "
                f"spec={f.estimate:.3f} [{f.ci_low:.3f}, {f.ci_high:.3f}])")
