"""Figures of the multiple-thresholds model: SROC with cut-offs, accuracy against the cut-off.

Each function takes a fitted :class:`~metaanalysis.thresholds_result.ThresholdsResult`,
draws on ``ax`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from metaanalysis.thresholds_result import ThresholdsResult

__all__ = ["plot_sens_spec", "plot_sroc"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=(5.5, 5.0))
    return new


def _cutoff_grid(result: ThresholdsResult, n: int = 400) -> np.ndarray:
    c = np.asarray(result.table.cutoff, dtype=float)
    lo, hi = float(c.min()), float(c.max())
    if result.log_cutoff:
        return np.geomspace(lo / 1.5, hi * 1.5, n)
    pad = 0.25 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n)


def _observed(result: ThresholdsResult) -> tuple[np.ndarray, np.ndarray]:
    t = result.table
    incr = float(result.extra.get("incr", 0.5))
    sens = 1 - (t.fn + incr) / (t.tp + t.fn + 2 * incr)
    spec = (t.tn + incr) / (t.fp + t.tn + 2 * incr)
    return np.asarray(sens), np.asarray(spec)


def plot_sroc(result: ThresholdsResult, ax: Axes | None = None) -> Axes:
    """SROC curve (sensitivity against 1 - specificity) with each study's cut-offs joined.

    The pooled curve is traced over the cut-offs; the cut-offs of the data's range
    are marked and labelled on it, the optimal cut-off is starred, and each study's
    observed points (0.5 added to every cell) are joined in cut-off order.
    """
    ax = _axes(ax)
    t = result.table
    sens_obs, spec_obs = _observed(result)
    for s in t.studies:
        m = t.study == s
        ax.plot(1 - spec_obs[m], sens_obs[m], "-o", color="0.7", lw=0.8, ms=3, zorder=1)
    grid = _cutoff_grid(result)
    ss = result.sens_spec(grid)
    ax.plot(1 - ss["spec"], ss["sens"], color="C0", lw=2, label="SROC (pooled)", zorder=3)
    marks = np.unique(np.quantile(t.cutoff, [0.1, 0.3, 0.5, 0.7, 0.9]))
    mk = result.sens_spec(marks)
    ax.plot(1 - mk["spec"], mk["sens"], "s", color="C0", ms=5, zorder=4)
    for _, r in mk.iterrows():
        ax.annotate(f"{r['cutoff']:.3g}", (1 - r["spec"], r["sens"]), textcoords="offset points",
                    xytext=(6, -10), fontsize=8, color="C0")
    opt = result.optimal_cutoff
    if np.isfinite(opt["value"]):
        o = result.at_optimum
        ax.plot([1 - o["spec"]], [o["sens"]], "*", color="C3", ms=13, zorder=5,
                label=f"optimal cut-off {opt['value']:.3g}")
    ax.plot([0, 1], [0, 1], ":", color="0.6", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"SROC, multiple-thresholds model {result.model} ({result.distr})")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_sens_spec(result: ThresholdsResult, ax: Axes | None = None) -> Axes:
    """Pooled sensitivity and specificity against the cut-off, with their confidence bands.

    The observed values of each row are shown as points; the optimal cut-off and
    its interval (when one exists) as a vertical line and band.
    """
    ax = _axes(ax)
    grid = _cutoff_grid(result)
    ss = result.sens_spec(grid)
    sens_obs, spec_obs = _observed(result)
    c = np.asarray(result.table.cutoff, dtype=float)
    for name, obs, col in (("sens", sens_obs, "C0"), ("spec", spec_obs, "C1")):
        label = "sensitivity" if name == "sens" else "specificity"
        ax.plot(grid, ss[name], color=col, lw=2, label=label)
        ax.fill_between(grid, ss[f"{name}_lower"], ss[f"{name}_upper"], color=col, alpha=0.15,
                        lw=0)
        ax.plot(c, obs, "o", color=col, ms=3, alpha=0.5)
    opt = result.optimal_cutoff
    if np.isfinite(opt["value"]):
        ax.axvline(opt["value"], color="C3", lw=1, label=f"optimal cut-off {opt['value']:.3g}")
        if np.isfinite(opt["lower"]) and np.isfinite(opt["upper"]):
            ax.axvspan(opt["lower"], opt["upper"], color="C3", alpha=0.08, lw=0)
    if result.log_cutoff:
        ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("cut-off")
    ax.set_ylabel("proportion")
    pct = f"{100 * result.level:g}%"
    ax.set_title(f"Sensitivity and specificity by cut-off ({pct} bands)")
    ax.legend(loc="best", fontsize=8)
    return ax
