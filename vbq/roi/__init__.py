"""Regions of interest: from a ROI file, a label mask or seed points to the masks measured.

Owns everything between a chosen series and the boolean mask of each ROI, and
nothing about scores:

- :mod:`~vbq.roi.roimasks`: :class:`RoiMasks`, the one type every source
  produces, and the ROI checks that hold whatever the source;
- :mod:`~vbq.roi.inputfile`: the top level shared by ROI and seed files (format,
  space, slice, exclusions);
- :mod:`~vbq.roi.rois`: ``vbq-rois/1`` files, with :mod:`~vbq.roi.shapes` (which
  pixels a drawn shape selects);
- :mod:`~vbq.roi.labels` and :mod:`~vbq.roi.labelmask`: label schemes and ROIs
  from a label mask (:func:`rois_from_mask`);
- :mod:`~vbq.roi.seeds`: ``vbq-seeds/1`` files and region growing
  (:func:`rois_from_seeds`);
- :mod:`~vbq.roi.anatomy` and :mod:`~vbq.roi.morphology`: the body and CSF ROIs
  and the morphology that label masks and seeds share.

The names below are imported on first use (scipy, nibabel and highdicom load only
when a mask or seeds are used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "RoiMasks": "vbq.roi.roimasks",
    "MIN_ROI_PIXELS": "vbq.roi.roimasks",
    "RoiFile": "vbq.roi.rois",
    "rois_from_mask": "vbq.roi.labelmask",
    "load_label_volume": "vbq.roi.labelmask",
    "rois_from_seeds": "vbq.roi.seeds",
    "SeedFile": "vbq.roi.seeds",
    "get_label_scheme": "vbq.roi.labels",
    "LabelScheme": "vbq.roi.labels",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vbq.roi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
