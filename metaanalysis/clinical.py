"""Clinical translation of pooled accuracy: post-test probabilities, Fagan nomogram, per 1,000.

A pooled sensitivity and specificity mean little to a clinician until they are
turned into what happens to a patient: how likely is the condition after a
positive (or negative) test, given how likely it was before, and how many true
and false results a thousand tested patients would produce.

Everything here works on a fitted :class:`metaanalysis.BivariateResult` (Reitsma
or GLMM) and also on plain numbers (:func:`post_test_probability`,
:func:`counts_per_1000`), so the arithmetic can be checked by hand.

References
----------
.. [1] Fagan TJ. Nomogram for Bayes's theorem. N Engl J Med 1975;293:257.
       doi:10.1056/NEJM197507312930513
.. [2] Deeks JJ, Altman DG. Diagnostic tests 4: likelihood ratios. BMJ 2004;329:168-169.
       doi:10.1136/bmj.329.7458.168
.. [3] Schünemann HJ, et al. GRADE: grading quality of evidence and strength of
       recommendations for diagnostic tests and strategies. BMJ 2008;336:1106-1110.
       doi:10.1136/bmj.39500.677199.AE
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metaanalysis.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "post_test_probability",
    "post_test",
    "counts_per_1000",
    "per_1000",
    "plot_fagan",
]


def _probabilities(values: float | Iterable[float], name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array strictly inside (0, 1), else raise InputError."""
    arr = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    if arr.size == 0:
        raise InputError(f"{name} needs at least one value.")
    bad = arr[~((arr > 0.0) & (arr < 1.0))]
    if bad.size:
        raise InputError(f"{name} must lie strictly between 0 and 1; got {bad[0]:g}.")
    return arr


def post_test_probability(pretest: float | np.ndarray, lr: float | np.ndarray) -> np.ndarray:
    """Bayes' theorem on the odds scale: post-test probability from pre-test and LR.

    Parameters
    ----------
    pretest : float or array
        Pre-test probability (prevalence for the patient), in (0, 1).
    lr : float or array
        Likelihood ratio of the observed test result (LR+ after a positive test,
        LR- after a negative one), positive.

    Returns
    -------
    numpy.ndarray
        ``odds = pretest / (1 - pretest) * lr``; ``odds / (1 + odds)``.

    Examples
    --------
    >>> float(post_test_probability(0.2, 4.0))  # odds 0.25 * 4 = 1
    0.5
    """
    p = np.asarray(pretest, dtype=float)
    lr = np.asarray(lr, dtype=float)
    odds = p / (1.0 - p) * lr
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(np.isinf(odds), 1.0, odds / (1.0 + odds))
    return np.asarray(out, dtype=float)


def _estimate(obj: Any, name: str) -> tuple[float, float, float]:
    """Return ``(estimate, ci_low, ci_high)`` of attribute ``name`` of a result."""
    try:
        est = getattr(obj, name)
    except AttributeError as err:
        raise InputError(f"the fitted result has no {name!r}; pass a BivariateResult.") from err
    if isinstance(est, dict):
        return float(est["estimate"]), float(est["ci_low"]), float(est["ci_high"])
    return float(est.estimate), float(est.ci_low), float(est.ci_high)


def post_test(result: Any, pretest: float | Iterable[float]) -> pd.DataFrame:
    """Post-test probabilities after a positive and a negative test, with 95% CIs.

    Parameters
    ----------
    result : BivariateResult
        A pooled fit; its ``lr_positive`` and ``lr_negative`` estimates and CIs are used.
    pretest : float or sequence of float
        Pre-test probabilities, each strictly between 0 and 1.

    Returns
    -------
    pandas.DataFrame
        One row per pre-test probability with columns ``pretest``,
        ``lr_positive`` (+ ``_low``/``_high``), ``post_positive``,
        ``post_positive_low``, ``post_positive_high``, ``lr_negative`` (+ CI),
        ``post_negative``, ``post_negative_low``, ``post_negative_high``.

    Notes
    -----
    The post-test probability is Bayes' theorem on the odds scale,
    ``post_odds = pre_odds x LR`` [2]_. For a fixed pre-test probability it is
    a strictly increasing function of the LR, so the 95% CI of the post-test
    probability is the image of the LR's 95% CI (the result's own LR interval,
    delta method on the log scale for the Reitsma fit). The pre-test
    probability is treated as known, without error.

    References
    ----------
    .. [2] Deeks JJ, Altman DG. Diagnostic tests 4: likelihood ratios.
           BMJ 2004;329:168-169. doi:10.1136/bmj.329.7458.168

    Examples
    --------
    A test with LR+ = 4 moves a pre-test probability of 20% (odds 1:4) to 50%.
    """
    p = _probabilities(pretest, "pretest")
    lrp = _estimate(result, "lr_positive")
    lrn = _estimate(result, "lr_negative")
    rows = {"pretest": p}
    for label, (est, lo, hi) in (("positive", lrp), ("negative", lrn)):
        rows[f"lr_{label}"] = np.full(p.size, est)
        rows[f"lr_{label}_low"] = np.full(p.size, lo)
        rows[f"lr_{label}_high"] = np.full(p.size, hi)
        rows[f"post_{label}"] = post_test_probability(p, est)
        rows[f"post_{label}_low"] = post_test_probability(p, lo)
        rows[f"post_{label}_high"] = post_test_probability(p, hi)
    order = ["pretest"]
    for label in ("positive", "negative"):
        order += [f"lr_{label}", f"lr_{label}_low", f"lr_{label}_high",
                  f"post_{label}", f"post_{label}_low", f"post_{label}_high"]
    return pd.DataFrame(rows)[order]


def counts_per_1000(prevalence: float, sensitivity: float, specificity: float,
                    n: float = 1000.0) -> dict[str, float]:
    """Compute the expected TP, FP, FN, TN among ``n`` tested patients.

    Parameters
    ----------
    prevalence, sensitivity, specificity : float
        Proportions in [0, 1] (prevalence strictly inside (0, 1)).
    n : float
        Number of tested patients (1,000 by default).

    Returns
    -------
    dict
        ``{"TP": n p Se, "FN": n p (1 - Se), "FP": n (1 - p)(1 - Sp), "TN": n (1 - p) Sp}``.

    Examples
    --------
    >>> {k: round(v, 6) for k, v in counts_per_1000(0.2, 0.9, 0.8).items()}
    {'TP': 180.0, 'FP': 160.0, 'FN': 20.0, 'TN': 640.0}
    """
    diseased = n * prevalence
    healthy = n - diseased
    return {
        "TP": float(diseased * sensitivity),
        "FP": float(healthy * (1.0 - specificity)),
        "FN": float(diseased * (1.0 - sensitivity)),
        "TN": float(healthy * specificity),
    }


def per_1000(result: Any, prevalence: float | Iterable[float], n: float = 1000.0) -> pd.DataFrame:
    """Compute the expected TP/FP/FN/TN per 1,000 tested patients at a stated prevalence.

    Parameters
    ----------
    result : BivariateResult
        A pooled fit; its ``sensitivity`` and ``specificity`` estimates and 95% CIs are used.
    prevalence : float or sequence of float
        Prevalence (pre-test probability) in the tested population, in (0, 1).
    n : float
        Size of the notional tested population (default 1,000).

    Returns
    -------
    pandas.DataFrame
        Rows ``TP, FP, FN, TN`` for each prevalence, with columns ``prevalence``,
        ``outcome``, ``count`` (at the pooled estimates), ``low`` and ``high``.

    Notes
    -----
    As in GRADE evidence profiles [3]_, the ranges carry only the uncertainty of the pooled
    sensitivity (for TP and FN) or specificity (for FP and TN): TP runs over
    ``n p [Se_low, Se_high]``, FN over ``n p [1 - Se_high, 1 - Se_low]``,
    TN over ``n (1-p) [Sp_low, Sp_high]`` and FP over ``n (1-p) [1 - Sp_high, 1 - Sp_low]``.
    The prevalence is taken as known.

    References
    ----------
    .. [3] Schünemann HJ, et al. GRADE: grading quality of evidence and strength
           of recommendations for diagnostic tests and strategies.
           BMJ 2008;336:1106-1110. doi:10.1136/bmj.39500.677199.AE
    """
    prev = _probabilities(prevalence, "prevalence")
    if not (np.isfinite(n) and n > 0):
        raise InputError(f"n must be a positive number of patients; got {n!r}.")
    se, se_lo, se_hi = _estimate(result, "sensitivity")
    sp, sp_lo, sp_hi = _estimate(result, "specificity")
    records = []
    for p in prev:
        mid = counts_per_1000(p, se, sp, n)
        a = counts_per_1000(p, se_lo, sp_lo, n)
        b = counts_per_1000(p, se_hi, sp_hi, n)
        for outcome in ("TP", "FP", "FN", "TN"):
            records.append({"prevalence": float(p), "outcome": outcome, "count": mid[outcome],
                            "low": min(a[outcome], b[outcome]),
                            "high": max(a[outcome], b[outcome])})
    return pd.DataFrame.from_records(records, columns=["prevalence", "outcome", "count",
                                                       "low", "high"])


# --------------------------------------------------------------------------- Fagan nomogram

_PROB_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
               0.8, 0.9, 0.95, 0.99, 0.995, 0.999)
_LR_TICKS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 100, 200, 1000)


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _pct(p: float) -> str:
    text = f"{100 * p:.1f}"
    return text[:-2] if text.endswith(".0") else text


_LINESTYLES = ("-", "--", ":", "-.")


def _pct_short(p: float, sign: bool = True) -> str:
    """Percent with one decimal below 10%, none above (``sign`` appends the % sign)."""
    x = 100.0 * float(p)
    text = f"{x:.1f}" if x < 9.95 or x > 99.05 else f"{x:.0f}"
    return text + ("%" if sign else "")


def plot_fagan(result: Any, pretest: float | Iterable[float], ax: Axes | None = None,
               show_ci: bool = True) -> Axes:
    """Fagan's nomogram: pre-test probability, LR and post-test probability on three scales.

    Parameters
    ----------
    result : BivariateResult
        A pooled fit; LR+ and LR- (with CIs) are drawn.
    pretest : float or sequence of float
        Pre-test probabilities; one pair of lines (positive and negative test) per value.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 5.5 x 7 inch figure when omitted.
    show_ci : bool
        Shade the band between the lines through the LR's 95% CI limits.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Three parallel vertical scales, placed so that a straight line realises
    ``logit(post) = logit(pre) + log(LR)`` [1]_: the pre-test scale at x = -1
    with height ``-logit(p)`` (so it reads upside down, as in Fagan's original),
    the LR scale at x = 0 with height ``log(LR) / 2``, and the post-test scale at
    x = 1 with height ``logit(p)``. A line through (pre, LR) therefore meets the
    right-hand scale at the post-test probability.

    References
    ----------
    .. [1] Fagan TJ. Nomogram for Bayes's theorem. N Engl J Med 1975;293:257.
           doi:10.1056/NEJM197507312930513
    """
    import matplotlib.pyplot as plt

    table = post_test(result, pretest)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 7.0))
    ylim = float(_logit(0.9995))
    tick_len = 0.04

    def prob_axis(x: float, sign: float, side: float) -> None:
        ax.plot([x, x], [-ylim, ylim], color="black", lw=1.2, zorder=2)
        for p in _PROB_TICKS:
            y = sign * float(_logit(p))
            ax.plot([x, x + side * tick_len], [y, y], color="black", lw=0.8, zorder=2)
            ax.text(x + side * 2.2 * tick_len, y, _pct(p), ha="left" if side > 0 else "right",
                    va="center", fontsize=7.5)

    prob_axis(-1.0, -1.0, -1.0)
    prob_axis(1.0, 1.0, 1.0)
    lr_half = float(np.log(max(_LR_TICKS))) / 2.0
    ax.plot([0, 0], [-lr_half, lr_half], color="black", lw=1.2, zorder=2)
    for lr in _LR_TICKS:
        y = float(np.log(lr)) / 2.0
        if abs(y) > ylim:
            continue
        ax.plot([-tick_len / 2, tick_len / 2], [y, y], color="black", lw=0.8, zorder=2)
        ax.text(tick_len, y, f"{lr:g}", ha="left", va="center", fontsize=7.5, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.8})

    def edge(p: float) -> float:
        """Height of probability ``p`` on the post-test scale; 0% and 100% sit at its ends."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.clip(_logit(p), -ylim, ylim))

    colours = {"positive": "#b2182b", "negative": "#2166ac"}
    for i, row in table.iterrows():
        y0 = -float(_logit(row["pretest"]))
        for label in ("positive", "negative"):
            post = row[f"post_{label}"]
            lr = row[f"lr_{label}"]
            y1 = edge(post)
            sign = "+" if label == "positive" else "\u2212"
            pre = f", pre-test {_pct_short(row['pretest'])}" if len(table) > 1 else ""
            if not (np.isfinite(lr) and np.isfinite(post)):  # a diverged fit: said, not "nan"
                text = f"{label.capitalize()} test{pre}: LR{sign} undefined (a pooled logit " \
                       "diverged)"
                ax.plot([], [], color=colours[label], lw=1.6, label=text)
                continue
            text = (f"{label.capitalize()} test{pre}: LR{sign} {lr:.3g} \u2192 post-test "
                    f"{_pct_short(post)} (95% CI {_pct_short(row[f'post_{label}_low'], False)}"
                    f"\u2013{_pct_short(row[f'post_{label}_high'])})")
            ax.plot([-1, 1], [y0, y1], color=colours[label], lw=1.6, zorder=3, label=text,
                    ls=_LINESTYLES[i % len(_LINESTYLES)])
            if show_ci:
                lo = edge(row[f"post_{label}_low"])
                hi = edge(row[f"post_{label}_high"])
                ax.fill([-1, 1, 1], [y0, lo, hi], color=colours[label], alpha=0.15, lw=0,
                        zorder=1)
        ax.plot([-1], [y0], marker="o", color="black", ms=4, zorder=4)

    ax.text(-1, ylim * 1.06, "Pre-test\nprobability (%)", ha="center", va="bottom",
            fontsize=9)
    ax.text(0, ylim * 1.06, "Likelihood\nratio", ha="center", va="bottom", fontsize=9)
    ax.text(1, ylim * 1.06, "Post-test\nprobability (%)", ha="center", va="bottom",
            fontsize=9)
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-ylim * 1.03, ylim * 1.25)
    ax.set_axis_off()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False,
              ncol=1)
    ax.set_title("Fagan nomogram", fontsize=11)
    return ax
