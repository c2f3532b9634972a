"""Figures of a diagnostic-accuracy meta-analysis.

- :func:`plot_forest`: the paired forest plot (study, TP FP FN TN, sensitivity and
  specificity with 95% CIs, the pooled row).
- :func:`plot_sroc`: study points, summary point, confidence and prediction regions and
  the SROC curve in ROC space (FPR, sensitivity).
- :func:`plot_funnel`: Deeks' funnel plot with the asymmetry regression line.
- :func:`plot_loo` and :func:`plot_cumulative`: leave-one-out and cumulative estimates.
- :func:`save_figure`: write a figure as PNG, PDF or SVG, atomically.

Every function takes ``ax=None`` and returns the Axes it drew on; with no ``ax``
a new figure of a documented size is made. This module owns the drawing of the
main figures; it computes no model: the per-study numbers it draws come from
:mod:`metaanalysis.studies` (re-exported here: :func:`wilson_interval`,
:func:`study_estimates`, :func:`study_weights`), the funnel from
:mod:`metaanalysis.bias`. Result objects draw themselves through it
(``fit.plot_sroc()``), so it imports no model or result at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from metaanalysis.bias import DeeksResult, deeks_test
from metaanalysis.errors import InputError
from metaanalysis.studies import study_estimates, study_weights, wilson_interval

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metaanalysis.results import BivariateResult
    from metaanalysis.table import StudyTable

__all__ = [
    "wilson_interval",
    "study_estimates",
    "study_weights",
    "plot_forest",
    "plot_sroc",
    "plot_funnel",
    "plot_loo",
    "plot_cumulative",
    "save_figure",
]

_SENS_COLOUR = "#1b4f72"
_SPEC_COLOUR = "#7b241c"
_POOLED_COLOUR = "#111111"
_CI_COLOUR = "#1f77b4"
_PRED_COLOUR = "#d62728"


def _is_result(obj: Any) -> bool:
    return hasattr(obj, "mu") and hasattr(obj, "table") and hasattr(obj, "sensitivity")


def _fmt_ci(est: float, lo: float, hi: float) -> str:
    return f"{est:.2f} ({lo:.2f}\u2013{hi:.2f})"


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"


# --------------------------------------------------------------------------- forest

def plot_forest(result_or_table: BivariateResult | StudyTable, ax: Axes | None = None,
                level: float = 0.95, title: str | None = None) -> Axes:
    """Paired forest plot of sensitivity and specificity.

    Parameters
    ----------
    result_or_table : BivariateResult or StudyTable
        A fit (adds the pooled row, with its CI as a diamond and a dashed line at the
        pooled value) or only the studies.
    ax : matplotlib.axes.Axes, optional
        The region to draw in. The study/count/CI text columns are drawn in ``ax``
        itself (its frame switched off) and the two panels are inset axes on its right
        (``ax.child_axes``: sensitivity, then specificity). Without ``ax`` a figure of
        12 x (1.5 + 0.26 (k + 3)) inches is made.
    level : float
        Confidence level of the study-level Wilson intervals.
    title : str, optional
        Title above the plot.

    Returns
    -------
    matplotlib.axes.Axes
        The parent axes (the panels are its ``child_axes``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    result: Any  # a BivariateResult, checked by its attributes
    if _is_result(result_or_table):
        result, table = result_or_table, cast("BivariateResult", result_or_table).table
    elif hasattr(result_or_table, "studies") and hasattr(result_or_table, "tp"):
        result, table = None, cast("StudyTable", result_or_table)
    else:
        raise InputError("plot_forest needs a BivariateResult or a StudyTable; got "
                         f"{type(result_or_table).__name__}.")
    est = study_estimates(table, level)
    k = len(est)
    if ax is None:
        _, ax = plt.subplots(figsize=(12.0, 1.5 + 0.26 * (k + 3)))
    fontsize = 8.5 if k <= 40 else 7
    fig = cast("Figure", ax.get_figure())
    width_in = ax.get_position().width * fig.get_figwidth() / 0.775  # vs. a default axes
    if width_in < 12.0:  # a narrower region than the default figure: scale the text down
        fontsize = max(5.0, fontsize * width_in / 12.0)
    top, bottom = -2.3, (k + 1.8 if result is not None else k + 0.2)
    row_top = -0.7
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, 1)
    ax.set_axis_off()
    frac = (bottom - row_top) / (bottom - top)
    trans = ax.get_yaxis_transform()

    columns = {"TP": 0.215, "FP": 0.26, "FN": 0.305, "TN": 0.35}
    sens_text_x, spec_text_x = 0.435, 0.565
    header_y = -1.35
    kw: dict[str, Any] = dict(transform=trans, fontsize=fontsize, va="center")
    ax.text(0.0, header_y, "Study", ha="left", fontweight="bold", **kw)
    for name, x in columns.items():
        ax.text(x, header_y, name, ha="right", fontweight="bold", **kw)
    ax.text(sens_text_x, header_y, "Sensitivity\n(95% CI)", ha="center", fontweight="bold",
            **kw)
    ax.text(spec_text_x, header_y, "Specificity\n(95% CI)", ha="center", fontweight="bold",
            **kw)
    for i, row in enumerate(est.itertuples(index=False)):
        ax.text(0.0, i, _short(str(row.study), 26), ha="left", **kw)
        for name, x in columns.items():
            ax.text(x, i, f"{int(getattr(row, name))}", ha="right", **kw)
        ax.text(sens_text_x, i, _fmt_ci(row.sensitivity, row.sensitivity_ci_low,
                                        row.sensitivity_ci_high), ha="center", **kw)
        ax.text(spec_text_x, i, _fmt_ci(row.specificity, row.specificity_ci_low,
                                        row.specificity_ci_high), ha="center", **kw)
    pooled_y = k + 0.9
    if result is not None:
        s, f = result.sensitivity, result.specificity
        label = f"Pooled ({result.model}, {result.method})".replace("reitsma", "Reitsma")
        ax.text(0.0, pooled_y, label, ha="left", fontweight="bold", **kw)
        ax.text(sens_text_x, pooled_y, _fmt_ci(s.estimate, s.ci_low, s.ci_high),
                ha="center", fontweight="bold", **kw)
        ax.text(spec_text_x, pooled_y, _fmt_ci(f.estimate, f.ci_low, f.ci_high),
                ha="center", fontweight="bold", **kw)
        ax.plot([0.0, 1.0], [k + 0.15, k + 0.15], transform=trans, color="0.6", lw=0.6)

    y = np.arange(k, dtype=float)
    panels = []
    for j, (name, colour) in enumerate((("sensitivity", _SENS_COLOUR),
                                        ("specificity", _SPEC_COLOUR))):
        pax = ax.inset_axes((0.655 + j * 0.18, 0.0, 0.155, frac))
        pax.set_ylim(bottom, row_top)
        pax.set_xlim(0.0, 1.0)
        lo, hi = est[f"{name}_ci_low"].to_numpy(), est[f"{name}_ci_high"].to_numpy()
        pax.hlines(y, lo, hi, color=colour, lw=1.1, gid=f"{name}_ci")
        n = (est["TP"] + est["FN"]) if name == "sensitivity" else (est["FP"] + est["TN"])
        size = 10.0 + 50.0 * np.sqrt(n.to_numpy() / n.max())
        pax.scatter(est[name], y, s=size, marker="s", color=colour, zorder=3,
                    gid=f"{name}_studies", clip_on=False)
        if result is not None:
            e = result.sensitivity if name == "sensitivity" else result.specificity
            pax.add_patch(Polygon([[e.ci_low, pooled_y], [e.estimate, pooled_y - 0.3],
                                   [e.ci_high, pooled_y], [e.estimate, pooled_y + 0.3]],
                                  closed=True, color=_POOLED_COLOUR, zorder=3,
                                  gid=f"{name}_pooled"))
            pax.axvline(e.estimate, color="0.45", lw=0.8, ls="--", zorder=1)
        pax.set_yticks([])
        for side in ("left", "right", "top"):
            pax.spines[side].set_visible(False)
        pax.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        pax.set_xticklabels(["0", "0.2", "0.4", "0.6", "0.8", "1"])
        pax.tick_params(axis="x", labelsize=fontsize - 0.5, length=3)
        pax.set_xlabel(name.capitalize(), fontsize=fontsize + 0.5)
        pax.grid(axis="x", color="0.9", lw=0.6)
        pax.set_axisbelow(True)
        panels.append(pax)
    if title:
        ax.set_title(title, fontsize=fontsize + 2, loc="left")
    return ax


# --------------------------------------------------------------------------- SROC

def plot_sroc(result: BivariateResult, ax: Axes | None = None, curve_range: str = "observed",
              show_prediction: bool = True, show_confidence: bool = True,
              show_studies: bool = True, show_curve: bool = True, size_by: str = "weight",
              level: float = 0.95, legend: bool = True, color: str | None = None,
              label: str | None = None, title: str | None = None) -> Axes:
    """SROC plot: studies, summary point, confidence and prediction regions, SROC curve.

    Parameters
    ----------
    result : BivariateResult
        A bivariate fit.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 6 x 6 inch figure when omitted.
    curve_range : {"observed", "full"}
        The SROC curve is drawn over the range of the studies' observed false positive
        rates, limited to [0.01, 0.99] as mada's partial AUC is (default; extrapolating
        beyond the data is rarely meaningful), or over [0.001, 0.999] (``"full"``).
    show_prediction, show_confidence : bool
        Draw the ``level`` prediction region (dashed, ``Psi + vcov``) and confidence
        region (solid, ``vcov``) of the summary point.
    show_studies : bool
        Draw the studies' observed (FPR, sensitivity), uncorrected.
    show_curve : bool
        Draw the Rutter-Gatsonis SROC curve.
    size_by : {"weight", "n", "none"}
        Marker area proportional to the study's weight (:func:`study_weights`), to its
        number of patients, or constant.
    level : float
        Coverage of the two regions.
    legend : bool
        Add a legend. Entries with the same text are listed once, so drawing a second
        fit on the same Axes does not repeat the legend.
    color : str, optional
        One matplotlib colour for this fit's curve, regions, summary point and study
        markers (default: the package's colours). Use it to tell two fits on one Axes
        apart.
    label : str, optional
        Name of this fit, put before each of its legend entries (``"GLMM: SROC
        curve"``).
    title : str, optional
        Title of the Axes.

    Returns
    -------
    matplotlib.axes.Axes
        Axes in the unit square: x = false positive rate, y = sensitivity. Artists carry
        ``gid`` ``"studies"``, ``"summary"``, ``"confidence_region"``,
        ``"prediction_region"``, ``"sroc_curve"``.
    """
    import matplotlib.pyplot as plt

    if not _is_result(result):
        raise InputError(f"plot_sroc needs a fitted BivariateResult; got "
                         f"{type(result).__name__}.")
    if curve_range not in ("observed", "full"):
        raise InputError(f"curve_range must be 'observed' or 'full'; got {curve_range!r}.")
    if size_by not in ("weight", "n", "none"):
        raise InputError(f"size_by must be 'weight', 'n' or 'none'; got {size_by!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 6.0))
    est = study_estimates(result.table)

    def name(text: str) -> str:
        return f"{label}: {text}" if label else text

    if not any(line.get_gid() == "chance_line" for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.8, ls=":", zorder=0, gid="chance_line")
    if show_studies:
        if size_by == "weight":
            w = study_weights(result)
            size = 12.0 + 200.0 * w / w.max()
        elif size_by == "n":
            n = (est["TP"] + est["FP"] + est["FN"] + est["TN"]).to_numpy(dtype=float)
            size = 12.0 + 200.0 * n / n.max()
        else:
            size = np.full(len(est), 36.0)
        ax.scatter(est["fpr"], est["sensitivity"], s=size, facecolors="none",
                   edgecolors=color or "0.35", linewidths=0.9, zorder=2, gid="studies",
                   clip_on=False, label=name(f"Studies (k = {len(est)})"))
    if show_curve:
        fpr_obs = est["fpr"].to_numpy()
        if curve_range == "observed":
            lo = float(np.clip(fpr_obs.min(), 0.01, 0.99))
            hi = float(np.clip(fpr_obs.max(), 0.01, 0.99))
        else:
            lo, hi = 1e-3, 1 - 1e-3
        grid = np.linspace(lo, hi, 300)
        ax.plot(grid, result.sroc(grid), color=color or "black", lw=1.4, zorder=3,
                gid="sroc_curve", label=name("SROC curve"))
    if show_prediction:
        pr = result.prediction_region(level=level)
        ax.plot(pr["fpr"], pr["sens"], color=color or _PRED_COLOUR, lw=1.2, ls="--", zorder=3,
                gid="prediction_region", label=name(f"{100 * level:g}% prediction region"))
    if show_confidence:
        cr = result.confidence_region(level=level)
        ax.plot(cr["fpr"], cr["sens"], color=color or _CI_COLOUR, lw=1.4, zorder=4,
                gid="confidence_region", label=name(f"{100 * level:g}% confidence region"))
    s = result.sensitivity.estimate
    f = result.false_positive_rate.estimate
    ax.plot([f], [s], marker="o", ms=8, color=color or _POOLED_COLOUR, mec="white", mew=1.0,
            ls="none", zorder=5, gid="summary",
            label=name(f"Summary: sens {s:.2f}, spec {1 - f:.2f}"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate (1 \u2212 specificity)")
    ax.set_ylabel("Sensitivity")
    ax.grid(color="0.92", lw=0.6)
    ax.set_axisbelow(True)
    if title is not None:
        ax.set_title(title)
    if legend:
        handles, texts = ax.get_legend_handles_labels()
        unique = dict(zip(texts, handles, strict=True))  # a repeated text once, last wins
        ax.legend(list(unique.values()), list(unique), loc="lower right", fontsize=8,
                  frameon=True, framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- Deeks funnel

def plot_funnel(deeks_or_table: DeeksResult | StudyTable, ax: Axes | None = None) -> Axes:
    """Deeks' funnel plot: lnDOR against 1/sqrt(ESS) with the asymmetry regression line.

    Parameters
    ----------
    deeks_or_table : DeeksResult or StudyTable
        A test result from :func:`metaanalysis.bias.deeks_test`, or a table (the
        test is run with its defaults).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 6 x 5 inch figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        See :meth:`metaanalysis.bias.DeeksResult.plot`, which draws it.

    References
    ----------
    .. [1] Deeks JJ, Macaskill P, Irwig L. J Clin Epidemiol 2005;58:882-893.
           doi:10.1016/j.jclinepi.2005.01.016
    """
    res = deeks_or_table if isinstance(deeks_or_table, DeeksResult) else deeks_test(
        deeks_or_table)
    return res.plot(ax=ax)


# --------------------------------------------------------------------------- LOO / cumulative

def _paired_dotplot(frame: pd.DataFrame, labels: list[str], ax: Axes,
                    reference: Any | None, ylabel: str) -> Axes:
    """Sensitivity and specificity with CIs, one row per label (top to bottom)."""
    n = len(frame)
    y = np.arange(n, dtype=float)
    for name, colour, offset, marker in (("sensitivity", _SENS_COLOUR, -0.15, "o"),
                                         ("specificity", _SPEC_COLOUR, 0.15, "s")):
        est = frame[name].to_numpy(dtype=float)
        lo = frame[f"{name}_ci_low"].to_numpy(dtype=float)
        hi = frame[f"{name}_ci_high"].to_numpy(dtype=float)
        ax.hlines(y + offset, lo, hi, color=colour, lw=1.1)
        ax.plot(est, y + offset, marker=marker, ls="none", color=colour, ms=5,
                gid=f"{name}_points", label=name.capitalize())
        if reference is not None:
            e = getattr(reference, name)
            ax.axvspan(e.ci_low, e.ci_high, color=colour, alpha=0.08, lw=0)
            ax.axvline(e.estimate, color=colour, lw=0.9, ls="--")
    failed = frame["error"].astype(str).str.len() > 0 if "error" in frame else np.zeros(n, bool)
    for i in np.flatnonzero(np.asarray(failed)):
        ax.text(0.5, y[i], "fit failed", ha="center", va="center", fontsize=7.5,
                color="0.4", style="italic", transform=ax.get_yaxis_transform())
    ax.set_yticks(y)
    ax.set_yticklabels([_short(s, 32) for s in labels], fontsize=8)
    ax.set_ylim(n - 0.4, -0.6)
    cols = [c for c in ("sensitivity_ci_low", "sensitivity_ci_high", "specificity_ci_low",
                        "specificity_ci_high") if c in frame]
    vals = frame[cols].to_numpy(dtype=float)
    if reference is not None:
        vals = np.append(vals, [reference.sensitivity.ci_low, reference.specificity.ci_low,
                                reference.sensitivity.ci_high,
                                reference.specificity.ci_high])
    vals = vals[np.isfinite(vals)]
    if vals.size:
        pad = 0.05 * max(float(np.ptp(vals)), 0.1)
        ax.set_xlim(max(0.0, float(vals.min()) - pad), min(1.0, float(vals.max()) + pad))
    else:
        ax.set_xlim(0, 1)
    ax.set_xlabel("Estimate (95% CI)")
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", color="0.92", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return ax


def plot_loo(loo: pd.DataFrame, ax: Axes | None = None,
             result: BivariateResult | None = None) -> Axes:
    """Leave-one-out plot: pooled sensitivity and specificity without each study.

    Parameters
    ----------
    loo : pandas.DataFrame
        Output of :func:`metaanalysis.diagnostics.leave_one_out`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 7 x (1.2 + 0.3 k) inch figure when omitted.
    result : BivariateResult, optional
        The fit to all studies: its estimates (dashed lines) and CIs (shaded) are drawn.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 1.2 + 0.3 * len(loo)))
    _paired_dotplot(loo, [f"without {s}" for s in loo["omitted"].astype(str)], ax, result,
                    "Study omitted")
    ax.set_title("Leave-one-out analysis", fontsize=10)
    return ax


def plot_cumulative(cum: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cumulative meta-analysis plot: pooled estimates as studies are added.

    Parameters
    ----------
    cum : pandas.DataFrame
        Output of :func:`metaanalysis.diagnostics.cumulative`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 7 x (1.2 + 0.3 k) inch figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 1.2 + 0.3 * len(cum)))
    order_col = cum.columns[2]
    labels = [f"+ {s} ({v})" for s, v in zip(cum["added"].astype(str), cum[order_col],
                                             strict=True)]
    _paired_dotplot(cum, labels, ax, None, "Study added")
    ax.set_title(f"Cumulative meta-analysis (ordered by {order_col})", fontsize=10)
    return ax


# --------------------------------------------------------------------------- saving

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

#: Longest side of a raster figure, in pixels. A taller figure (a forest plot of
#: thousands of studies) is rendered at a lower resolution instead of failing on
#: the renderer's size limit (2**16 pixels) or using gigabytes of memory.
MAX_RASTER_PIXELS = 16000


def raster_dpi(fig: Figure, dpi: float) -> float:
    """Return ``dpi``, lowered so that no side of ``fig`` exceeds :data:`MAX_RASTER_PIXELS`."""
    longest = max(float(max(fig.get_size_inches())), 1e-6)
    return min(float(dpi), MAX_RASTER_PIXELS / longest)


def save_figure(ax_or_fig: Axes | Figure, path: str | os.PathLike[str], dpi: int = 200) -> Path:
    """Save the figure holding ``ax_or_fig`` as PNG, PDF or SVG (by the file's suffix).

    The figure is written with :func:`metaanalysis.fileio.write_atomic`: a
    temporary file in the same folder, then renamed, so an existing file is
    never left half-written; the file gets a new file's usual mode.

    Parameters
    ----------
    ax_or_fig : Axes or Figure
        Anything drawn in the figure (or the figure itself).
    path : str or path-like
        Target; the suffix (``.png``, ``.pdf``, ``.svg``) picks the format.
    dpi : int
        Resolution of raster output.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot save a figure as {path.name!r}: use a .png, .pdf or .svg "
                         "file name.")
    fig: Any = ax_or_fig.get_figure() if hasattr(ax_or_fig, "get_figure") else ax_or_fig
    if hasattr(fig, "get_figure") and fig.get_figure() is not fig:  # a SubFigure
        fig = fig.get_figure()
    if not path.parent.exists():
        raise InputError(f"cannot save {path.name!r}: folder {str(path.parent)!r} does not "
                         "exist.")
    from metaanalysis.fileio import write_figure

    return write_figure(fig, path, format=fmt, dpi=raster_dpi(fig, dpi), bbox_inches="tight")
