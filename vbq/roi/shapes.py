"""Drawn shapes on the pixel grid: which pixel centres an ellipse, rectangle or polygon selects.

Owns the membership rules of the ROI file's shapes and their outlines.
Membership is decided on pixel centres only (row ``r``, column ``c``, 0-based,
centres on integers):

- ellipse / circle: ``((r - r0) / ry)**2 + ((c - c0) / rx)**2 <= 1`` with
  ``"center": [r0, c0]`` and ``"radii": [ry, rx]`` (the semi-axis down the
  rows first, then the one along the columns, in the order of ``center``),
  evaluated as ``dr**2 * rx**2 + dc**2 * ry**2 <= rx**2 * ry**2`` so that
  boundary pixels of integer and half-integer shapes are decided exactly;
- rectangle: ``corner <= centre < corner + size`` on both axes (half-open),
  with ``"corner": [r, c]`` and ``"size": [rows, columns]``;
- polygon: even-odd rule, a ray cast along increasing column; a centre on an
  edge belongs to the polygon when the edge is on its left or top side, which
  makes an axis-aligned polygon select exactly what the same rectangle does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["ellipse_mask", "rectangle_mask", "polygon_mask", "ellipse_outline", "rasterise"]


def _grid(shape: tuple[int, int], r_lo: float, r_hi: float, c_lo: float, c_hi: float
          ) -> tuple[int, int, int, int]:
    """Index ranges of the pixel centres inside a bounding box, clipped to the image."""
    rows, cols = shape
    r0 = max(0, math.ceil(r_lo))
    r1 = min(rows - 1, math.floor(r_hi))
    c0 = max(0, math.ceil(c_lo))
    c1 = min(cols - 1, math.floor(c_hi))
    return r0, r1, c0, c1


def ellipse_mask(
    shape: tuple[int, int], center: tuple[float, float], radii: tuple[float, float]
) -> np.ndarray:
    """Pixels whose centre satisfies ``((r-r0)/ry)**2 + ((c-c0)/rx)**2 <= 1``.

    Parameters
    ----------
    shape
        ``(rows, columns)`` of the image.
    center
        ``(r0, c0)`` in pixels.
    radii
        ``(ry, rx)``: the semi-axis along the rows (vertical) and along the
        columns (horizontal), in pixels.
    """
    r0, c0 = (float(v) for v in center)
    ry, rx = (float(v) for v in radii)
    mask = np.zeros(shape, dtype=bool)
    a, b, c, d = _grid(shape, r0 - ry, r0 + ry, c0 - rx, c0 + rx)
    if a > b or c > d:
        return mask
    dr = np.arange(a, b + 1, dtype=float)[:, None] - r0
    dc = np.arange(c, d + 1, dtype=float)[None, :] - c0
    mask[a : b + 1, c : d + 1] = dr * dr * (rx * rx) + dc * dc * (ry * ry) <= (rx * rx) * (ry * ry)
    return mask


def rectangle_mask(
    shape: tuple[int, int], corner: tuple[float, float], size: tuple[float, float]
) -> np.ndarray:
    """Pixels whose centre satisfies ``corner <= centre < corner + size`` on both axes."""
    r0, c0 = (float(v) for v in corner)
    h, w = (float(v) for v in size)
    rows = np.arange(shape[0], dtype=float)
    cols = np.arange(shape[1], dtype=float)
    in_r = (rows >= r0) & (rows < r0 + h)
    in_c = (cols >= c0) & (cols < c0 + w)
    return in_r[:, None] & in_c[None, :]


def polygon_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Pixels whose centre is inside the polygon by the even-odd rule.

    A ray is cast from each centre towards increasing column; an edge from
    ``(r1, c1)`` to ``(r2, c2)`` is crossed when ``(r1 > r) != (r2 > r)`` and the
    centre lies strictly left of the edge. The test is written without
    division, so integer vertices give exact answers.
    """
    pts = np.asarray(points, dtype=float)
    mask = np.zeros(shape, dtype=bool)
    a, b, c, d = _grid(
        shape, pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max()
    )
    if a > b or c > d:
        return mask
    cc = np.arange(c, d + 1, dtype=float)[None, :]
    inside = np.zeros((b - a + 1, d - c + 1), dtype=bool)
    for (r1, c1), (r2, c2) in zip(pts.tolist(), np.roll(pts, -1, axis=0).tolist(),
                                  strict=True):
        if r1 == r2:
            continue
        # the rows the edge straddles, (r1 > r) != (r2 > r), i.e. lo <= r < hi: only
        # those rows are visited, so the work is about twice the bounding box, not
        # the number of edges times the bounding box
        lo, hi = (r1, r2) if r1 < r2 else (r2, r1)
        first = max(a, math.ceil(lo))
        last = min(b, math.ceil(hi) - 1)
        if first > last:
            continue
        rr = np.arange(first, last + 1, dtype=float)[:, None]
        # c < c1 + (r - r1) * (c2 - c1) / (r2 - r1), multiplied through by (r2 - r1)
        lhs = (cc - c1) * (r2 - r1)
        rhs = (rr - r1) * (c2 - c1)
        left = lhs < rhs if r2 > r1 else lhs > rhs
        inside[first - a : last - a + 1] ^= left
    mask[a : b + 1, c : d + 1] = inside
    return mask



def ellipse_outline(center: np.ndarray, radii: np.ndarray, n: int = 96) -> np.ndarray:
    """``n + 1`` points ``[row, column]`` around the ellipse, closed."""
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    return np.column_stack([center[0] + radii[0] * np.sin(t), center[1] + radii[1] * np.cos(t)])



def rasterise(shape_name: str, px: Mapping[str, np.ndarray], shape: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Mask on the image, outline, and how many selected pixel centres fall off the image.

    The shape is rasterised on the image grid padded on every side by as much as
    its extent reaches past the image (capped at the image size, beyond which
    the count is only a lower bound), so pixels off the image are counted by
    the same membership rule.
    """
    if shape_name in ("ellipse", "circle"):
        center, radii = px["center"], px["radii"]
        lo, hi = center - radii, center + radii
        outline = ellipse_outline(center, radii)
    elif shape_name == "rectangle":
        corner, size = px["corner"], px["size"]
        lo, hi = corner, corner + size
        r0, c0 = corner
        r1, c1 = corner + size
        outline = np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0], [r0, c0]])
    else:
        pts = px["points"]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        outline = np.vstack([pts, pts[:1]])
    rows, cols = shape
    reach = max(0.0, -float(lo[0]), -float(lo[1]), float(hi[0]) - rows + 1,
                float(hi[1]) - cols + 1)
    if not math.isfinite(reach):
        reach = float(max(rows, cols)) + 1.0
    pad = int(min(math.ceil(reach), max(rows, cols)))
    big = (rows + 2 * pad, cols + 2 * pad)
    if shape_name in ("ellipse", "circle"):
        full = ellipse_mask(big, tuple(px["center"] + pad), tuple(px["radii"]))
    elif shape_name == "rectangle":
        full = rectangle_mask(big, tuple(px["corner"] + pad), tuple(px["size"]))
    else:
        full = polygon_mask(big, px["points"] + pad)
    mask = full[pad : pad + rows, pad : pad + cols]
    n_beyond = int(full.sum() - mask.sum())
    if pad and not n_beyond and not mask.any() and reach > pad:
        n_beyond = 1  # the shape lies wholly beyond the padded grid
    return np.ascontiguousarray(mask), outline, n_beyond


