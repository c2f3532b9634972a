"""One image file placed in the patient: the checks of its geometry and rescale, its SliceInfo.

Owns what every image file goes through before it becomes a slice: a position,
orientation and spacing that can order slices, a finite modality rescale, and the
:class:`~vbq.dicom.series.SliceInfo` of a single-frame image (the frames of a
multi-frame image are :mod:`vbq.dicom.enhanced`).

References
----------
NEMA PS3.3, C.7.6.2 Image Plane Module; C.11.1 Modality LUT Module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vbq.dicom.geometry import SliceGeometry
from vbq.dicom.header import TAGS, Header
from vbq.dicom.series import SliceInfo
from vbq.errors import InputError

__all__ = ["ImageRecord", "Damaged", "GeometryCache", "check_geometry", "check_rescale",
           "slice_from"]


class ImageRecord:
    """A readable image file: its path, its header and why its pixels cannot be read."""

    __slots__ = ("path", "header", "problem")

    def __init__(self, path: Path, header: Header, problem: str | None) -> None:
        self.path, self.header, self.problem = path, header, problem



class Damaged(str):
    """Why an image could not be placed, when the file is damaged (warned about)."""


class GeometryCache:
    """Slices of a series share orientation, spacing and size: build their parts once."""

    def __init__(self) -> None:
        self._templates: dict[tuple[Any, ...], SliceGeometry] = {}

    def make(self, ipp: list[float], iop: list[float], spacing: list[float],
             shape: tuple[int, int]) -> SliceGeometry:
        """Geometry of a slice at ``ipp``, sharing the parts of earlier slices of its grid."""
        key = (tuple(iop), tuple(spacing[:2]), shape)
        template = self._templates.get(key)
        if template is None:
            template = SliceGeometry.from_dicom(ipp, iop, spacing, shape)
            self._templates[key] = template
            return template
        return template.moved_to(ipp)


#: Limits of plausible geometry (mm): farther from the origin than 100 m, or pixels
#: larger than 1 m, can only be damaged values.
_MAX_POSITION_MM = 1e5
_MAX_SPACING_MM = 1e3
_GEOMETRY_TAGS = {"ImagePositionPatient": "(0020,0032)",
                  "ImageOrientationPatient": "(0020,0037)", "PixelSpacing": "(0028,0030)"}


def check_geometry(path: Path, ipp: list[float], iop: list[float], spacing: list[float],
                    frame: int | None = None) -> None:
    """Refuse non-finite or impossible geometry values (they would reorder the slices).

    Raises
    ------
    InputError
        Naming the file, the frame (of a multi-frame image) and the tag at fault.
    """
    where = "" if frame is None else f" in the functional groups of frame {frame}"
    for name, values, n in (("ImagePositionPatient", ipp, 3),
                            ("ImageOrientationPatient", iop, 6), ("PixelSpacing", spacing, 2)):
        vals = values[:n]
        if all(math.isfinite(v) for v in vals):
            if name == "ImagePositionPatient":
                bad = max(abs(v) for v in vals) > _MAX_POSITION_MM
                why = f"a coordinate beyond {_MAX_POSITION_MM:g} mm"
            elif name == "ImageOrientationPatient":
                bad = max(abs(v) for v in vals) > 1.0 + 1e-2
                why = "a direction cosine larger than 1"
            else:
                bad = not all(0 < v <= _MAX_SPACING_MM for v in vals)
                why = f"a spacing that is not between 0 and {_MAX_SPACING_MM:g} mm"
            if not bad:
                continue
        else:
            why = "a value that is not a finite number"
        shown = "\\".join(f"{v:g}" for v in vals)
        raise InputError(f"{path} has an impossible {name} {_GEOMETRY_TAGS[name]}{where}: "
                         f"'{shown}' has {why}, so its slices cannot be placed or ordered")


#: Largest plausible modality rescale slope or intercept: beyond it, pixel values
#: overflow or lose every digit of the stored value.
_MAX_RESCALE = 1e15


def check_rescale(path: Path, slope: list[float] | None, intercept: list[float] | None,
                   frame: int | None = None) -> None:
    """Refuse a non-finite or absurd RescaleSlope or RescaleIntercept.

    Raises
    ------
    InputError
        Naming the file, the frame (of a multi-frame image) and the tag at fault.
    """
    where = "" if frame is None else f" in the functional groups of frame {frame}"
    for name, tag, values in (("RescaleSlope", "(0028,1053)", slope),
                              ("RescaleIntercept", "(0028,1052)", intercept)):
        if values and not all(math.isfinite(v) and abs(v) <= _MAX_RESCALE for v in values):
            shown = "\\".join(f"{v:g}" for v in values)
            raise InputError(f"{path} has an impossible {name} {tag}{where}: '{shown}' is not a "
                             f"finite number of at most {_MAX_RESCALE:g} in size, so its "
                             "pixel values cannot be computed")


def slice_from(rec: ImageRecord, cache: GeometryCache) -> SliceInfo | str:
    """Return the slice of a single-frame image, or why it cannot be placed."""
    h = rec.header
    ipp = h.numbers(TAGS["ImagePositionPatient"])
    iop = h.numbers(TAGS["ImageOrientationPatient"])
    spacing = h.numbers(TAGS["PixelSpacing"])
    for name, value, n in (("ImagePositionPatient", ipp, 3), ("ImageOrientationPatient", iop, 6),
                           ("PixelSpacing", spacing, 2)):
        if value is None:
            return f"has no {name}, so its position in the patient is unknown"
        if len(value) < n:
            return f"has an unusable {name} ({len(value)} values instead of {n})"
    check_geometry(rec.path, ipp, iop, spacing)  # type: ignore[arg-type]
    rows, cols = h.ushort(TAGS["Rows"]), h.ushort(TAGS["Columns"])
    if not rows or not cols:
        return "has no Rows or Columns"
    try:
        geom = cache.make(ipp, iop, spacing, (rows, cols))  # type: ignore[arg-type]
    except (ValueError, TypeError, IndexError) as err:
        return f"has unusable geometry tags ({err})"
    check_rescale(rec.path, h.numbers(TAGS["RescaleSlope"]),
                   h.numbers(TAGS["RescaleIntercept"]))
    slope = h.number(TAGS["RescaleSlope"])
    intercept = h.number(TAGS["RescaleIntercept"])
    instance = h.number(TAGS["InstanceNumber"])
    return SliceInfo(
        path=rec.path,
        sop_instance_uid=h.text(TAGS["SOPInstanceUID"]) or rec.path.name,
        instance_number=None if instance is None else int(instance),
        geometry=geom,
        rescale_slope=1.0 if slope is None or slope == 0 else slope,
        rescale_intercept=0.0 if intercept is None else intercept,
        position=geom.position,
        problem=rec.problem,
        pixel_offset=h.pixel_offset if h.pixel_tag == 0x7FE00010 else None,
        header=h,
        zero_slope=slope == 0,
    )
