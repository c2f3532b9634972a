"""Per-study statistics of a diagnostic-accuracy table.

This module owns what is computed study by study, without a model: each
study's observed sensitivity and specificity with Wilson score intervals
(:func:`study_estimates`, :func:`wilson_interval`), and each study's share of
the information on a fitted summary point (:func:`study_weights`). The
forest and SROC plots draw them, and :meth:`BivariateResult.summary_frame
<metaanalysis.results.BivariateResult.summary_frame>` tabulates them.

Study-level CIs are Wilson score intervals, the default of mada's ``madad``:
unlike the Wald interval they stay inside [0, 1] and behave at 0% and 100%, and
unlike Clopper-Pearson they are not conservative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from metaanalysis.results import FitResult
    from metaanalysis.table import StudyTable

__all__ = ["study_estimates", "study_weights", "wilson_interval"]


def wilson_interval(x: np.ndarray | float, n: np.ndarray | float,
                    level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``x / n``.

    Parameters
    ----------
    x, n : array_like
        Successes and trials (``n > 0``).
    level : float
        Confidence level.

    Returns
    -------
    (low, high) : tuple of numpy.ndarray

    Notes
    -----
    ``(p + z^2/(2n) -+ z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with
    ``p = x/n`` and ``z`` the normal quantile [1]_, as statsmodels'
    ``proportion_confint(method="wilson")`` computes it.

    References
    ----------
    .. [1] Wilson EB. Probable inference, the law of succession, and statistical
           inference. J Am Stat Assoc 1927;22:209-212. doi:10.1080/01621459.1927.10502953

    Examples
    --------
    >>> low, high = wilson_interval(8, 10)
    >>> round(float(low), 4), round(float(high), 4)
    (0.4902, 0.9433)
    """
    from statsmodels.stats.proportion import proportion_confint

    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    low, high = proportion_confint(x, n, alpha=1.0 - level, method="wilson")
    return (np.clip(np.asarray(low, dtype=float), 0.0, 1.0),
            np.clip(np.asarray(high, dtype=float), 0.0, 1.0))


def study_estimates(table: StudyTable, level: float = 0.95) -> pd.DataFrame:
    """Per-study sensitivity and specificity with Wilson CIs (uncorrected counts).

    Parameters
    ----------
    table : StudyTable
        The studies.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``study, TP, FP, FN, TN, sensitivity, sensitivity_ci_low,
        sensitivity_ci_high, specificity, specificity_ci_low, specificity_ci_high, fpr``.
    """
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (table.tp, table.fp, table.fn,
                                                          table.tn))
    sens_lo, sens_hi = wilson_interval(tp, tp + fn, level)
    spec_lo, spec_hi = wilson_interval(tn, tn + fp, level)
    return pd.DataFrame({
        "study": list(table.studies),
        "TP": np.asarray(table.tp), "FP": np.asarray(table.fp),
        "FN": np.asarray(table.fn), "TN": np.asarray(table.tn),
        "sensitivity": tp / (tp + fn), "sensitivity_ci_low": sens_lo,
        "sensitivity_ci_high": sens_hi,
        "specificity": tn / (tn + fp), "specificity_ci_low": spec_lo,
        "specificity_ci_high": spec_hi,
        "fpr": fp / (fp + tn),
    })


def study_weights(result: FitResult) -> np.ndarray:
    """Each study's share of the information on the summary point of a bivariate fit.

    Parameters
    ----------
    result : FitResult
        A bivariate fit (its ``table``, ``psi`` and ``correction`` are used).

    Returns
    -------
    numpy.ndarray
        ``w_i = trace(V_mu W_i) / 2`` with ``W_i = (Psi + S_i)^-1`` and
        ``V_mu = (sum_i W_i)^-1``; the weights sum to 1. ``S_i`` holds the
        within-study variances of the (corrected) logits; a GLMM result, fitted
        without correction, uses the ``"single"`` correction here.
    """
    correction = result.correction if result.correction != "none" else "single"
    _, s = result.table.logits(correction)
    psi = np.asarray(result.psi, dtype=float)
    v = psi[None, :, :] + s[:, :, None] * np.eye(2)[None, :, :]
    w = np.linalg.inv(v)
    vmu = np.linalg.inv(w.sum(axis=0))
    return np.einsum("jk,ikj->i", vmu, w) / 2.0
