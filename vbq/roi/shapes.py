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
- rotated ellipse or rectangle (``angle_deg`` = ``a``, not 0): the shape's row
  axis is turned counter-clockwise by ``a`` as the image is displayed (rows
  down, columns to the right), i.e. it points along ``(cos a, sin a)`` in
  ``(row, column)`` and its column axis along ``(-sin a, cos a)``; at 90
  degrees the row semi-axis lies along the columns. A pixel centre at
  ``(dr, dc)`` from the shape's centre has the shape coordinates
  ``u = dr cos a + dc sin a`` and ``v = -dr sin a + dc cos a``, and belongs
  to the ellipse when ``u**2 * rx**2 + v**2 * ry**2 <= rx**2 * ry**2``, to the
  rectangle (turned about its centre ``corner + size / 2``) when
  ``-rows/2 <= u < rows/2`` and ``-columns/2 <= v < columns/2``. ``cos a`` and
  ``sin a`` are exact (0 or +-1) at multiples of 90 degrees. Lengths are in
  pixels, or, for a patient-space shape, in millimetres with ``dr`` and ``dc``
  scaled by the pixel spacing (so the turn is a true rotation in the plane
  whatever the pixel aspect); an angle of 0 is the unrotated rule above,
  pixel for pixel;
- polygon: even-odd rule, a ray cast along increasing column; a centre on an
  edge belongs to the polygon when the edge is on its left or top side, which
  makes an axis-aligned polygon select exactly what the same rectangle does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["ellipse_mask", "rectangle_mask", "polygon_mask", "ellipse_outline", "rasterise",
           "cos_sin", "mask_rings"]


def _grid(shape: tuple[int, int], r_lo: float, r_hi: float, c_lo: float, c_hi: float
          ) -> tuple[int, int, int, int]:
    """Index ranges of the pixel centres inside a bounding box, clipped to the image."""
    rows, cols = shape
    r0 = max(0, math.ceil(r_lo))
    r1 = min(rows - 1, math.floor(r_hi))
    c0 = max(0, math.ceil(c_lo))
    c1 = min(cols - 1, math.floor(c_hi))
    return r0, r1, c0, c1


def cos_sin(angle_deg: float) -> tuple[float, float]:
    """``(cos a, sin a)`` of an angle in degrees, exact at multiples of 90 degrees.

    Examples
    --------
    >>> cos_sin(90.0), cos_sin(-180.0)
    ((0.0, 1.0), (-1.0, 0.0))
    """
    a = float(angle_deg) % 360.0
    exact = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}
    if a in exact:
        return exact[a]
    t = math.radians(a)
    return math.cos(t), math.sin(t)


def _rotated_extent(radii: tuple[float, float], angle_deg: float,
                    scale: tuple[float, float]) -> tuple[float, float]:
    """Half extents (pixels, along rows and columns) of a turned ellipse."""
    ry, rx = radii
    c, s = cos_sin(angle_deg)
    return (math.hypot(ry * c, rx * s) / scale[0], math.hypot(ry * s, rx * c) / scale[1])


def _rotated_uv(a: int, b: int, c: int, d: int, center: tuple[float, float],
                angle_deg: float, scale: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Shape coordinates ``(u, v)`` of the pixel centres of rows a..b, columns c..d."""
    co, si = cos_sin(angle_deg)
    dr = (np.arange(a, b + 1, dtype=float)[:, None] - center[0]) * scale[0]
    dc = (np.arange(c, d + 1, dtype=float)[None, :] - center[1]) * scale[1]
    return dr * co + dc * si, dc * co - dr * si


def ellipse_mask(
    shape: tuple[int, int], center: tuple[float, float], radii: tuple[float, float],
    angle_deg: float = 0.0, scale: tuple[float, float] = (1.0, 1.0),
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
        columns (horizontal), in pixels (in the units of ``scale`` when the
        ellipse is turned).
    angle_deg
        Counter-clockwise turn of the row axis as displayed (see the module
        docstring); 0 is the unrotated rule.
    scale
        Length of a pixel step along the rows and the columns in the units of
        ``radii`` (used only when the ellipse is turned).

    Examples
    --------
    Turned by 90 degrees, the row semi-axis (2) lies along the columns:

    >>> ellipse_mask((5, 5), (2, 2), (2, 1), 90.0).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 0, 1, 0, 0],
           [1, 1, 1, 1, 1],
           [0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0]])
    """
    r0, c0 = (float(v) for v in center)
    ry, rx = (float(v) for v in radii)
    mask = np.zeros(shape, dtype=bool)
    if cos_sin(angle_deg) != (1.0, 0.0):
        er, ec = _rotated_extent((ry, rx), angle_deg, scale)
        a, b, c, d = _grid(shape, r0 - er, r0 + er, c0 - ec, c0 + ec)
        if a > b or c > d:
            return mask
        u, v = _rotated_uv(a, b, c, d, (r0, c0), angle_deg, scale)
        mask[a : b + 1, c : d + 1] = u * u * (rx * rx) + v * v * (ry * ry) <= (rx * rx) * (ry * ry)
        return mask
    a, b, c, d = _grid(shape, r0 - ry, r0 + ry, c0 - rx, c0 + rx)
    if a > b or c > d:
        return mask
    dr = np.arange(a, b + 1, dtype=float)[:, None] - r0
    dc = np.arange(c, d + 1, dtype=float)[None, :] - c0
    mask[a : b + 1, c : d + 1] = dr * dr * (rx * rx) + dc * dc * (ry * ry) <= (rx * rx) * (ry * ry)
    return mask


def rectangle_mask(
    shape: tuple[int, int], corner: tuple[float, float], size: tuple[float, float],
    angle_deg: float = 0.0, scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Pixels whose centre satisfies ``corner <= centre < corner + size`` on both axes.

    Turned by ``angle_deg`` (about its centre, see the module docstring), it
    selects the centres with ``-h/2 <= u < h/2`` and ``-w/2 <= v < w/2``;
    ``size`` is then in the units of ``scale`` and ``corner`` in pixels.
    """
    r0, c0 = (float(v) for v in corner)
    h, w = (float(v) for v in size)
    if cos_sin(angle_deg) != (1.0, 0.0):
        centre = (r0 + 0.5 * h / scale[0], c0 + 0.5 * w / scale[1])
        half_diagonal = 0.5 * math.hypot(h, w)
        er, ec = half_diagonal / scale[0], half_diagonal / scale[1]
        mask = np.zeros(shape, dtype=bool)
        a, b, c, d = _grid(shape, centre[0] - er, centre[0] + er, centre[1] - ec,
                           centre[1] + ec)
        if a > b or c > d:
            return mask
        u, v = _rotated_uv(a, b, c, d, centre, angle_deg, scale)
        mask[a : b + 1, c : d + 1] = (u >= -0.5 * h) & (u < 0.5 * h) & (v >= -0.5 * w) & (
            v < 0.5 * w)
        return mask
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


def mask_rings(mask: np.ndarray) -> list[np.ndarray]:
    """Return closed polygons around a mask's pixels, as ``[row, column]`` vertices.

    Traced on a twice-upsampled grid along the pixel edges, so each corner is
    cut by a quarter pixel: every vertex is a multiple of 0.25, no pixel centre
    lies on an edge, and by the even-odd rule (:func:`polygon_mask`) each ring
    selects the pixel centres it encloses. The union of the rings' selections
    is the mask with its holes filled. Vertices where the outline goes straight
    on are dropped; the first vertex is not repeated at the end. Longest ring
    first.
    """
    import contourpy

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return []
    # only the mask's bounding box is traced; vertices are then moved by its corner, a
    # whole number of pixels, which is exact for multiples of 0.25
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    r0, c0 = int(rows[0]), int(cols[0])
    box = m[r0:int(rows[-1]) + 1, c0:int(cols[-1]) + 1]
    up = np.repeat(np.repeat(np.pad(box, 1), 2, axis=0), 2, axis=1).astype(float)
    rings = []
    for line in contourpy.contour_generator(z=up).lines(0.5):  # (x, y): columns, rows
        rc = np.column_stack([np.asarray(line)[:, 1] / 2.0 - 1.25 + r0,
                              np.asarray(line)[:, 0] / 2.0 - 1.25 + c0])
        if np.array_equal(rc[0], rc[-1]):
            rc = rc[:-1]
        before, after = rc - np.roll(rc, 1, axis=0), np.roll(rc, -1, axis=0) - rc
        turn = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
        rings.append(rc[turn != 0.0])
    return sorted(rings, key=len, reverse=True)


def ellipse_outline(center: np.ndarray, radii: np.ndarray, n: int = 96,
                    angle_deg: float = 0.0, scale: tuple[float, float] = (1.0, 1.0)
                    ) -> np.ndarray:
    """``n + 1`` points ``[row, column]`` around the (turned) ellipse, closed."""
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    u, v = radii[0] * np.sin(t), radii[1] * np.cos(t)
    if cos_sin(angle_deg) == (1.0, 0.0):
        return np.column_stack([center[0] + u, center[1] + v])
    co, si = cos_sin(angle_deg)
    return np.column_stack([center[0] + (u * co - v * si) / scale[0],
                            center[1] + (u * si + v * co) / scale[1]])


def _rectangle_outline(corner: np.ndarray, size: np.ndarray, angle_deg: float,
                       scale: tuple[float, float]) -> np.ndarray:
    """Five points ``[row, column]`` around the (turned) rectangle, closed."""
    if cos_sin(angle_deg) == (1.0, 0.0):
        r0, c0 = corner
        r1, c1 = corner + size
        return np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0], [r0, c0]])
    co, si = cos_sin(angle_deg)
    h, w = float(size[0]), float(size[1])
    centre = (float(corner[0]) + 0.5 * h / scale[0], float(corner[1]) + 0.5 * w / scale[1])
    uv = np.array([[-h, -w], [-h, w], [h, w], [h, -w], [-h, -w]]) * 0.5
    return np.column_stack([centre[0] + (uv[:, 0] * co - uv[:, 1] * si) / scale[0],
                            centre[1] + (uv[:, 0] * si + uv[:, 1] * co) / scale[1]])


def rasterise(shape_name: str, px: Mapping[str, np.ndarray], shape: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Mask on the image, outline, and how many selected pixel centres fall off the image.

    The shape is rasterised on the image grid padded on every side by as much as
    its extent reaches past the image (capped at the image size, beyond which
    the count is only a lower bound), so pixels off the image are counted by
    the same membership rule.
    """
    angle = float(px["angle"]) if "angle" in px else 0.0
    scale = (tuple(float(v) for v in px["scale"]) if "scale" in px else (1.0, 1.0))
    scale2 = (scale[0], scale[1])
    if shape_name in ("ellipse", "circle"):
        center, radii = px["center"], px["radii"]
        outline = ellipse_outline(center, radii, angle_deg=angle, scale=scale2)
        lo, hi = outline.min(axis=0), outline.max(axis=0)
        if cos_sin(angle) == (1.0, 0.0):
            lo, hi = center - radii, center + radii
        else:
            er, ec = _rotated_extent((float(radii[0]), float(radii[1])), angle, scale2)
            lo, hi = center - np.array([er, ec]), center + np.array([er, ec])
    elif shape_name == "rectangle":
        corner, size = px["corner"], px["size"]
        outline = _rectangle_outline(corner, size, angle, scale2)
        lo, hi = ((corner, corner + size) if cos_sin(angle) == (1.0, 0.0)
                  else (outline.min(axis=0), outline.max(axis=0)))
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
        full = ellipse_mask(big, tuple(px["center"] + pad), tuple(px["radii"]), angle, scale2)
    elif shape_name == "rectangle":
        full = rectangle_mask(big, tuple(px["corner"] + pad), tuple(px["size"]), angle,
                              scale2)
    else:
        full = polygon_mask(big, px["points"] + pad)
    mask = full[pad : pad + rows, pad : pad + cols]
    # unpadded, the grid is the image, so nothing can fall off it
    n_beyond = int(full.sum() - mask.sum()) if pad else 0
    if pad and not n_beyond and not mask.any() and reach > pad:
        n_beyond = 1  # the shape lies wholly beyond the padded grid
    return np.ascontiguousarray(mask), outline, n_beyond


