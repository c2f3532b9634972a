"""The quality-control figure: where the score was measured, and what it found.

The measured slice is shown in grey (windowed on its 1st-99.5th percentile);
every ROI is outlined in the same style whatever its source (drawn shapes by
their outline, derived ROIs by the contour of their mask) and labelled with
its signal intensity; excluded levels are dashed and marked; the VBQ and the
protocol are in the title.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError

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


def plot_qc(result: Any, ax: Any = None) -> Any:
    """Draw the QC figure of a :class:`~vbq.result.VBQResult` on ``ax`` and return the Axes.

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

        _, ax = plt.subplots(figsize=_figsize(result))
    image = np.asarray(result.image, dtype=float)
    vmin, vmax = _window(image)
    sr, sc = result.pixel_spacing or (1.0, 1.0)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest",
              aspect=sr / sc)
    outline_fx = [pe.Stroke(linewidth=2.6, foreground="black", alpha=0.6), pe.Normal()]
    text_fx = [pe.withStroke(linewidth=2.5, foreground="black")]
    rows, cols = image.shape
    elsewhere: list[str] = []
    for label, mask in result.masks.items():
        on = (result.mask_slices or {}).get(label, result.slice_index)
        if on != result.slice_index:
            elsewhere.append(f"{label} on slice {on}")
            continue
        colour, ls, text = _style(label, result)
        outline = (result.outlines or {}).get(label)
        if outline is not None:
            ax.plot(outline[:, 1], outline[:, 0], color=colour, lw=1.4, ls=ls,
                    path_effects=outline_fx)
        else:
            cs = ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors=[colour],
                            linewidths=1.4, linestyles=ls)
            cs.set_path_effects(outline_fx)
        rr, cc = np.nonzero(mask)
        r_mid = float(rr.mean())
        c_text = float(cc.max()) + 0.04 * cols
        ha = "left"
        if c_text > 0.8 * cols:
            c_text, ha = float(cc.min()) - 0.04 * cols, "right"
        ax.text(c_text, r_mid, text, color=colour, fontsize=8.5, fontweight="bold",
                ha=ha, va="center", path_effects=text_fx)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    used = ", ".join(result.used_levels)
    title = f"VBQ {result.vbq:.2f}"
    sub = (f"{result.protocol} protocol: median {result.statistic} SI of {used} / "
           f"CSF at {result.csf.level}")
    ax.set_title(f"{title}\n{sub}", fontsize=10, loc="left")
    foot = []
    s = result.series or {}
    desc = s.get("description")
    if desc:
        foot.append(str(desc))
    if s.get("field_strength_t"):
        foot.append(f"{s['field_strength_t']:g} T")
    if s.get("tr_ms") is not None and s.get("te_ms") is not None:
        foot.append(f"TR {s['tr_ms']:g} / TE {s['te_ms']:g} ms")
    foot.append(f"slice {result.slice_index}")
    foot.append(f"ROIs: {result.roi_source}")
    if elsewhere:
        foot.append("not shown: " + ", ".join(elsewhere))
    if result.warnings:
        foot.append(f"{len(result.warnings)} warning(s)")
    ax.text(0.01, 0.01, "  |  ".join(foot), transform=ax.transAxes, color="white",
            fontsize=7, ha="left", va="bottom", path_effects=text_fx)
    return ax


def _figsize(result: Any) -> tuple[float, float]:
    rows, cols = np.shape(result.image)
    sr, sc = result.pixel_spacing or (1.0, 1.0)
    h, w = rows * sr, cols * sc
    width = 6.5
    return width, max(3.0, min(10.0, width * h / w + 0.7))


def save_qc(result: Any, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
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
    plot_qc(result, ax=fig.add_subplot())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
