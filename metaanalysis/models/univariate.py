"""Univariate random-effects pooling of each accuracy measure separately.

Five outcomes per study, each with its large-sample variance (continuity
corrected counts):

=========== ================================= =======================================
outcome     y_i                               v_i
=========== ================================= =======================================
logit_sens  log(TP/FN)                        1/TP + 1/FN
logit_spec  log(TN/FP)                        1/TN + 1/FP
ln_dor      log(TP TN / (FP FN))              1/TP + 1/FN + 1/FP + 1/TN
ln_lr_pos   log(sens / FPR)                   1/TP - 1/(TP+FN) + 1/FP - 1/(FP+TN)
ln_lr_neg   log((1-sens) / spec)              1/FN - 1/(TP+FN) + 1/TN - 1/(FP+TN)
=========== ================================= =======================================

Each is pooled with the random-effects model ``y_i ~ N(mu, v_i + tau2)``,
``tau2`` by DerSimonian-Laird or REML, as metafor's ``rma`` does: Wald
intervals with the normal quantile, Cochran's Q with fixed-effect weights,
``i2 = tau2 / (tau2 + s2)`` (Higgins-Thompson, :func:`metaanalysis.heterogeneity.i2`)
with the typical within-study variance ``s2 = (k-1) sum w / ((sum w)^2 - sum w^2)``,
``i2_cochran_q = max(0, (Q - df) / Q)`` (:func:`metaanalysis.heterogeneity.i2_cochran_q`;
equal to ``i2`` with DL), ``H2 = (tau2 + s2) / s2``, and the prediction interval
``mu +- z sqrt(se^2 + tau2)``. Every I2 is a proportion in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import expit
from scipy.stats import chi2, norm

from metaanalysis.errors import (
    FewStudiesWarning,
    InputError,
    MetaAnalysisWarning,
    ZeroVarianceWarning,
    emit,
    warning_codes,
    warning_texts,
)
from metaanalysis.heterogeneity import (
    cochran_q,
    dersimonian_laird_tau2,
    i2,
    i2_cochran_q,
    typical_within_variance,
)
from metaanalysis.table import StudyTable

#: Outcomes pooled, in order, with the back-transformation of each.
OUTCOMES: tuple[str, ...] = ("logit_sens", "logit_spec", "ln_dor", "ln_lr_pos", "ln_lr_neg")
_BACK = {"logit_sens": ("sensitivity", expit), "logit_spec": ("specificity", expit),
         "ln_dor": ("dor", np.exp), "ln_lr_pos": ("lr_positive", np.exp),
         "ln_lr_neg": ("lr_negative", np.exp)}
METHODS: tuple[str, ...] = ("DL", "REML")
#: Columns of the per-outcome table that are counts (whole numbers in the JSON).
_COUNT_KEYS: frozenset[str] = frozenset({"k", "Q_df"})


def outcome_data(table: StudyTable, correction: str = "all") -> dict[str, tuple[np.ndarray,
                                                                              np.ndarray]]:
    """Compute per-study outcomes and variances for the five univariate measures.

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction (see :meth:`StudyTable.corrected`).

    Returns
    -------
    dict
        outcome name -> ``(y, v)`` arrays of length k.
    """
    if correction == "none" and table.has_zero_cells:
        counts = table.counts()
        i = int(np.flatnonzero(np.any(counts == 0, axis=1))[0])
        cell = ("TP", "FP", "FN", "TN")[int(np.flatnonzero(counts[i] == 0)[0])]
        raise InputError(f"study {table.studies[i]!r} has a zero cell ({cell} = 0), so its log "
                         "odds are infinite with correction='none'; use correction='all' or "
                         "'single'.")
    logits, variances = table.logits(correction)
    tp, fp, fn, tn = table.corrected(correction)
    n1 = tp + fn
    n0 = fp + tn
    return {
        "logit_sens": (logits[:, 0], variances[:, 0]),
        "logit_spec": (-logits[:, 1], variances[:, 1]),
        "ln_dor": (np.log(tp * tn / (fp * fn)), 1 / tp + 1 / fn + 1 / fp + 1 / tn),
        "ln_lr_pos": (np.log((tp / n1) / (fp / n0)), 1 / tp - 1 / n1 + 1 / fp - 1 / n0),
        "ln_lr_neg": (np.log((fn / n1) / (tn / n0)), 1 / fn - 1 / n1 + 1 / tn - 1 / n0),
    }


def _reml_score(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Compute the derivative of the restricted log-likelihood in tau2."""
    w = 1.0 / (v + tau2)
    sw = w.sum()
    mu = np.sum(w * y) / sw
    return float(0.5 * (np.sum(w * w * (y - mu) ** 2) - np.sum(w) + np.sum(w * w) / sw))


def tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """Restricted maximum likelihood estimate of tau2 (on ``[0, inf)``).

    The restricted log-likelihood is maximised to full precision: a root of
    its score by Brent's method, or 0 when the score is negative at 0.

    References
    ----------
    .. [1] Viechtbauer W. Bias and efficiency of meta-analytic variance
       estimators in the random-effects model. J Educ Behav Stat
       2005;30:261-293.
    """
    if _reml_score(0.0, y, v) <= 0:
        return 0.0
    hi = max(1.0, float(np.var(y)) * 2 + float(np.max(v)))
    while _reml_score(hi, y, v) > 0:
        hi *= 4.0
        if hi > 1e8:  # pragma: no cover - pathological data
            break
    return float(optimize.brentq(_reml_score, 0.0, hi, args=(y, v), xtol=1e-15, rtol=1e-15,
                                 maxiter=500))


def pool(y: np.ndarray, v: np.ndarray, method: str = "DL", level: float = 0.95) -> dict[str, float]:
    """Pool one outcome with the random-effects model (as metafor's ``rma``).

    Parameters
    ----------
    y, v : numpy.ndarray
        Study estimates and their within-study variances.
    method : {"DL", "REML"}
        Estimator of tau2.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    dict
        estimate, se, ci_low, ci_high, pi_low, pi_high, tau2, Q, Q_df, Q_p,
        i2 (Higgins-Thompson from tau2), i2_cochran_q ((Q - df) / Q), H2, k;
        the I2 values are proportions in [0, 1].
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    k = len(y)
    method = method.upper()
    if method not in METHODS:
        raise InputError(f"unknown univariate method {method!r}; use 'DL' or 'REML'.")
    q = cochran_q(y, v)
    # not statsmodels' combine_effects(method_re="dl"): it leaves the moment estimate
    # untruncated (tau2 -0.08 where DerSimonian-Laird and metafor's rma give 0, on the
    # zero-cell fixture), so its pooled estimates differ from rma's
    tau2 = dersimonian_laird_tau2(y, v) if method == "DL" else tau2_reml(y, v)
    ws = 1.0 / (v + tau2)
    est = float(np.sum(ws * y) / np.sum(ws))
    se = math.sqrt(1.0 / np.sum(ws))
    z = float(norm.ppf(0.5 + level / 2.0))
    s2 = typical_within_variance(v)
    pse = math.sqrt(se * se + tau2)
    return {
        "estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se,
        "pi_low": est - z * pse, "pi_high": est + z * pse, "tau2": float(tau2),
        "Q": q, "Q_df": k - 1, "Q_p": float(chi2.sf(q, k - 1)),
        "i2": i2(tau2, v), "i2_cochran_q": i2_cochran_q(y, v),
        "H2": float((tau2 + s2) / s2), "k": k,
    }


@dataclass(frozen=True)
class UnivariateResult:
    """Univariate random-effects pooling of the five accuracy measures.

    Attributes
    ----------
    table : StudyTable
        The data.
    method : str
        ``"DL"`` or ``"REML"``.
    correction : str
        Continuity correction used.
    frame : pandas.DataFrame
        One row per outcome (index ``logit_sens, logit_spec, ln_dor,
        ln_lr_pos, ln_lr_neg``) with estimate, se, CI, prediction interval,
        tau2, Q, Q_df, Q_p, i2, i2_cochran_q (proportions), H2, k, and the back-transformed
        ``measure, value, value_ci_low, value_ci_high``.
    warnings : tuple of str
        Caveats.
    warning_codes : tuple of str
        The ``code`` of each caveat (:class:`metaanalysis.errors.MetaAnalysisWarning`),
        in the order of ``warnings``.
    """

    table: StudyTable
    method: str
    correction: str
    frame: pd.DataFrame
    warnings: tuple[str, ...] = field(default_factory=tuple)
    warning_codes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(self.warnings))
        codes = tuple(self.warning_codes) or (MetaAnalysisWarning.code,) * len(self.warnings)
        if len(codes) != len(self.warnings):
            raise ValueError(f"warning_codes has {len(codes)} entries for "
                             f"{len(self.warnings)} warnings")
        object.__setattr__(self, "warning_codes", codes)

    def __getitem__(self, outcome: str) -> dict[str, Any]:
        """Return the row of one outcome as a dict."""
        if outcome not in self.frame.index:
            raise KeyError(f"no outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
        return self.frame.loc[outcome].to_dict()

    def summary(self) -> pd.DataFrame:
        """Return a copy of the per-outcome table."""
        return self.frame.copy()

    def print_summary(self, digits: int = 4) -> None:
        """Print the per-outcome table and any warnings."""
        print(self.format_summary(digits))

    def format_summary(self, digits: int = 4) -> str:
        """Format the text :meth:`print_summary` prints."""
        cols = ["estimate", "se", "ci_low", "ci_high", "tau2", "Q", "measure", "value",
                "value_ci_low", "value_ci_high"]
        head = (f"Univariate random-effects meta-analysis ({self.method}), "
                f"studies={self.table.k}, correction={self.correction}")
        body = self.frame[cols].to_string(float_format=lambda v: f"{v:.{digits}f}")
        het = self.frame[["i2", "i2_cochran_q"]].mul(100.0)
        het.columns = [f"I\u00b2 % (Higgins-Thompson, {self.method} tau\u00b2)",
                       "I\u00b2 % (Cochran's Q, (Q - df)/Q)"]
        het_text = het.to_string(float_format=lambda v: f"{v:.1f}")
        return "\n".join([head, "", body, "", het_text]
                         + [f"warning: {w}" for w in self.warnings])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping (``metaanalysis pool --model univariate --json``).

        Keys: ``model`` ("univariate"), ``method`` ("dl" or "reml"),
        ``n_studies``, ``correction``, ``warnings``, ``warning_codes`` and ``outcomes``: for each of
        ``logit_sens, logit_spec, ln_dor, ln_lr_pos, ln_lr_neg`` the pooled
        ``estimate, se, ci_low, ci_high`` and prediction interval
        ``pi_low, pi_high`` on that (logit or log) scale; ``tau2``; Cochran's
        ``Q`` with ``Q_df`` and ``Q_p``; ``i2`` (Higgins-Thompson from this
        fit's tau2) and ``i2_cochran_q`` (``(Q - df) / Q``), proportions in
        [0, 1]; ``H2``; ``k``; and
        the back-transformed ``measure`` (sensitivity, specificity, dor,
        lr_positive, lr_negative) with ``value, value_ci_low, value_ci_high``.
        Undefined numbers are ``None``.
        """
        outcomes = {}
        for name, row in self.frame.iterrows():
            outcomes[str(name)] = {k: (v if isinstance(v, str) else
                                       int(v) if k in _COUNT_KEYS else
                                       (float(v) if math.isfinite(float(v)) else None))
                                   for k, v in row.items()}
        return {"model": "univariate", "method": self.method.lower(),
                "n_studies": self.table.k, "correction": self.correction,
                "outcomes": outcomes, "warnings": list(self.warnings),
                "warning_codes": list(self.warning_codes)}


def univariate(table: StudyTable, method: str = "DL", correction: str = "all",
               level: float = 0.95) -> UnivariateResult:
    """Pool logit sens, logit spec, lnDOR, lnLR+ and lnLR- one at a time.

    Parameters
    ----------
    table : StudyTable
        The studies.
    method : {"DL", "REML"}
        DerSimonian-Laird (default) or REML estimate of tau2.
    correction : {"all", "single", "none"}
        Continuity correction (mada's default ``"all"``).
    level : float
        Confidence level.

    Returns
    -------
    UnivariateResult

    References
    ----------
    .. [1] DerSimonian R, Laird N. Meta-analysis in clinical trials.
       Control Clin Trials 1986;7:177-188.
    .. [2] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    .. [3] Viechtbauer W. Conducting meta-analyses in R with the metafor
       package. J Stat Softw 2010;36(3):1-48.

    Examples
    --------
    The shipped VBQ data set (metafor's ``rma(method="DL")`` gives I2 = 0.720501 and
    0.882444, tests/fixtures/reproduce/vbq_subsequent_fracture.ref.json):

    >>> import metaanalysis as ma
    >>> res = ma.univariate(ma.datasets.load("vbq_subsequent_fracture"), method="DL")
    >>> round(res["logit_sens"]["i2"], 4), round(res["logit_spec"]["i2"], 4)
    (0.7205, 0.8824)
    >>> list(res.frame.index)
    ['logit_sens', 'logit_spec', 'ln_dor', 'ln_lr_pos', 'ln_lr_neg']
    """
    if not isinstance(table, StudyTable):
        raise InputError(f"univariate() needs a StudyTable, got {type(table).__name__}.")
    method = str(method).upper()
    if method not in METHODS:
        raise InputError(f"unknown univariate method {method!r}; use 'DL' or 'REML'.")
    data = outcome_data(table, correction)
    rows = []
    for name in OUTCOMES:
        y, v = data[name]
        r: dict[str, Any] = dict(pool(y, v, method, level))
        measure, back = _BACK[name]
        r.update({"measure": measure, "value": float(back(r["estimate"])),
                  "value_ci_low": float(back(r["ci_low"])),
                  "value_ci_high": float(back(r["ci_high"]))})
        rows.append(r)
    frame = pd.DataFrame(rows, index=pd.Index(OUTCOMES, name="outcome"))
    caveats: list[MetaAnalysisWarning] = []
    if table.k < 5:
        caveats.append(FewStudiesWarning(
            f"only {table.k} studies: tau2 and the prediction intervals are poorly estimated."))
    at_zero = [name for name in OUTCOMES if frame.loc[name, "tau2"] <= 0.0]
    if at_zero:
        caveats.append(ZeroVarianceWarning(
            f"tau2 is estimated at 0 (the boundary) for {', '.join(at_zero)}: no "
            "between-study variation beyond chance is detected, so the random-effects "
            "and fixed-effect estimates coincide."))
    emit(caveats)
    return UnivariateResult(table=table, method=method, correction=correction, frame=frame,
                            warnings=warning_texts(caveats),
                            warning_codes=warning_codes(caveats))


def madauni_statistics(table: StudyTable, correction: str = "all",
                       level: float = 0.95) -> pd.DataFrame:
    """Heterogeneity statistics as mada's ``madauni(method="DSL")`` reports them.

    For lnDOR, lnLR+ and lnLR- (DerSimonian-Laird pooling, as :func:`univariate`):

    - ``Q``: Cochran's Q recomputed with the random-effects weights
      ``1/(v_i + tau2)`` around the random-effects estimate (mada's choice;
      metafor and :func:`univariate` use the fixed-effect weights), with its
      chi-square ``Q_p`` on k-1 df and ``i2_cochran_q_re = max(0, (Q - (k-1))/Q)``
      (:func:`metaanalysis.heterogeneity.i2_cochran_q` of this Q; a proportion,
      where mada prints percent);
    - ``tau2_ci_low``, ``tau2_ci_high``: mada's Q-profile interval for tau2,
      which solves ``sum (y_i - mu_RE)^2 / (v_i + tau2_DL + t) = chi2 quantile``
      for ``t`` -- so the DerSimonian-Laird tau2 is counted twice. Reproduced
      for compatibility only; roots are found to full precision, whereas mada's
      ``uniroot`` stops at about 1e-4.

    Returns
    -------
    pandas.DataFrame
        Index ``ln_dor, ln_lr_pos, ln_lr_neg``; columns tau2, Q, Q_df, Q_p,
        i2_cochran_q_re, tau2_ci_low, tau2_ci_high.
    """
    data = outcome_data(table, correction)
    rows = []
    names = ("ln_dor", "ln_lr_pos", "ln_lr_neg")
    for name in names:
        y, v = data[name]
        k = len(y)
        tau2 = dersimonian_laird_tau2(y, v)
        vv = v + tau2
        w = 1.0 / vv
        mu = float(np.sum(w * y) / np.sum(w))
        q = cochran_q(y, vv)

        def qprof(t: float, y: np.ndarray = y, vv: np.ndarray = vv, mu: float = mu) -> float:
            return float(np.sum((y - mu) ** 2 / (vv + t)))

        ci = []
        for target in (chi2.ppf(0.5 + level / 2, k - 1), chi2.ppf(0.5 - level / 2, k - 1)):
            if qprof(0.0) <= target:
                ci.append(0.0)
                continue
            hi = 1.0
            while qprof(hi) > target:
                hi *= 2.0
            ci.append(float(optimize.brentq(lambda t, c=target: qprof(t) - c, 0.0, hi,
                                            xtol=1e-14, rtol=1e-14)))
        rows.append({"tau2": tau2, "Q": q, "Q_df": k - 1, "Q_p": float(chi2.sf(q, k - 1)),
                     "i2_cochran_q_re": i2_cochran_q(y, vv),
                     "tau2_ci_low": ci[0], "tau2_ci_high": ci[1]})
    return pd.DataFrame(rows, index=pd.Index(names, name="outcome"))
