"""The ROIs to measure: one boolean mask per label, whatever drew them.

Owns :class:`RoiMasks`, the one type a ROI file (:mod:`vbq.roi.rois`), a label
mask (:mod:`vbq.roi.labelmask`) and seed points (:mod:`vbq.roi.seeds`) all
produce, so every ROI is measured and drawn the same way, and the checks of a
ROI that hold whatever its source: its size (:data:`MIN_ROI_PIXELS`) and
whether it touches the image edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vbq.errors import VbqWarning

__all__ = ["RoiMasks", "MIN_ROI_PIXELS", "mask_touches_edge"]

#: Fewest pixels a ROI should have: a smaller one is reported, and an eroded
#: ROI (from a label mask or seeds) is eroded less until it keeps this many.
MIN_ROI_PIXELS = 20


@dataclass(frozen=True)
class RoiMasks:
    """Boolean masks of the ROIs to measure, one per label.

    Attributes
    ----------
    slice_index
        The slice most ROIs lie on (0-based, in the series' sorted order);
        the QC figure shows this slice.
    masks
        Label (``"L1"`` ... ``"S1"``, ``"CSF"``) -> boolean mask with the
        image's shape ``(rows, columns)``.
    csf_level
        The level the CSF ROI was placed at, or None when there is no CSF ROI.
    excluded
        Level -> reason, for levels to leave out of the score.
    warnings
        Remarks from building the masks, carried onto the result.
    source
        ``"drawn"`` (a ROI file), ``"mask"`` (a label map) or ``"seeds"``.
    outlines
        Optional label -> ``(N, 2)`` polygon ``[row, column]`` to draw; labels
        without one are drawn by the contour of their mask.
    cut_outlines
        Optional label -> polygons ``[row, column]`` of the shapes cut out of
        that ROI (its ``minus`` list), to draw.
    slices
        Optional label -> slice index, for ROIs not on ``slice_index``.
    csf_reference
        Optional ``(median, spread)`` of the sac's CSF signal sampled along the
        canal on the CSF ROI's slice (spread: a robust SD, 1.4826 x MAD); the
        CSF ROI is checked against it (:mod:`vbq.roi.plausibility`).
    body_masks
        Optional level -> boolean mask of the whole vertebral body on the slice
        of that level's ROI; a ROI reaching outside it is reported.
    midline_offset_mm
        Optional distance (mm) of ``slice_index`` from the mid-sagittal plane
        found from the anatomy; carried on the result and checked.
    midline_source
        How that plane was found: ``"bodies"``, ``"canal"`` or ``"labels"``
        (:attr:`vbq.roi.midline.Midline.source`).
    slice_offsets_mm
        Optional label -> distance (mm) from that plane of the slice of each ROI
        not on ``slice_index``; checked like the main slice's.
    """

    slice_index: int
    masks: Mapping[str, np.ndarray]
    csf_level: str | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[VbqWarning | str, ...] = ()
    source: str = "drawn"
    outlines: Mapping[str, np.ndarray] | None = None
    slices: Mapping[str, int] | None = None
    csf_reference: tuple[float, float] | None = None
    body_masks: Mapping[str, np.ndarray] | None = None
    midline_offset_mm: float | None = None
    cut_outlines: Mapping[str, tuple[np.ndarray, ...]] | None = None
    midline_source: str | None = None
    slice_offsets_mm: Mapping[str, float] | None = None

    def slice_of(self, label: str) -> int:
        """Return the slice index the ROI ``label`` lies on."""
        if self.slices and label in self.slices:
            return int(self.slices[label])
        return int(self.slice_index)


def mask_touches_edge(mask: np.ndarray) -> bool:
    """Whether any pixel of ``mask`` lies in the first or last row or column."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())

