"""The mid-sagittal slice of a sagittal stack, found from its left-right symmetry alone.

Owns :func:`symmetry_midline`: no click, no anatomy model, only the images. It
is cheap enough to run when a series is opened (the reading workstation opens
on it); the plane found from the traced sac (:mod:`vbq.roi.midline`) is more
exact and wins when it is known.

Method
    A body is nearly mirror-symmetric about its mid-sagittal plane, so two
    slices at the same distance on either side of the plane look alike, and
    more alike than two slices the same distance apart elsewhere in the stack.
    Every slice is reduced to block means (:data:`BLOCK` x :data:`BLOCK`
    pixels, which averages out the noise), scaled by the stack's mean signal,
    and its structure kept: each block less the Gaussian-smoothed blocks around
    it (:data:`SMOOTH_BLOCKS`), so coil shading and flat background weigh
    nothing. The likeness of slices ``a`` and ``b`` is the inner product of
    their structure, ``g(a, b)``; their content is ``sqrt(g(a, a) g(b, b))``.
    For a candidate plane ``m`` on the grid of slice centres and midpoints
    between them, the pairs ``(a, b)`` with ``a + b = 2m`` and
    ``1 <= b - a <= 2 * MAX_REACH`` are compared: its score is the sum of
    ``g(a, b)`` divided by the stack's content-weighted likeness at that
    separation, over the sum of the pairs' content (so candidates on slices,
    whose pairs are an even number of slices apart, and between them, whose
    pairs are an odd number apart, are judged alike, and featureless slices
    at the ends of the stack count for nothing). The plane is the candidate of
    highest score, refined to a fraction of a slice by the parabola through it
    and its two neighbours on the half-slice grid.
Canal refinement
    The symmetric plane is a plane of the whole image (the trunk, the pelvis,
    a spine curved by scoliosis); the reader wants the one through the
    spinal canal. On a sagittal T1 image the canal is a dark (CSF) column
    running the height of the lumbar field of view; lateral slices cut it
    into foramina between pedicles, or miss it. Each slice is reduced to
    :data:`CANAL_GRID` block columns; a block is dark when its mean lies under
    :data:`DARK_FRACTION` of the median of the stack's tissue (blocks above a
    tenth of its 99th percentile) and above :data:`AIR_FRACTION` of it (air),
    and counts only with a dark neighbour across (so thin cortex lines do
    not). The column of a slice is the set of dark blocks on a path down
    the rows, drifting at most one block per row, at least
    :data:`MIN_COLUMN` of the image's height long; its amount is the number
    of such blocks. The canal lies about the midline, so the plane is the
    amount-weighted mean slice over the slices within :data:`CANAL_REACH` of
    the symmetric slice (further ones are lateral dark structures, not the
    canal). With no column there (no dark CSF, or another contrast), the
    symmetric plane stands.
Limits
    One plane for the whole image: a spine turned about the vertical axis or
    tilted in the coronal plane by several degrees crosses more than one slice,
    and the answer may then be the neighbour of the slice through the spine's
    centre (``benchmarks/bench_open_slice.py``: on 40 realistic phantoms, 30
    exact and all within one slice). The canal refinement assumes T1-like
    contrast (CSF darker than the soft tissue) and rows running head to feet.

References
----------
Liu Y, Collins RT, Rothfus WE. Robust midsagittal plane extraction from normal
and pathological 3-D neuroradiology images. IEEE Trans Med Imaging.
2001;20(3):175-192. doi:10.1109/42.918469 (the mid-sagittal plane as the
plane of greatest bilateral symmetry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SymmetryMidline", "symmetry_midline", "block_means", "canal_column_amounts",
           "BLOCK", "MAX_REACH", "SMOOTH_BLOCKS", "CANAL_GRID", "DARK_FRACTION", "AIR_FRACTION",
           "MIN_COLUMN", "CANAL_REACH"]

#: Side (pixels) of the blocks a slice is averaged over before slices are compared.
BLOCK = 4
#: Pairs up to this many slices from the candidate plane on either side are compared.
MAX_REACH = 4
#: Gaussian width (blocks) of the neighbourhood a block's structure is measured against.
SMOOTH_BLOCKS = 2.0
#: Block columns across a slice for the canal search (about 2 mm blocks on a lumbar field).
CANAL_GRID = 128
#: A block is dark (CSF on T1) under this fraction of the stack's median tissue signal.
DARK_FRACTION = 0.7
#: ... and air (not CSF) under this fraction of it.
AIR_FRACTION = 0.15
#: Shortest dark column that counts as the canal, as a fraction of the image's height.
MIN_COLUMN = 0.3
#: Slices on either side of the symmetric slice whose canal column is weighed.
CANAL_REACH = 2


@dataclass(frozen=True)
class SymmetryMidline:
    """The plane of greatest left-right symmetry of a stack.

    Attributes
    ----------
    position
        The plane's position in slice indices (fractional; 7.5 lies halfway
        between slices 7 and 8).
    slice_index
        The slice nearest the plane (the higher index when it lies half-way).
    candidates
        The candidate positions compared (slice centres and midpoints).
    scores
        Each candidate's score (its pairs' likeness relative to the stack's
        likeness at their separation; higher is more symmetric).
    symmetric
        The plane of greatest symmetry alone (slice indices), before the canal
        refinement; equal to ``position`` when no canal column was seen.
    canal
        Each slice's canal column amount (:func:`canal_column_amounts`); empty
        for stacks under three slices.
    """

    position: float
    slice_index: int
    candidates: tuple[float, ...]
    scores: tuple[float, ...]
    symmetric: float | None = None
    canal: tuple[float, ...] = ()

    def position_mm(self, positions_mm: Sequence[float] | np.ndarray) -> float:
        """Return the plane's position along the slice normal, interpolated between slices."""
        p = np.asarray(positions_mm, dtype=float)
        k = int(np.clip(np.floor(self.position), 0, len(p) - 2)) if len(p) > 1 else 0
        if len(p) == 1:
            return float(p[0])
        t = self.position - k
        return float(p[k] + t * (p[k + 1] - p[k]))


def block_means(image: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Mean of every whole ``block`` x ``block`` tile of a 2-D image (the edge remainder dropped).

    Examples
    --------
    >>> block_means(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    a = np.asarray(image, dtype=float)
    r, c = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    if r == 0 or c == 0:
        return a.copy()
    return a[:r, :c].reshape(r // block, block, c // block, block).mean(axis=(1, 3))


def canal_column_amounts(stack: np.ndarray, *, grid: int = CANAL_GRID) -> np.ndarray:
    """Return each slice's amount of long dark column (the canal's CSF; module docstring).

    Parameters
    ----------
    stack
        Array ``(n, rows, cols)`` of a sagittal stack, rows running head to feet.
    grid
        Block columns across a slice.

    Returns
    -------
    numpy.ndarray
        For each slice, the number of dark blocks on a path down the rows at least
        :data:`MIN_COLUMN` of the height long (0 where there is none).

    Examples
    --------
    A dark bar 4 blocks wide down the whole of slice 1 and a short one in slice 2:

    >>> s = np.full((3, 64, 64), 100.0)
    >>> s[1, :, 30:34] = 20.0
    >>> s[2, :10, 30:34] = 20.0
    >>> canal_column_amounts(s, grid=64).tolist()
    [0.0, 256.0, 0.0]
    """
    from scipy import ndimage

    x = np.asarray(stack, dtype=float)
    n, rows, cols = x.shape
    block = max(1, cols // grid)
    x = np.stack([block_means(f, block) for f in x])
    tissue_floor = 0.1 * float(np.percentile(x, 99))
    tissue = x[x > tissue_floor]
    if tissue.size == 0:
        return np.zeros(n)
    med = float(np.median(tissue))
    dark = (x < DARK_FRACTION * med) & (x > AIR_FRACTION * med)
    side = np.pad(dark, ((0, 0), (0, 0), (1, 1)))
    wide = dark & (side[:, :, :-2] | side[:, :, 2:])   # a dark neighbour across
    r = x.shape[1]
    down = np.zeros(x.shape)
    up = np.zeros(x.shape)
    run = np.zeros((n, x.shape[2]))
    for i in range(r):                          # longest drifting path ending here ...
        run = np.where(wide[:, i], ndimage.maximum_filter1d(run, 3, axis=1) + 1.0, 0.0)
        down[:, i] = run
    run = np.zeros((n, x.shape[2]))
    for i in range(r - 1, -1, -1):              # ... and starting here
        run = np.where(wide[:, i], ndimage.maximum_filter1d(run, 3, axis=1) + 1.0, 0.0)
        up[:, i] = run
    through = down + up - 1.0
    return (through >= MIN_COLUMN * r).sum(axis=(1, 2)).astype(float)


def symmetry_midline(slices: Sequence[np.ndarray] | np.ndarray, *,
                     block: int = BLOCK, max_reach: int = MAX_REACH) -> SymmetryMidline:
    """Find the slice of greatest left-right symmetry of a sagittal stack (module docstring).

    Parameters
    ----------
    slices
        The stack, in slice order (ascending position along the normal): a
        sequence of 2-D images of one shape, or an array ``(n, rows, cols)``.
    block
        Side of the averaging blocks (pixels).
    max_reach
        Largest distance (slices) from a candidate plane at which pairs are compared.

    Returns
    -------
    SymmetryMidline
        With fewer than three slices there is nothing to compare: the middle
        slice (position ``(n - 1) / 2``) and no candidates.

    Raises
    ------
    ValueError
        An empty stack, or slices of different shapes.

    Examples
    --------
    Two balls (radius 30 and 10 pixels) whose centres lie 6.5 slices deep, half-way
    between slices 6 and 7, cut by 15 slices 0.6 radius-units apart:

    >>> r, c = np.mgrid[0:96, 0:96]
    >>> def section(k):
    ...     z = (k - 6.5) * 6.0
    ...     big = (r - 48) ** 2 + (c - 40) ** 2 <= 30 ** 2 - z ** 2
    ...     small = (r - 48) ** 2 + (c - 80) ** 2 <= 10 ** 2 - (z / 2) ** 2
    ...     return 100.0 + 100.0 * big + 50.0 * small
    >>> m = symmetry_midline([section(k) for k in range(15)])
    >>> round(m.position, 3), m.slice_index
    (6.5, 7)
    """
    stack = [np.asarray(s, dtype=float) for s in slices]
    n = len(stack)
    if n == 0:
        raise ValueError("the stack has no slice")
    shape = stack[0].shape
    if any(s.shape != shape for s in stack):
        raise ValueError("the slices of the stack differ in shape")
    if n < 3:
        mid = (n - 1) / 2.0
        return SymmetryMidline(mid, int(np.floor(mid)), (), ())
    from scipy import ndimage

    x = np.stack([block_means(s, block) for s in stack])
    scale = float(np.abs(x).mean())
    if scale > 0:
        x = x / scale
    # structure only: each block mean less its neighbourhood's (shading and offsets go)
    x = (x - np.stack([ndimage.gaussian_filter(f, SMOOTH_BLOCKS) for f in x])).reshape(n, -1)
    gram = x @ x.T
    energy = np.sqrt(np.maximum(np.diag(gram), 0.0))
    weight = np.outer(energy, energy)
    # the typical likeness of two slices s apart, over the stack, weighted by their content
    base = np.full(n, np.nan)
    for s in range(1, min(n, 2 * max_reach + 1)):
        w = np.diagonal(weight, s)
        if w.sum() > 0:
            base[s] = np.diagonal(gram, s).sum() / w.sum()
    cand: list[float] = []
    score: list[float] = []
    for twice in range(2, 2 * n - 3):          # candidates 1.5, 2, ..., n - 2.5
        num = den = 0.0
        pairs = 0
        for a in range(n):
            b = twice - a
            sep = b - a
            if sep < 1 or b >= n or sep > 2 * max_reach or not base[sep] > 0:
                continue
            num += gram[a, b] / base[sep]
            den += weight[a, b]
            pairs += 1
        if den > 0 and pairs >= 2:              # one pair is too little to judge by
            cand.append(twice / 2.0)
            score.append(num / den)
    if not cand:                                # no structure anywhere: the middle slice
        mid = (n - 1) / 2.0
        return SymmetryMidline(mid, int(np.floor(mid)), (), (), mid,
                               tuple(float(a) for a in canal_column_amounts(np.stack(stack))))
    scores = np.asarray(score)
    i = int(np.argmax(scores))
    pos = cand[i]
    if 0 < i < len(scores) - 1:
        lo, top, hi = scores[i - 1], scores[i], scores[i + 1]
        curv = lo - 2.0 * top + hi
        if curv < 0:
            pos = cand[i] + 0.25 * (lo - hi) / curv
    symmetric = float(pos)
    canal = canal_column_amounts(np.stack(stack))
    k0 = int(np.clip(np.floor(pos + 0.5), 0, n - 1))
    lo, hi = max(0, k0 - CANAL_REACH), min(n, k0 + CANAL_REACH + 1)
    near = canal[lo:hi]
    if near.sum() > 0:                          # the canal's centre about the symmetric slice
        pos = float((np.arange(lo, hi) * near).sum() / near.sum())
    k = int(np.clip(np.floor(pos + 0.5), 0, n - 1))
    return SymmetryMidline(float(pos), k, tuple(cand), tuple(float(c) for c in scores),
                           symmetric, tuple(float(a) for a in canal))
