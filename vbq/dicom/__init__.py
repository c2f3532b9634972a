"""Reading DICOM: the input of the imaging half.

Owns everything between a folder of files and a chosen series with pixels on
demand, and nothing about ROIs or scores:

- :mod:`~vbq.dicom.header`: a fast reader of the header tags the index needs;
- :mod:`~vbq.dicom.geometry`: slice planes, pixel <-> patient coordinates;
- :mod:`~vbq.dicom.placement` and :mod:`~vbq.dicom.enhanced`: one image file (or
  each frame of a multi-frame one) placed in the patient, its values checked;
- :mod:`~vbq.dicom.index`: :func:`index_folder`, every series of a folder;
- :mod:`~vbq.dicom.series`: :class:`SliceInfo`, :class:`SeriesInfo`,
  :class:`SeriesIndex`;
- :mod:`~vbq.dicom.pixels`: decoding the pixel data of one slice;
- :mod:`~vbq.dicom.choice`: :func:`choose_series` and :func:`load_series`;
- :mod:`~vbq.dicom.sliceref`: :class:`SliceRef`, the one way a slice is named.

The names below are imported on first use, so that ``import vbq.dicom`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "index_folder": "vbq.dicom.index",
    "SliceInfo": "vbq.dicom.series",
    "SeriesInfo": "vbq.dicom.series",
    "SeriesIndex": "vbq.dicom.series",
    "SeriesChoice": "vbq.dicom.choice",
    "choose_series": "vbq.dicom.choice",
    "load_series": "vbq.dicom.choice",
    "describe_choice": "vbq.dicom.choice",
    "SliceRef": "vbq.dicom.sliceref",
    "PixelDecodeError": "vbq.dicom.pixels",
    "check_decoder": "vbq.dicom.pixels",
    "ENHANCED_MR_SOP_CLASS": "vbq.dicom.enhanced",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vbq.dicom' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
