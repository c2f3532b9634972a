"""In-memory series for the scoring tests (no DICOM files): real SeriesInfo, pixels cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vbq.dicom import SeriesInfo, SliceInfo
from vbq.dicom.geometry import SliceGeometry


def make_series(images: np.ndarray, spacing=(0.8, 0.7), gap: float = 4.0,
                field_strength: float | None = 1.5) -> SeriesInfo:
    """A sagittal stack: rows run caudally (-z), columns posteriorly (+y), normal along -x."""
    images = np.asarray(images, dtype=float)
    slices = []
    for i in range(images.shape[0]):
        origin = np.array([-i * gap, -100.0, 60.0])  # position = origin . (-1,0,0) = i * gap
        geom = SliceGeometry(origin=origin, row_dir=np.array([0.0, 1.0, 0.0]),
                             col_dir=np.array([0.0, 0.0, -1.0]), spacing=spacing,
                             shape=images.shape[1:])
        slices.append(SliceInfo(path=Path(f"/nonexistent/{i}.dcm"),
                                sop_instance_uid=f"1.2.3.{i}", instance_number=i + 1,
                                geometry=geom, rescale_slope=1.0, rescale_intercept=0.0,
                                position=float(geom.position)))
    cache = {}
    for i in range(images.shape[0]):
        a = images[i].copy()
        a.setflags(write=False)
        cache[i] = a
    return SeriesInfo(series_instance_uid="1.2.3", study_instance_uid=None,
                      description="T1 SAG", modality="MR", plane="sagittal",
                      slices=tuple(slices), tr_ms=550.0, te_ms=12.0,
                      field_strength_t=field_strength, manufacturer="Test", model="X",
                      pixel_bandwidth=None, contrast_agent=None, patient_id=None, _cache=cache)
