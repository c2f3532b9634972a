"""The multiple-thresholds model of Steinhauser, Schumacher & Rücker (2016), as diagmeta fits it.

Each row of a :class:`~metaanalysis.thresholds_table.ThresholdsTable` (a study at
one cut-off) gives two observations: for the non-diseased (``Group = 0``) the
proportion testing negative ``(TN + incr) / (FP + TN + 2 incr)``, for the diseased
(``Group = 1``) ``(FN + incr) / (TP + FN + 2 incr)``, with ``incr = 0.5`` added to
every cell. Their logits (``distr="logistic"``) or probits (``"normal"``) are
regressed on the (optionally log) cut-off by a linear mixed model fitted by REML::

    y ~ Group * Cutoff + (random effects | Study)

weighted by the inverse of each observation's large-sample variance, the weights
rescaled to mean 1. The random-effects structures are those of diagmeta:

====== =====================================================
CI     common random intercept ``(1 | Study)``
DI     different random intercepts ``(1 + Group | Study)``
CS     common random slope ``(0 + Cutoff | Study)``
DS     different random slopes ``(0 + Cutoff + Group:Cutoff | Study)``
CICS   common intercept and slope ``(Cutoff | Study)`` (default)
DICS   ``(Cutoff + Group | Study)``
CIDS   ``(Cutoff + Group:Cutoff | Study)``
DIDS   ``(Group * Cutoff | Study)``
====== =====================================================

What follows from the fitted lines (optimal cut-off, accuracy at any cut-off,
AUC) is in :mod:`metaanalysis.thresholds_result`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from metaanalysis.errors import (
    AnalysisError,
    BoundaryEstimateWarning,
    FewStudiesWarning,
    InputError,
    MetaAnalysisWarning,
    NotConvergedWarning,
    ZeroVarianceWarning,
    emit,
    warning_codes,
    warning_texts,
)
from metaanalysis.models.lmm import fit_reml
from metaanalysis.thresholds_result import DISTRIBUTIONS, Lines, ThresholdsResult
from metaanalysis.thresholds_table import ThresholdsTable

__all__ = ["RANDOM_EFFECTS", "STRUCTURES", "thresholds"]

#: Random effects of each structure, in lme4's order.
RANDOM_EFFECTS: dict[str, tuple[str, ...]] = {
    "CI": ("(Intercept)",),
    "DI": ("(Intercept)", "Group"),
    "CS": ("Cutoff",),
    "DS": ("Cutoff", "Cutoff:Group"),
    "CICS": ("(Intercept)", "Cutoff"),
    "DICS": ("(Intercept)", "Cutoff", "Group"),
    "CIDS": ("(Intercept)", "Cutoff", "Cutoff:Group"),
    "DIDS": ("(Intercept)", "Group", "Cutoff", "Group:Cutoff"),
}
#: The structures, diagmeta's order.
STRUCTURES: tuple[str, ...] = tuple(RANDOM_EFFECTS)
_FIXED = ("(Intercept)", "Group", "Cutoff", "Group:Cutoff")


def _weights(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray, distr: str,
             incr: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse large-sample variances of the transformed proportions (non-diseased, diseased)."""
    n0, n1 = fp + tn + 2 * incr, tp + fn + 2 * incr
    if distr == "logistic":
        return (tn + incr) * (fp + incr) / n0, (tp + incr) * (fn + incr) / n1
    d0 = norm.pdf(norm.ppf((tn + incr) / n0))
    d1 = norm.pdf(norm.ppf((tp + incr) / n1))
    return (n0 ** 3 * d0 ** 2 / ((tn + incr) * (fp + incr)),
            n1 ** 3 * d1 ** 2 / ((tp + incr) * (fn + incr)))


def thresholds(table: ThresholdsTable, model: str = "CICS", distr: str = "logistic", *,
               log_cutoff: bool = False, lam: float = 0.5, level: float = 0.95,
               incr: float = 0.5) -> ThresholdsResult:
    """Fit the multiple-thresholds model to studies reporting several cut-offs.

    Parameters
    ----------
    table : ThresholdsTable
        One row per study and cut-off.
    model : str
        Random-effects structure: ``CI, DI, CS, DS, CICS`` (default, as diagmeta),
        ``DICS, CIDS, DIDS``.
    distr : {"logistic", "normal"}
        Link: logit or probit of the proportions.
    log_cutoff : bool
        Regress on the log of the cut-off (every cut-off must then be positive).
    lam : float
        Weight of sensitivity in ``lam * sens + (1 - lam) * spec``, the criterion
        the optimal cut-off maximises (0 < lam < 1; default 0.5, the Youden index).
    level : float
        Confidence level of the intervals.
    incr : float
        Added to every cell (diagmeta's default 0.5).

    Returns
    -------
    ThresholdsResult

    Raises
    ------
    InputError
        An unknown model or distribution, ``lam`` or ``level`` outside (0, 1), a
        non-positive cut-off with ``log_cutoff`` (exit 2).
    AnalysisError
        A table the model cannot use (exit 1): a single cut-off over all
        studies; a structure with random slopes when fewer than two studies
        report two or more cut-offs; fewer studies than random effects; a
        fitted line that falls as the cut-off rises (the data do not order
        the groups as the direction says).

    Notes
    -----
    Caveats are carried on the result (``warnings``, ``warning_codes``) and
    issued as Python warnings: a singular fit (a variance estimated at 0, or a
    correlation at +-1), non-convergence, fewer than 10 studies, and the
    table's own caveats (a study whose totals differ between rows).

    References
    ----------
    Steinhauser S, Schumacher M, Rücker G (2016). Modelling multiple thresholds in
    meta-analysis of diagnostic test accuracy studies. BMC Medical Research
    Methodology 16:97.

    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software 67(1), 1-48.

    Examples
    --------
    >>> import pandas as pd
    >>> from metaanalysis.thresholds_table import ThresholdsTable
    >>> t = ThresholdsTable(pd.DataFrame({
    ...     "study": ["a", "a", "b", "b", "c", "c"], "cutoff": [2, 3, 2, 4, 3, 4],
    ...     "TP": [45, 38, 40, 22, 35, 25], "FP": [30, 12, 28, 5, 14, 6],
    ...     "FN": [5, 12, 10, 28, 15, 25], "TN": [70, 88, 72, 95, 86, 94]}))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     fit = thresholds(t, model="CI")
    >>> round(fit.optimal_cutoff["value"], 3), fit.warning_codes
    (2.518, ('few_studies',))
    """
    if model not in RANDOM_EFFECTS:
        raise InputError(f"model must be one of {', '.join(STRUCTURES)}; got {model!r}.")
    if distr not in DISTRIBUTIONS:
        raise InputError(f"distr must be 'logistic' or 'normal'; got {distr!r}.")
    if not 0.0 < lam < 1.0:
        raise InputError(f"lambda must lie strictly between 0 and 1; got {lam!r}.")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie strictly between 0 and 1; got {level!r}.")
    pre = f"{table.source}: " if table.source else ""
    cut = np.asarray(table.cutoff, dtype=float)
    if log_cutoff and np.any(cut <= 0):
        j = int(np.flatnonzero(cut <= 0)[0])
        raise InputError(f"{pre}row {table.rows[j]} (study {table.study[j]!r}), column cutoff: "
                         f"the cut-off {cut[j]:g} is not positive, so it has no log; drop "
                         "--log-cutoff.")
    if len(np.unique(cut)) < 2:
        raise AnalysisError(f"{pre}every row has the same cut-off, so accuracy cannot be "
                            "related to the cut-off; pool the 2x2 tables with "
                            "'metaanalysis pool'.")
    per = table.cutoffs_per_study()
    multi = sum(1 for v in per.values() if v >= 2)
    names = RANDOM_EFFECTS[model]
    if any("Cutoff" in n for n in names) and multi < 2:
        raise AnalysisError(f"{pre}the model {model} has a random slope for the cut-off, but "
                            f"only {multi} of the {table.k} studies report two or more "
                            "cut-offs (at least two must); fit model CI or DI instead.")
    if table.k <= len(names):
        n = len(names)
        raise AnalysisError(
            f"{pre}{table.k} stud{'y is' if table.k == 1 else 'ies are'} too few for the {n} "
            f"random effect{'s' if n != 1 else ''} of model {model}; "
            + ("fit model CI (one random effect), or add studies." if n > 1 else
               "add studies."))
    x = np.log(cut) if log_cutoff else cut
    if table.direction == "lower":
        x = -x
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (table.tp, table.fp, table.fn,
                                                             table.tn))
    prop = np.r_[(tn + incr) / (fp + tn + 2 * incr), (fn + incr) / (tp + fn + 2 * incr)]
    y = np.log(prop / (1 - prop)) if distr == "logistic" else norm.ppf(prop)
    w0, w1 = _weights(tp, fp, fn, tn, distr, incr)
    var_nondiseased = table.k / float(np.sum(w0))
    var_diseased = table.k / float(np.sum(w1))
    w = np.r_[w0, w1]
    w = len(w) * w / np.sum(w)
    group = np.r_[np.zeros(len(x)), np.ones(len(x))]
    c = np.r_[x, x]
    cols = {"(Intercept)": np.ones_like(c), "Group": group, "Cutoff": c,
            "Group:Cutoff": group * c, "Cutoff:Group": group * c}
    xmat = np.column_stack([cols[n] for n in _FIXED])
    zmat = np.column_stack([cols[n] for n in names])
    study = np.r_[table.study, table.study]
    fit = fit_reml(y, xmat, zmat, study, w)

    caveats: list[MetaAnalysisWarning] = list(table.caveats)
    if fit.singular:
        var = np.diag(fit.psi)
        zero = [n for n, v in zip(names, var, strict=True) if v <= 1e-8 * max(1.0, fit.sigma2)]
        if zero:
            caveats.append(ZeroVarianceWarning(
                f"the between-study variance of {', '.join(zero)} is estimated at 0 (a "
                f"boundary estimate); a simpler model than {model} fits as well."))
        else:
            caveats.append(BoundaryEstimateWarning(
                f"the random effects of model {model} are estimated with a correlation of "
                "+-1 (a singular, boundary fit); a simpler model fits as well."))
    if not fit.converged:
        caveats.append(NotConvergedWarning(
            f"the REML optimiser for model {model} stopped on its iteration limit; the "
            "estimates may be off the maximum."))
    if table.k < 10:
        caveats.append(FewStudiesWarning(
            f"only {table.k} studies: the between-study variances are poorly estimated."))
    fixef = dict(zip(_FIXED, fit.beta.tolist(), strict=True))
    lines = Lines.from_fixef(fit.beta, fit.vcov, var_nondiseased, var_diseased, distr)
    if not (lines.beta0 > 0 and lines.beta1 > 0):
        side = "rises" if table.direction == "higher" else "falls"
        simpler = "" if model == "CI" else ", or fit a simpler model"
        raise AnalysisError(f"{pre}the fitted proportion testing negative does not rise as "
                            f"the cut-off {side} (slope {min(lines.beta0, lines.beta1):.3g}); "
                            f"check the direction of the test (--direction){simpler}.")
    if -lines.alpha1 / lines.beta1 < -lines.alpha0 / lines.beta0:
        raise AnalysisError(f"{pre}the fitted values of the diseased lie below those of the "
                            "non-diseased; check the direction of the test (--direction).")
    result = ThresholdsResult(
        table=table, model=model, distr=distr, log_cutoff=log_cutoff, lam=lam, level=level,
        lines=lines, fixef=fixef, vcov=fit.vcov, random_names=names, psi=fit.psi,
        sigma2=fit.sigma2, loglik=fit.loglik, aic=fit.aic, bic=fit.bic, nobs=fit.nobs,
        converged=fit.converged, warnings=warning_texts(caveats),
        warning_codes=warning_codes(caveats),
        extra={"theta": fit.theta.tolist(), "incr": incr, "singular": fit.singular})
    if not math.isfinite(result.optimal_cutoff["value"]):
        caveats.append(BoundaryEstimateWarning(
            "the weighted Youden index has no interior maximum; no optimal cut-off."))
        result = ThresholdsResult(**{**result.__dict__, "warnings": warning_texts(caveats),
                                     "warning_codes": warning_codes(caveats)})
    emit(caveats)
    return result
