"""Bivariate meta-regression: study-level covariates acting on both logits.

Each covariate enters the model of logit sensitivity and of logit false
positive rate with its own coefficient (metafor's ``mods = ~ 0 + outcome +
outcome:covariate`` on the long format).  Categorical covariates are coded by
treatment dummies against their first level (sorted, as R's ``factor``);
continuous covariates enter as they are.

Two models:

- ``model="reitsma"``: the bivariate normal model on continuity-corrected
  logits, by REML or ML (:func:`metaanalysis.models.reitsma.fit_bivariate_normal`);
  numbers match ``metafor::rma.mv(yi, vi, mods = ~ 0 + outcome + outcome:cov,
  random = ~ outcome | study, struct = "UN")``.
- ``model="glmm"``: the binomial-normal GLMM with the covariates as fixed
  effects of both logits (Laplace or adaptive quadrature), matching
  ``lme4::glmer`` with the corresponding interaction columns.

The likelihood-ratio test against the model without covariates uses full
maximum likelihood: restricted likelihoods of models with different fixed
effects are not comparable, so for ``method="reml"`` both models are refitted
by ML for the test.

References
----------
.. [1] van Houwelingen HC, Arends LR, Stijnen T. Advanced methods in
   meta-analysis: multivariate approach and meta-regression. Stat Med
   2002;21:589-624.
.. [2] Reitsma JB, Glas AS, Rutjes AWS, Scholten RJPM, Bossuyt PM, Zwinderman
   AH. Bivariate analysis of sensitivity and specificity produces
   informative summary measures in diagnostic reviews. J Clin Epidemiol
   2005;58:982-990.
.. [3] Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity
   with sparse data: a generalized linear mixed model approach. J Clin
   Epidemiol 2006;59:1331-1332.
.. [4] Viechtbauer W. Conducting meta-analyses in R with the metafor
   package. J Stat Softw 2010;36(3).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import chi2, norm

from metaanalysis.errors import (
    AnalysisError,
    BoundaryEstimateWarning,
    CodedCovariateWarning,
    FewStudiesWarning,
    FitError,
    InputError,
    MetaAnalysisWarning,
    SingleStudyLevelWarning,
    ZeroVarianceWarning,
    emit,
    warning_codes,
    warning_texts,
)
from metaanalysis.models.glmm import binomial_data, check_nagq, fit_binomial_normal
from metaanalysis.models.reitsma import (
    FEW_STUDIES,
    MIN_STUDIES,
    fit_bivariate_normal,
    log_jacobian,
    logit_outcomes,
)
from metaanalysis.results import FitResult
from metaanalysis.table import StudyTable

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["Design", "LikelihoodRatioTest", "RegressionResult", "design_matrix",
           "likelihood_ratio_test", "regression"]

_OUTCOMES = ("logit_sens", "logit_fpr")
_Z95 = float(norm.ppf(0.975))


# --------------------------------------------------------------------------- design --
@dataclass(frozen=True)
class Design:
    """The study-level design shared by both logits.

    Attributes
    ----------
    X : numpy.ndarray
        (k, p) matrix; column 0 is the intercept.
    terms : tuple of str
        Column names: ``"intercept"``, a continuous covariate's name, or
        ``"name[level]"`` for a treatment dummy.
    covariates : tuple of str
        The covariates, in the order given.
    levels : dict
        For each categorical covariate, its levels (the first is the reference).
    """

    X: np.ndarray
    terms: tuple[str, ...]
    covariates: tuple[str, ...]
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def covariate_column(cov: pd.DataFrame, name: str) -> str:
    """Return the column of ``cov`` (a table's covariates) that ``name`` names.

    An exact name first, else the one column equal to it stripped and in
    any case.

    Raises
    ------
    InputError
        No column (or more than one in any case) is named so; the message
        lists the table's covariate columns.
    """
    if name in cov.columns:
        return name
    matches = [c for c in cov.columns if str(c).strip().lower() == str(name).strip().lower()]
    if len(matches) == 1:
        return str(matches[0])
    available = ", ".join(map(str, cov.columns)) or "none"
    key = str(name).strip().lower()
    if key in ("study", "tp", "fp", "fn", "tn"):
        what = "the study names" if key == "study" else "one of the 2x2 counts"
        raise InputError(f"{name!r} is {what}, not a covariate; the table's covariate columns "
                         f"are: {available}.")
    raise InputError(f"unknown covariate {name!r}; the table's covariate columns are: "
                     f"{available}.")


def check_covariates(table: StudyTable, covariates: Sequence[str]) -> list[str]:
    """Refuse covariates that are input errors, each fitted on its own; return their columns.

    Each name must name one column (:func:`covariate_column`), once (in any case
    or spacing), and make a design of its own (:func:`design_matrix`): values
    given for every study, not a mix of numbers and text, not named like the
    constant term. A covariate that is well formed but cannot be estimated (one
    value in every study) passes: that is a result, not an input error.

    Raises
    ------
    InputError
        The first covariate at fault, in the sentence :func:`design_matrix` gives.
    """
    cols: list[str] = []
    for name in covariates:
        col = covariate_column(table.covariates, name)
        if col in cols:
            raise InputError(f"covariate {col!r} is given twice"
                             + (f" (as {name!r})." if name != col else "."))
        cols.append(col)
        try:
            design_matrix(table, [col])
        except AnalysisError:
            pass
    return cols


def design_matrix(table: StudyTable, covariates: Sequence[str],
                  categorical: Sequence[str] = ()) -> Design:
    """Build the design for the named covariates.

    Parameters
    ----------
    table : StudyTable
        The studies and their covariate columns.
    covariates : sequence of str
        Covariate column names (matched exactly, else case-insensitively); none
        gives the intercept-only design.
    categorical : sequence of str
        Covariates to treat as categorical even if numeric.  Non-numeric
        columns are always categorical.

    Returns
    -------
    Design

    Raises
    ------
    InputError
        Unknown covariate, a covariate missing for some studies (they are
        named), a covariate with a single level or value, a covariate given twice.
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    cov = table.covariates
    forced = {str(c).strip().lower() for c in categorical}
    cols: list[np.ndarray] = [np.ones(table.k)]
    terms: list[str] = ["intercept"]
    names: list[str] = []
    levels: dict[str, tuple[str, ...]] = {}
    for name in covariates:
        col = covariate_column(cov, name)
        if col.strip().lower() == "intercept":
            raise InputError(f"covariate {col!r} has the name of the model's constant term; "
                             "rename the column.")
        if col in names:
            raise InputError(f"covariate {col!r} is given twice"
                             + (f" (as {name!r})." if name != col else "."))
        names.append(col)
        values = cov[col].tolist()
        missing = [s for s, v in zip(table.studies, values, strict=True) if _is_missing(v)]
        if missing:
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise InputError(f"covariate {col!r} is missing for {len(missing)} "
                             f"stud{'y' if len(missing) == 1 else 'ies'}: "
                             f"{', '.join(missing[:10])}{more}; fill it in or drop those "
                             "studies.")
        numeric = pd.api.types.is_numeric_dtype(cov[col]) and \
            not pd.api.types.is_bool_dtype(cov[col])
        if numeric and col.lower() not in forced:
            x = np.asarray(cov[col], dtype=float)
            if not np.all(np.isfinite(x)):
                bad = [s for s, v in zip(table.studies, x, strict=True) if not np.isfinite(v)]
                raise InputError(f"covariate {col!r} is not finite for studies "
                                 f"{', '.join(bad)}.")
            if np.unique(x).size < 2:
                raise AnalysisError(f"covariate {col!r} has the same value ({x[0]:g}) in every "
                                    "study, so its effect cannot be estimated.")
            cols.append(x)
            terms.append(col)
        else:
            labels = [_label(v) for v in values]
            text = [(st, lb) for st, lb in zip(table.studies, labels, strict=True)
                    if _level_key(lb)[0] == 1]
            if not numeric and col.lower() not in forced and 0 < len(text) < len(labels):
                shown = ", ".join(f"{lb!r} (study {st})" for st, lb in text[:3])
                more = f" and {len(text) - 3} more" if len(text) > 3 else ""
                raise InputError(f"covariate {col!r} mixes numbers and text ({shown}{more}); "
                                 "correct those values, or declare it categorical "
                                 "(--categorical) to use each value as a level.")
            lev = tuple(sorted(set(labels), key=_level_key))
            if len(lev) < 2:
                raise AnalysisError(f"covariate {col!r} has only one level ({lev[0]!r}) in all "
                                    "studies, so its effect cannot be estimated.")
            levels[col] = lev
            for lv in lev[1:]:
                cols.append(np.array([1.0 if s == lv else 0.0 for s in labels]))
                terms.append(f"{col}[{lv}]")
    unused = sorted(forced - {n.lower() for n in names})
    if unused:
        raise InputError(f"categorical covariate(s) {', '.join(map(repr, unused))} not among "
                         f"the covariates of the model ({', '.join(map(repr, names))}); name "
                         "them as covariates too, or drop them.")
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise AnalysisError(f"the covariates {', '.join(map(repr, names))} are collinear (one is "
                            "determined by the others); drop one of them.")
    return Design(X=X, terms=tuple(terms), covariates=tuple(names), levels=levels)


def _label(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _level_key(s: str) -> tuple[int, float | str]:
    try:
        return (0, float(s))
    except ValueError:
        return (1, s)


# ------------------------------------------------------------------------ results --
@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Likelihood-ratio test of nested models.

    Attributes
    ----------
    statistic : float
        ``2 (logLik_full - logLik_reduced)``.
    df : int
        Difference in the number of parameters.
    p_value : float
        Upper tail of chi-squared with ``df`` degrees of freedom.
    loglik_full, loglik_reduced : float
        The two maximised log-likelihoods (ML, or the GLMM's approximation), in
        the convention ``loglik_convention`` names (see :class:`RegressionResult`).
    method : str
        ``"ml"``, ``"laplace"`` or ``"aghq"``.
    note : str
        How the test was made.
    loglik_convention : str
        ``"mada"`` (normal model) or ``"glmer"`` (GLMM).
    loglik_full_metafor, loglik_reduced_metafor : float or None
        The same two log-likelihoods as metafor reports them (normal model only).
        The statistic is a difference, the same in either convention.
    """

    statistic: float
    df: int
    p_value: float
    loglik_full: float
    loglik_reduced: float
    method: str
    note: str = ""
    loglik_convention: str = "mada"
    loglik_full_metafor: float | None = None
    loglik_reduced_metafor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary."""
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value,
                "loglik_full": self.loglik_full, "loglik_reduced": self.loglik_reduced,
                "loglik_convention": self.loglik_convention,
                "loglik_full_metafor": self.loglik_full_metafor,
                "loglik_reduced_metafor": self.loglik_reduced_metafor,
                "method": self.method, "note": self.note}


@dataclass(frozen=True, kw_only=True)
class RegressionResult(FitResult):
    """A fitted bivariate meta-regression (the shared fields are those of :class:`FitResult`).

    Parameters
    ----------
    model : str
        ``"reitsma"`` or ``"glmm"``.
    method : str
        ``"reml"``, ``"ml"``, ``"laplace"`` or ``"aghq"``.
    table : StudyTable
        The data.
    design : Design
        Covariates, their coding and the design matrix.
    coef : numpy.ndarray
        (p, 2) coefficients; column 0 logit sensitivity, column 1 logit FPR;
        rows follow ``design.terms``.
    vcov : numpy.ndarray
        (2p, 2p) covariance of the coefficients in term-major order
        (``intercept:sens, intercept:fpr, term1:sens, term1:fpr, ...``, as metafor).
    psi : numpy.ndarray
        (2, 2) residual between-study covariance of (logit sens, logit FPR).
    loglik : float
        Log-likelihood in the package's one convention, as ``pool`` reports it
        (:attr:`loglik_convention`): mada's for the normal model (the
        likelihood of the logits plus the log-Jacobian of the logit, so the
        intercept-only fit equals ``reitsma``'s), glmer's for the GLMM (the
        Laplace/quadrature approximation with the binomial constants).
    nobs : int
        ``2k``.
    correction : str
        Continuity correction (``"none"`` for the GLMM).
    lrt : LikelihoodRatioTest or None
        Test of all covariates together against the intercept-only model.
    converged : bool
        Whether the optimiser converged.
    warnings : tuple of str
        Caveats of the fit.
    warning_codes : tuple of str
        The ``code`` of each caveat, in the order of ``warnings``.
    extra : Mapping
        Model-specific details (GLMM: nagq, theta, the (sens, spec) coefficients).
    loglik_metafor : float or None
        The normal model's log-likelihood as ``metafor::rma.mv`` reports it (no
        Jacobian; the REML value includes ``+1/2 log|X'X|`` of the long design);
        ``None`` for the GLMM.
    """

    design: Design
    coef: np.ndarray
    lrt: LikelihoodRatioTest | None = None
    loglik_metafor: float | None = None

    # --------------------------------------------------------------- basics --
    def _design(self) -> np.ndarray:
        return self.design.X

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the design columns."""
        return self.design.terms

    @property
    def n_parameters(self) -> int:
        """Fixed effects (2p) plus the 3 covariance parameters."""
        return 2 * len(self.terms) + 3

    @property
    def se(self) -> np.ndarray:
        """(p, 2) standard errors of ``coef``."""
        return np.sqrt(np.diag(self.vcov)).reshape(len(self.terms), 2)

    def __repr__(self) -> str:
        lrt = ("" if self.lrt is None or self.lrt.p_value is None
               else f", LRT p={self.lrt.p_value:.3g}")
        return (f"RegressionResult(model={self.model!r}, method={self.method!r}, "
                f"k={self.table.k}, terms={list(self.terms)!r}{lrt})")

    @property
    def aic_metafor(self) -> float | None:
        """AIC as metafor reports it, ``-2 loglik_metafor + 2 (2p + 3)``; ``None`` for the GLMM."""
        if self.loglik_metafor is None:
            return None
        return -2.0 * self.loglik_metafor + 2.0 * self.n_parameters

    @property
    def bic_metafor(self) -> float | None:
        """BIC as metafor reports it: ``n = 2k``, or ``2k - 2p`` for REML; ``None`` for the GLMM."""
        if self.loglik_metafor is None:
            return None
        n = self.nobs - (2 * len(self.terms) if self.method == "reml" else 0)
        return -2.0 * self.loglik_metafor + self.n_parameters * math.log(n)

    # --------------------------------------------------------------- tables --
    def coef_table(self, level: float = 0.95) -> pd.DataFrame:
        """Coefficients with SE, z, two-sided p and Wald CI, one row per (term, outcome).

        Rows are in metafor's order: each term for logit sensitivity then logit FPR.
        """
        z_crit = float(norm.ppf(0.5 + level / 2.0))
        rows = []
        se = self.se
        for i, term in enumerate(self.terms):
            for j, outcome in enumerate(_OUTCOMES):
                est, s = float(self.coef[i, j]), float(se[i, j])
                z = est / s if s > 0 else float("nan")
                rows.append({"outcome": outcome, "term": term, "estimate": est, "se": s,
                             "z": z, "p": float(2.0 * norm.sf(abs(z))),
                             "ci_low": est - z_crit * s, "ci_high": est + z_crit * s})
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Return the coefficient table (see :meth:`coef_table`)."""
        return self.coef_table()

    def predict(self, x: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Pooled logits at a design row ``x`` (length p, intercept first), with SEs and CIs."""
        x = np.asarray(x, dtype=float)
        p = len(self.terms)
        if x.shape != (p,):
            raise InputError(f"a design row needs {p} values ({', '.join(self.terms)}).")
        rows = {}
        for j, outcome in enumerate(_OUTCOMES):
            c = np.zeros(2 * p)
            c[j::2] = x
            est = float(x @ self.coef[:, j])
            se = float(math.sqrt(c @ self.vcov @ c))
            rows[outcome] = (est, se)
        return pd.DataFrame(rows, index=["estimate", "se"]).T

    def subgroups(self) -> pd.DataFrame:
        """Pooled sensitivity and specificity in each level of each categorical covariate.

        Each level's estimate is the model's prediction with that level's dummy
        set, the other categorical covariates at their reference level and the
        continuous covariates at their mean over studies (the subgroups share
        the residual between-study covariance).

        Returns
        -------
        pandas.DataFrame
            Columns covariate, level, n_studies, logit_sens, se_logit_sens,
            logit_fpr, se_logit_fpr, sensitivity (+ ci_low/ci_high),
            specificity (+ ci_low/ci_high).
        """
        rows = []
        base = np.zeros(len(self.terms))
        base[0] = 1.0
        cov = self.table.covariates
        for i, term in enumerate(self.terms):
            if term in self.design.covariates:  # continuous: at its mean
                base[i] = float(np.mean(self.design.X[:, i]))
        for name, lev in self.design.levels.items():
            labels = [_label(v) for v in cov[name].tolist()]
            for lv in lev:
                x = base.copy()
                if lv != lev[0]:
                    x[self.terms.index(f"{name}[{lv}]")] = 1.0
                pr = self.predict(x)
                ls, ses = pr.loc["logit_sens", "estimate"], pr.loc["logit_sens", "se"]
                lf, sef = pr.loc["logit_fpr", "estimate"], pr.loc["logit_fpr", "se"]
                rows.append({
                    "covariate": name, "level": lv, "n_studies": labels.count(lv),
                    "logit_sens": ls, "se_logit_sens": ses, "logit_fpr": lf, "se_logit_fpr": sef,
                    "sensitivity": float(expit(ls)),
                    "sensitivity_ci_low": float(expit(ls - _Z95 * ses)),
                    "sensitivity_ci_high": float(expit(ls + _Z95 * ses)),
                    "specificity": float(1.0 - expit(lf)),
                    "specificity_ci_low": float(1.0 - expit(lf + _Z95 * sef)),
                    "specificity_ci_high": float(1.0 - expit(lf - _Z95 * sef)),
                })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the output of ``metaanalysis regress --json``)."""
        def f(x: float) -> float | None:
            x = float(x)
            return x if math.isfinite(x) else None

        coefs = [{k: (f(v) if isinstance(v, float) else v) for k, v in row.items()}
                 for row in self.coef_table().to_dict(orient="records")]
        sub = self.subgroups()
        return {
            "model": self.model, "method": self.method, "n_studies": self.table.k,
            "correction": self.correction, "covariates": list(self.design.covariates),
            "terms": list(self.terms),
            "levels": {k: list(v) for k, v in self.design.levels.items()},
            "coefficients": coefs,
            "tau2_logit_sens": f(self.tau2[0]), "tau2_logit_fpr": f(self.tau2[1]),
            "rho_sens_fpr": f(self.rho),
            "i2": {k: f(v) for k, v in self.i2.items()},
            "loglik": f(self.loglik), "aic": f(self.aic), "bic": f(self.bic),
            "loglik_convention": self.loglik_convention,
            "loglik_metafor": None if self.loglik_metafor is None else f(self.loglik_metafor),
            "aic_metafor": None if self.aic_metafor is None else f(self.aic_metafor),
            "bic_metafor": None if self.bic_metafor is None else f(self.bic_metafor),
            "n_parameters": self.n_parameters,
            "lrt": None if self.lrt is None else {k: (f(v) if isinstance(v, float) else v)
                                                  for k, v in self.lrt.to_dict().items()},
            "subgroups": [{k: (f(v) if isinstance(v, float) else v) for k, v in r.items()}
                          for r in sub.to_dict(orient="records")],
            "extra": {k: v for k, v in self.extra.items()
                      if k in ("nagq", "theta", "coef_sens_spec", "singular", "rho_sens_spec",
                               "boundary")},
            **self._caveats_dict(),
        }

    def print_summary(self) -> None:
        """Print the coefficient table, heterogeneity and the LRT."""
        print(format_summary(self))

    # ----------------------------------------------------------------- plot --
    def plot_subgroups(self, ax: Axes | None = None) -> Axes:
        """Plot studies in ROC space by the first categorical covariate, with subgroup summaries.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is made when ``None``.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 5.0))
        t = self.table
        sens = t.tp / (t.tp + t.fn)
        fpr = t.fp / (t.fp + t.tn)
        if self.design.levels:
            name, lev = next(iter(self.design.levels.items()))
            labels = [_label(v) for v in t.covariates[name].tolist()]
            sub = self.subgroups()
            sub = sub[sub["covariate"] == name]
            for i, lv in enumerate(lev):
                colour = f"C{i % 10}"
                m = np.array([s == lv for s in labels])
                ax.scatter(fpr[m], sens[m], s=18, alpha=0.6, color=colour, label=f"{name} = {lv}")
                r = sub[sub["level"] == lv].iloc[0]
                ax.errorbar(1 - r["specificity"], r["sensitivity"],
                            xerr=[[r["specificity_ci_high"] - r["specificity"]],
                                  [r["specificity"] - r["specificity_ci_low"]]],
                            yerr=[[r["sensitivity"] - r["sensitivity_ci_low"]],
                                  [r["sensitivity_ci_high"] - r["sensitivity"]]],
                            fmt="D", color=colour, markeredgecolor="black", capsize=3)
            ax.legend(loc="lower right", fontsize=8)
        else:
            x = self.design.X[:, 1]
            sc = ax.scatter(fpr, sens, c=x, s=18, cmap="viridis")
            ax.figure.colorbar(sc, ax=ax, label=self.terms[1])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("False positive rate (1 - specificity)")
        ax.set_ylabel("Sensitivity")
        ax.set_title(f"Meta-regression ({self.model}, {self.method})")
        return ax


def format_summary(res: RegressionResult) -> str:
    """Plain-text report of a meta-regression."""
    lines = [f"Bivariate meta-regression: model={res.model}, method={res.method}, "
             f"k={res.table.k}, covariates: {', '.join(res.design.covariates) or 'none'}"]
    tab = res.coef_table()
    lines.append(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    lines.append(f"residual tau2: logit sens {res.tau2[0]:.4g}, logit FPR {res.tau2[1]:.4g}; "
                 f"rho {res.rho:.4g}")
    i2 = {k: (f"{100 * v:.1f}%" if math.isfinite(v) else "undefined") for k, v in res.i2.items()}
    lines.append(f"residual I\u00b2 (Higgins-Thompson, residual tau\u00b2): logit sens "
                 f"{i2['logit_sens']}, logit FPR {i2['logit_fpr']}; bivariate share of "
                 f"generalised variance {i2['bivariate']}")
    lines.append(f"logLik {res.loglik:.4f}  AIC {res.aic:.3f}  BIC {res.bic:.3f} "
                 f"({res.loglik_convention}'s convention)")
    if res.loglik_metafor is not None:
        lines.append(f"metafor's convention: logLik {res.loglik_metafor:.4f}  "
                     f"AIC {res.aic_metafor:.3f}  BIC {res.bic_metafor:.3f}")
    if res.lrt is not None:
        lines.append(f"LRT vs no covariates ({res.lrt.method}): chi2 = {res.lrt.statistic:.4f}, "
                     f"df = {res.lrt.df}, p = {res.lrt.p_value:.4g}")
    sub = res.subgroups()
    if len(sub):
        lines.append("subgroups:")
        for _, r in sub.iterrows():
            lines.append(f"  {r['covariate']} = {r['level']} (k={r['n_studies']}): "
                         f"sens {r['sensitivity']:.3f} ({r['sensitivity_ci_low']:.3f}-"
                         f"{r['sensitivity_ci_high']:.3f}), spec {r['specificity']:.3f} "
                         f"({r['specificity_ci_low']:.3f}-{r['specificity_ci_high']:.3f})")
    for w in res.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


# --------------------------------------------------------------------- fitting --
def _term_major(vcov_outcome_major: np.ndarray, p: int) -> np.ndarray:
    """Reorder a (2p, 2p) covariance from outcome-major to term-major."""
    order = np.array([j * p + i for i in range(p) for j in range(2)])
    return vcov_outcome_major[np.ix_(order, order)]


@dataclass(frozen=True)
class _Fit:
    coef: np.ndarray      # (p, 2) on (sens, FPR)
    vcov: np.ndarray      # term-major
    psi: np.ndarray       # (sens, FPR)
    loglik: float                   # mada's convention (normal model) or glmer's (GLMM)
    converged: bool
    warnings: tuple[MetaAnalysisWarning, ...]
    extra: Mapping[str, Any]
    loglik_metafor: float | None = None


def _fit_normal(table: StudyTable, X: np.ndarray, method: str, correction: str) -> _Fit:
    y, S = logit_outcomes(table, correction)
    fit = fit_bivariate_normal(y, S, X, method=method)
    p = X.shape[1]
    loglik_metafor = float(fit.loglik)
    if method == "reml":  # metafor's REML adds 1/2 log|X'X| of the long (2k x 2p) design
        loglik_metafor += float(np.linalg.slogdet(X.T @ X)[1])
    # mada's convention, as reitsma() and pool report it: the logits' likelihood plus the
    # log-Jacobian of the logit (a function of the data alone, so differences are unchanged)
    loglik = float(fit.loglik) + log_jacobian(table, correction)
    caveats = list(fit.warnings)
    for name in fit.boundary:
        kind = BoundaryEstimateWarning if name == "rho" else ZeroVarianceWarning
        what = {"tau2_1": "the residual tau2 of logit sensitivity is 0",
                "tau2_2": "the residual tau2 of logit FPR is 0",
                "rho": "the residual correlation of logit sensitivity and logit FPR is +-1"
                }.get(name, name)
        caveats.append(kind(f"the residual between-study covariance is on the boundary: "
                            f"{what}."))
    return _Fit(coef=np.asarray(fit.coef, dtype=float), vcov=_term_major(np.asarray(fit.vcov), p),
                psi=np.asarray(fit.psi, dtype=float), loglik=loglik, converged=fit.converged,
                warnings=tuple(caveats), loglik_metafor=loglik_metafor,
                extra={"loglik_mvmeta": float(fit.loglik), "boundary": list(fit.boundary)})


def _fit_glmm(table: StudyTable, X: np.ndarray, nagq: int) -> _Fit:
    # fit on centred and scaled covariates (a covariate in units of 1e9 or 1e-9 would
    # leave the optimiser a badly conditioned problem), then map back: with
    # X_s = X A, the coefficients are beta = A beta_s and their covariance A V_s A'
    p = X.shape[1]
    A = np.eye(p)
    for j in range(1, p):
        m, sd = float(X[:, j].mean()), float(X[:, j].std())
        if sd > 0 and not np.all((X[:, j] == 0) | (X[:, j] == 1)):  # dummies stay 0/1
            A[j, j] = 1.0 / sd
            A[0, j] = -m / sd
    fit = fit_binomial_normal(binomial_data(table, X @ A), nagq=nagq)
    B = np.kron(np.eye(2), A)                             # both outcomes, outcome-major
    sign = np.concatenate([np.ones(p), -np.ones(p)])      # spec -> FPR
    V = (B @ fit.vcov @ B.T) * np.outer(sign, sign)
    coef_ss = fit.coef @ A.T                              # (2, p) on (sens, spec)
    coef = np.column_stack([coef_ss[0], -coef_ss[1]])
    flip = np.array([[1.0, -1.0], [-1.0, 1.0]])
    return _Fit(coef=coef, vcov=_term_major(V, p), psi=fit.sigma * flip, loglik=fit.loglik,
                converged=fit.converged, warnings=fit.warnings,
                extra={"nagq": fit.nagq, "theta": fit.theta.tolist(),
                       "coef_sens_spec": coef_ss.tolist(), "singular": fit.singular,
                       "rho_sens_spec": fit.rho})


def _check_model(model: str, method: str | None, nagq: int) -> tuple[str, str]:
    model = str(model).lower()
    if model not in ("reitsma", "glmm"):
        raise InputError(f"unknown model {model!r}; use 'reitsma' or 'glmm'.")
    if model == "reitsma":
        method = "reml" if method is None else str(method).lower()
        if method not in ("reml", "ml"):
            raise InputError(f"unknown method {method!r} for the normal model; use 'reml' or 'ml'.")
    else:
        nagq = check_nagq(nagq)
        method = "laplace" if nagq == 1 else "aghq"
    return model, method


def regression(table: StudyTable, covariates: str | Sequence[str], model: str = "reitsma",
               method: str | None = None, *, nagq: int = 1, correction: str = "all",
               categorical: Sequence[str] = (), test: bool = True) -> RegressionResult:
    """Fit a bivariate meta-regression of logit sensitivity and logit FPR on study covariates.

    Parameters
    ----------
    table : StudyTable
        The studies, with covariate columns.
    covariates : str or sequence of str
        Covariate column(s).  Non-numeric columns are categorical (treatment
        dummies against the first sorted level); numeric ones continuous
        unless listed in ``categorical``.  An empty sequence fits the
        intercept-only model (the same fit as ``reitsma`` or ``glmm``, with the
        same ``loglik``, ``aic`` and ``bic``) and makes no test.
    model : {"reitsma", "glmm"}
        Bivariate normal model on corrected logits, or the binomial GLMM.
    method : {"reml", "ml"}, optional
        For the normal model (default ``"reml"``); ignored for the GLMM
        (``"laplace"`` or ``"aghq"`` follows from ``nagq``).
    nagq : int
        GLMM quadrature points per dimension (1 = Laplace).
    correction : {"all", "single", "none"}
        Continuity correction for the normal model.
    categorical : sequence of str
        Numeric covariates to treat as categorical.
    test : bool
        Also fit the model without covariates and test all covariates
        together by a likelihood-ratio test (ML for the normal model).

    Returns
    -------
    RegressionResult

    Raises
    ------
    InputError
        Unknown covariate, a covariate missing for some studies, one level
        only, collinear covariates, ``nagq < 1``, unknown model/method.
    FitError
        Too few studies for the number of coefficients, or no fit found.

    Notes
    -----
    Matches ``metafor::rma.mv(yi, vi, mods = ~ 0 + outcome + outcome:cov,
    random = ~ outcome | study, struct = "UN")`` on the long format (normal
    model) and ``lme4::glmer(cbind(events, n - events) ~ 0 + sens + sens:cov +
    spec + spec:cov + (0 + sens + spec | study), binomial)`` (GLMM; reported on
    the logit FPR scale, so the specificity coefficients change sign).

    References
    ----------
    .. [1] van Houwelingen HC, Arends LR, Stijnen T. Advanced methods in
       meta-analysis: multivariate approach and meta-regression. Stat Med
       2002;21:589-624.
    .. [2] Chu H, Cole SR. J Clin Epidemiol 2006;59:1331-1332.

    Examples
    --------
    With no covariates the model is the pooled one: on the shipped VBQ data set its
    coefficients are metafor's ``rma.mv`` estimates 1.735088 and -0.662996
    (tests/fixtures/reproduce/vbq_subsequent_fracture.ref.json):

    >>> import metaanalysis as ma
    >>> fit = ma.regression(ma.datasets.load("vbq_subsequent_fracture"), [], test=False)
    >>> fit.coef.round(4).tolist()
    [[1.7351, -0.663]]
    """
    if not isinstance(table, StudyTable):
        raise InputError(f"regression() needs a StudyTable, got {type(table).__name__}.")
    model, method = _check_model(model, method, nagq)
    design = design_matrix(table, [covariates] if isinstance(covariates, str) else covariates,
                           categorical)
    X = design.X
    p = X.shape[1]
    if p == 1 and table.k < MIN_STUDIES:  # the intercept alone: as pool refuses it
        raise FitError(f"only {table.k} studies: too few to estimate the 5 parameters of the "
                       "bivariate model; use the univariate model (--model univariate in "
                       "pool), or add studies.")
    if p > 1 and table.k < p + 3:
        raise FitError(f"only {table.k} studies for {p} coefficients per logit and 3 covariance "
                       "parameters; use fewer covariates (or merge levels), or add studies.")
    if model == "reitsma":
        fit = _fit_normal(table, X, method, correction)
        corr = correction
    else:
        fit = _fit_glmm(table, X, nagq)
        corr = "none"
    caveats: list[MetaAnalysisWarning] = []
    if table.k < FEW_STUDIES:  # as pool warns (and first, as there)
        caveats.append(FewStudiesWarning(
            f"only {table.k} studies: the between-study covariance is poorly "
            "estimated; interpret Psi, the prediction region and the SROC with care."))
    caveats += fit.warnings
    cov = table.covariates
    for name, lev in design.levels.items():
        labels = [_label(v) for v in cov[name].tolist()]
        thin = [lv for lv in lev if labels.count(lv) < 2]
        if thin:
            caveats.append(SingleStudyLevelWarning(
                f"covariate {name!r}: level(s) {', '.join(map(repr, thin))} have a "
                "single study, so their effects rest on that study alone."))
    for name in design.covariates:
        if name in design.levels:
            continue
        values = np.unique(np.asarray(cov[name], dtype=float))
        if 3 <= values.size <= 5 and np.all(values == np.round(values)) \
                and values[0] >= 0 and values[-1] <= 10:  # codes like 1, 2, 3; not years
            shown = ", ".join(f"{v:g}" for v in values)
            caveats.append(CodedCovariateWarning(
                f"covariate {name!r} takes only the whole values {shown} and is "
                "treated as continuous (one slope per logit); if these are codes for "
                "categories, declare it categorical."))
    lrt = None
    if test and p > 1:
        lrt = _lrt_against_null(table, X, model, method, nagq, correction, fit)
    emit(caveats)
    return RegressionResult(model=model, method=method, table=table, design=design,
                            coef=fit.coef, vcov=fit.vcov, psi=fit.psi, loglik=fit.loglik,
                            nobs=2 * table.k, correction=corr, lrt=lrt,
                            converged=fit.converged, warnings=warning_texts(caveats),
                            warning_codes=warning_codes(caveats), extra=dict(fit.extra),
                            loglik_metafor=fit.loglik_metafor)


def _lrt_against_null(table: StudyTable, X: np.ndarray, model: str, method: str, nagq: int,
                      correction: str, fit: _Fit) -> LikelihoodRatioTest:
    X0 = X[:, :1]
    df = 2 * (X.shape[1] - 1)
    if model == "reitsma":
        full = fit if method == "ml" else _fit_normal(table, X, "ml", correction)
        null = _fit_normal(table, X0, "ml", correction)
        note = ("both models fitted by ML" + ("" if method == "ml" else
                " (REML likelihoods of models with different fixed effects are not "
                "comparable, so the REML fit was refitted by ML for this test)"))
        test_method = "ml"
    else:
        full = fit
        null = _fit_glmm(table, X0, nagq)
        note = f"GLMM {'Laplace' if nagq == 1 else f'adaptive quadrature (nagq={nagq})'} " \
               "log-likelihoods"
        test_method = method
    stat = max(2.0 * (full.loglik - null.loglik), 0.0)
    return LikelihoodRatioTest(statistic=stat, df=df, p_value=float(chi2.sf(stat, df)),
                               loglik_full=full.loglik, loglik_reduced=null.loglik,
                               method=test_method, note=note,
                               loglik_convention="glmer" if model == "glmm" else "mada",
                               loglik_full_metafor=full.loglik_metafor,
                               loglik_reduced_metafor=null.loglik_metafor)


def likelihood_ratio_test(full: RegressionResult, reduced: RegressionResult
                          ) -> LikelihoodRatioTest:
    """Likelihood-ratio test between two nested meta-regressions fitted to the same studies.

    Parameters
    ----------
    full, reduced : RegressionResult
        ``reduced``'s terms must be a subset of ``full``'s; same model, same
        studies, fitted by ML (normal model) or by the same GLMM approximation.

    Returns
    -------
    LikelihoodRatioTest

    Raises
    ------
    InputError
        Different models, studies or methods; REML fits (their likelihoods
        are not comparable across fixed effects); models that are not nested.
    """
    if full.model != reduced.model or full.method != reduced.method:
        raise InputError("both models must be of the same kind and fitted by the same method "
                         f"(got {full.model}/{full.method} and {reduced.model}/{reduced.method}).")
    if full.method == "reml":
        raise InputError("REML log-likelihoods are not comparable between models with different "
                         "fixed effects; refit both with method='ml' for a likelihood-ratio test.")
    if full.table.studies != reduced.table.studies:
        raise InputError("the two models were fitted to different studies.")
    if not set(reduced.terms) <= set(full.terms) or len(reduced.terms) >= len(full.terms):
        raise InputError(f"the models are not nested: the reduced terms {list(reduced.terms)} "
                         f"must be a proper subset of {list(full.terms)}.")
    df = 2 * (len(full.terms) - len(reduced.terms))
    stat = max(2.0 * (full.loglik - reduced.loglik), 0.0)
    return LikelihoodRatioTest(statistic=stat, df=df, p_value=float(chi2.sf(stat, df)),
                               loglik_full=full.loglik, loglik_reduced=reduced.loglik,
                               method=full.method, note="nested models compared directly",
                               loglik_convention=full.loglik_convention,
                               loglik_full_metafor=full.loglik_metafor,
                               loglik_reduced_metafor=reduced.loglik_metafor)


def save_figure(ax: Axes, path: str | os.PathLike[str]) -> None:
    """Save the axes' figure atomically (see :func:`metaanalysis.fileio.write_figure`)."""
    from metaanalysis.fileio import write_figure

    write_figure(ax.figure, path)
