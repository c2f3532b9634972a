"""Binary morphology in millimetres, shared by the ROIs derived from label masks and seeds.

Owns the structuring element (an ellipse of a radius in mm on an anisotropic
pixel grid), erosion by it, the largest connected region of a mask, and the
runs of a boolean profile.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ellipse_element", "erode_mm", "largest_region", "true_runs"]


def ellipse_element(radius_mm: float, spacing: tuple[float, float]) -> np.ndarray:
    """Ellipse of ``radius_mm`` on the pixel grid, semi-axes rounded to whole pixels.

    Examples
    --------
    >>> ellipse_element(1.0, (0.5, 1.0)).astype(int)  # 2 pixels down the rows, 1 across
    array([[0, 1, 0],
           [0, 1, 0],
           [1, 1, 1],
           [0, 1, 0],
           [0, 1, 0]])
    """
    ry = int(round(radius_mm / float(spacing[0])))
    rx = int(round(radius_mm / float(spacing[1])))
    r = np.arange(-ry, ry + 1, dtype=float)[:, None]
    c = np.arange(-rx, rx + 1, dtype=float)[None, :]
    return (r / max(ry, 1)) ** 2 + (c / max(rx, 1)) ** 2 <= 1.0 + 1e-9


def erode_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, float]) -> np.ndarray:
    """Binary erosion by an ellipse of ``radius_mm`` along rows and columns.

    Pixels outside the image count as background, so a mask touching the edge
    is eroded from it too.
    """
    from scipy import ndimage

    if radius_mm <= 0:
        return mask.copy()
    element = ellipse_element(radius_mm, spacing)
    return ndimage.binary_erosion(mask, structure=element, border_value=0)


def largest_region(mask: np.ndarray) -> np.ndarray:
    """Return the largest 8-connected region of ``mask`` (empty stays empty)."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges ``[a, b)`` of the runs of True in a 1-D boolean array.

    Examples
    --------
    >>> true_runs(np.array([True, True, False, True]))
    [(0, 2), (3, 4)]
    """
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(f[1:] != f[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
