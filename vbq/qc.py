"""The quality-control figure: where the score was measured, and what it found.

The measured slice is shown in grey (windowed on its 1st-99.5th percentile);
every ROI is outlined in the same style whatever its source (drawn shapes by
their outline, derived ROIs by the contour of their mask) and labelled with
its signal intensity; excluded levels are dashed and marked; the VBQ and the
protocol are in the title. Under the image: the study (date, patient ID,
accession number, unless removed), the series, the slice, and every warning
of the result, each written out with its code, not only counted, wrapped by
the width of its words in the font so that no line runs off the figure.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vbq.errors import InputError
from vbq.fileio import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from vbq.result import VBQResult

USED = "#ffc233"
EXCLUDED = "#ff5a5a"
CSF_COLOUR = "#3cc8ff"
OTHER = "#b0b0b0"
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def _window(image: np.ndarray) -> tuple[float, float]:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1.0, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _style(label: str, result: Any) -> tuple[str, str, str]:
    """Colour, line style and text of the ROI ``label``."""
    if label == "CSF":
        return CSF_COLOUR, "-", f"CSF ({result.csf.level})  {result.csf.si:.0f}"
    lv = result.levels.get(label)
    if lv is None:
        m = result.other_rois.get(label)
        si = m.statistic(result.statistic) if m is not None else float("nan")
        return OTHER, ":", f"{label}  {si:.0f}  (not used)"
    if lv.excluded:
        return EXCLUDED, "--", f"{label}  {lv.si:.0f}  excluded: {lv.excluded}"
    return USED, "-", f"{label}  {lv.si:.0f}"


def plot_qc(result: VBQResult, ax: Axes | None = None, *, own: bool | None = None) -> Axes:
    """Draw the QC figure of a :class:`~vbq.result.VBQResult` on ``ax`` and return the Axes.

    The lines under the image (study, series and slice, every warning) are
    wrapped to the width they have, measured with the font's metrics: the
    figure's width on a figure of its own (``ax`` None, or ``own=True``: the
    lines then start at the figure's left edge), else the width of ``ax``.

    Raises
    ------
    InputError
        If the result has no image (a score from values read in a PACS).
    """
    import matplotlib.patheffects as pe

    if result.image is None or result.masks is None:
        raise InputError(
            "this result has no image to draw (it was scored from values, not from a series)"
        )
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=_figsize(result), layout="constrained")
        own = True if own is None else own
    image = np.asarray(result.image, dtype=float)
    vmin, vmax = _window(image)
    sr, sc = result.pixel_spacing or (1.0, 1.0)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest",
              aspect=sr / sc)
    outline_fx = [pe.Stroke(linewidth=2.8, foreground="black", alpha=0.55), pe.Normal()]
    box = {"boxstyle": "round,pad=0.25", "fc": "black", "alpha": 0.6, "ec": "none"}
    rows, cols = image.shape
    shown = {
        label: np.asarray(mask, dtype=bool)
        for label, mask in result.masks.items()
        if (result.mask_slices or {}).get(label, result.slice_index) == result.slice_index
    }
    # vertebral labels go on the side away from the CSF, the CSF label on the other side
    vert_cols = [np.nonzero(m)[1].mean() for k, m in shown.items() if k != "CSF" and m.any()]
    csf_col = np.nonzero(shown["CSF"])[1].mean() if "CSF" in shown else None
    csf_right = (csf_col is None or not vert_cols or csf_col >= float(np.mean(vert_cols)))
    gap = 0.025 * cols
    for label, mask in shown.items():
        colour, ls, text = _style(label, result)
        outline = (result.outlines or {}).get(label)
        if outline is not None:
            ax.plot(outline[:, 1], outline[:, 0], color=colour, lw=1.5, ls=ls,
                    path_effects=outline_fx)
            # shapes cut out of the ROI (focal structures): hatched, so the pixels
            # measured are the outline's inside less them
            cuts = (result.cut_outlines or {}).get(label, ())
            if cuts:
                from matplotlib.patches import Polygon

                inside = Polygon(np.column_stack([outline[:, 1], outline[:, 0]]), closed=True,
                                 transform=ax.transData)
            for cut in cuts:
                for patch in ax.fill(cut[:, 1], cut[:, 0], facecolor="none", edgecolor=colour,
                                     lw=0.6, hatch="////", alpha=0.9):
                    patch.set_clip_path(inside)     # only what the cut-out takes from this ROI
        else:
            cs = ax.contour(mask.astype(float), levels=[0.5], colors=[colour],
                            linewidths=1.5, linestyles=ls)
            cs.set_path_effects(outline_fx)
        rr, cc = np.nonzero(mask)
        to_right = csf_right if label == "CSF" else not csf_right
        if to_right:
            x, ha = float(cc.max()) + gap, "left"
        else:
            x, ha = float(cc.min()) - gap, "right"
        ax.text(x, float(rr.mean()), text, color=colour, fontsize=8, fontweight="bold",
                ha=ha, va="center", bbox=box, clip_on=True)
    # zoom on the ROIs, keeping generous context
    if shown:
        allr, allc = np.nonzero(np.logical_or.reduce(list(shown.values())))
        r0, r1, c0, c1 = allr.min(), allr.max(), allc.min(), allc.max()
        margin = 0.6 * max(r1 - r0, (c1 - c0) * sc / sr) + 10
        rlo, rhi = max(-0.5, r0 - margin), min(rows - 0.5, r1 + margin)
        cm = margin * sr / sc
        clo, chi = max(-0.5, c0 - cm), min(cols - 0.5, c1 + cm)
    else:
        rlo, rhi, clo, chi = -0.5, rows - 0.5, -0.5, cols - 0.5
    ax.set_xlim(clo, chi)
    ax.set_ylim(rhi, rlo)
    ax.set_xticks([])
    ax.set_yticks([])
    used = result.used_levels
    sis = ", ".join(f"{result.levels[k].si:.0f}" for k in used)
    median = float(np.median([result.levels[k].si for k in used]))
    ax.set_title(f"VBQ {result.vbq:.2f}", fontsize=15, fontweight="bold", loc="left")
    ax.set_title(f"{result.protocol} protocol, ROI {result.statistic}", fontsize=9,
                 loc="right", color="0.3")
    calc = (f"median({sis}) = {median:.1f}\n"
            f"/ CSF {result.csf.level} {result.csf.si:.1f} = {result.vbq:.3f}")
    ax.text(0.98, 0.98, calc, transform=ax.transAxes, color="white", fontsize=7.5,
            ha="right", va="top", family="monospace", bbox=box)
    ax.set_xlabel("\n".join(_notes(result, _FOOT_WIDTH_IN * 72.0 if own else
                                   ax.get_position().width * _figwidth(ax) * 72.0
                                   - 2 * _FOOT_PAD_IN * 72.0)),
                  loc="left", fontsize=_NOTE_SIZE, color="0.1", linespacing=1.25)
    if own:  # the lines start at the figure's left edge, whatever the image's aspect
        from matplotlib.transforms import blended_transform_factory

        ax.xaxis.set_label_coords(_FOOT_PAD_IN / _figwidth(ax), -0.01,
                                  transform=blended_transform_factory(ax.figure.transFigure,
                                                                      ax.transAxes))
    return ax


def _figwidth(ax: Axes) -> float:
    """Width (inches) of the figure ``ax`` is drawn on (its root figure for a subfigure)."""
    fig: Any = ax.figure
    while not hasattr(fig, "get_figwidth"):     # a subfigure: up to the figure it is in
        fig = fig.figure
    return float(fig.get_figwidth())


#: Width of the QC figure (inches); the lines under the image are wrapped to it.
_FIG_WIDTH_IN = 6.0
#: Margin (inches) left free at each side of the lines under the image.
_FOOT_PAD_IN = 0.12
#: Width (inches) the lines under the image may take.
_FOOT_WIDTH_IN = _FIG_WIDTH_IN - 2 * _FOOT_PAD_IN
#: Share of the width that wrapped lines are measured against: a raster
#: backend's hinting draws text a few percent wider than the font's metrics.
_HINTING_ROOM = 0.94
#: Font size (points) of the lines under the image.
_NOTE_SIZE = 7.0


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: float) -> float:
    """Width in points of ``text`` set in matplotlib's default font at ``size`` points.

    Remembered per text and size: the lines under the image are wrapped twice per
    figure (its height, then its text), and words repeat.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(
        text, FontProperties(size=size), ismath=False)
    return float(width)


def wrap_to_width(text: str, width_pt: float, size: float = _NOTE_SIZE,
                  indent: str = "") -> list[str]:
    """Wrap ``text`` into lines no wider than ``width_pt`` points when drawn at ``size``.

    Words are kept whole when they fit on a line; a word wider than a line
    is cut between characters. Lines after the first start with ``indent``.
    Widths are measured with the font's metrics, so wide letters (``W``,
    capitals) wrap sooner than narrow ones.

    Examples
    --------
    >>> lines = wrap_to_width("VBQ " * 40, 200.0)
    >>> len(lines) > 1 and all(_text_width(line, _NOTE_SIZE) <= 200.0 for line in lines)
    True
    """
    # a line's width is the sum of its words' and spaces' (each word measured once; no
    # kerning acts across a space), and a word too wide is cut where a binary search of
    # its prefixes says, so a long text costs a measurement per word, not per character
    space = _text_width(" ", size)
    lead = _text_width(indent, size) if indent else 0.0
    lines: list[str] = []
    current, used = "", 0.0
    for word in text.split():
        w = _text_width(word, size)
        if current and used + space + w <= width_pt:
            current, used = f"{current} {word}", used + space + w
            continue
        if current:
            lines.append(current)
        start, start_w = (indent, lead) if lines else ("", 0.0)
        while start_w + w > width_pt and len(word) > 1:
            lo, hi = 1, len(word) - 1          # the longest prefix that fits (at least 1)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if start_w + _text_width(word[:mid], size) <= width_pt:
                    lo = mid
                else:
                    hi = mid - 1
            lines.append(start + word[:lo])
            word = word[lo:]
            w = _text_width(word, size)
            start, start_w = indent, lead
        current, used = start + word, start_w + w
    if current or not lines:
        lines.append(current)
    return lines


def _series_line(result: Any) -> str:
    """Return the series, the slice and where the ROIs came from, as one line to wrap."""
    foot = []
    s = result.series or {}
    if s.get("description"):
        foot.append(str(s["description"]))
    if s.get("series_number") is not None:
        foot.append(f"series #{s['series_number']}")
    if s.get("field_strength_t"):
        foot.append(f"{s['field_strength_t']:g} T")
    if s.get("tr_ms") is not None and s.get("te_ms") is not None:
        foot.append(f"TR {s['tr_ms']:g} / TE {s['te_ms']:g} ms")
    foot.append(f"slice {result.slice_line()}")
    foot.append(f"ROIs {result.roi_source}")
    elsewhere = [f"{k} on slice {(result.mask_slices or {})[k]}" for k in (result.masks or {})
                 if (result.mask_slices or {}).get(k, result.slice_index) != result.slice_index]
    if elsewhere:
        foot.append("not shown: " + ", ".join(elsewhere))
    return "  |  ".join(foot)


def _notes(result: Any, width_pt: float = _FOOT_WIDTH_IN * 72.0) -> list[str]:
    """Return the lines under the image: study, series and slice, then each warning (wrapped)."""
    width_pt *= _HINTING_ROOM
    lines = []
    if result.study is not None:
        lines.extend(wrap_to_width("study: " + result.study_line(), width_pt))
    lines.extend(wrap_to_width(_series_line(result), width_pt))
    if not result.warnings:
        lines.append("no warnings")
        return lines
    lines.append(f"{len(result.warnings)} warning(s):")
    codes = result.warning_codes or ("other",) * len(result.warnings)
    for code, text in zip(codes, result.warnings, strict=True):
        lines.extend(wrap_to_width(f"- [{code}] {text}", width_pt, indent="   "))
    return lines


def _figsize(result: Any) -> tuple[float, float]:
    """Width and height (inches): the image, plus room for the lines under it."""
    return _FIG_WIDTH_IN, 6.4 + 0.125 * len(_notes(result))


def save_qc(result: VBQResult, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Write the QC figure to ``path`` (PNG, PDF or SVG, by suffix), atomically.

    Raises
    ------
    InputError
        For another suffix.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: the QC figure must be .png, .pdf or .svg")
    fig = Figure(figsize=_figsize(result), layout="constrained")
    plot_qc(result, ax=fig.add_subplot(), own=True)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return path
