"""Multi-frame images (Enhanced MR): one slice per frame, from the functional groups.

Owns reading the Multi-frame Functional Groups of one file: the position,
orientation, spacing and rescale of each frame, and the series-level acquisition
attributes (TR, TE, bandwidth, contrast agent) that an enhanced image keeps there.

References
----------
NEMA PS3.3, C.7.6.16 Multi-frame Functional Groups Module; C.8.13 Enhanced MR
Image; C.7.6.4b Enhanced Contrast/Bolus Module.
"""

from __future__ import annotations

import warnings
from typing import Any

from vbq.dicom.header import TAGS, Header
from vbq.dicom.placement import Damaged, GeometryCache, ImageRecord, check_geometry, check_rescale
from vbq.dicom.series import SliceInfo
from vbq.errors import InputError

__all__ = ["ENHANCED_MR_SOP_CLASS", "is_multiframe", "frames_from"]

#: Enhanced MR Image Storage (multi-frame, geometry in functional groups).
ENHANCED_MR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.4.1"


def is_multiframe(h: Header) -> bool:
    """Whether the image has several frames, or is an Enhanced MR image."""
    nframes = h.number(TAGS["NumberOfFrames"])
    return (nframes is not None and nframes > 1) or h.sop_class == ENHANCED_MR_SOP_CLASS


def _fg_item(shared: Any, per_frame: Any, name: str) -> Any:
    """First item of functional group macro ``name``: the frame's own, else the shared one."""
    for group in (per_frame, shared):
        if group is not None:
            seq = group.get(name)
            if seq:
                return seq[0]
    return None


def _fg_value(shared: Any, per_frame: Any, macro: str, keyword: str) -> Any:
    item = _fg_item(shared, per_frame, macro)
    return None if item is None else item.get(keyword)


def _float_or_none(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def _floats(value: Any) -> list[float] | None:
    """Return a DS value (one or several) as floats, or None if absent or not numbers."""
    if value is None or value == "":
        return None
    try:
        return [float(v) for v in (value if isinstance(value, list | tuple)
                                   or type(value).__name__ == "MultiValue" else [value])]
    except (TypeError, ValueError):
        return None


def _enhanced_contrast(ds: Any, shared: Any, first: Any) -> str | None:
    """Contrast agent of a multi-frame image (Enhanced Contrast/Bolus Module), or None.

    An agent counts when the Contrast/Bolus Usage functional group says it was
    administered, or when the image lists agents without saying how they were used.
    """
    agents = {}
    for item in ds.get("ContrastBolusAgentSequence") or ():
        name = str(item.get("CodeMeaning", "") or item.get("CodeValue", "") or "contrast agent")
        agents[item.get("ContrastBolusAgentNumber")] = name
    usage = None
    for group in (first, shared):
        if group is not None and group.get("ContrastBolusUsageSequence"):
            usage = group.ContrastBolusUsageSequence
            break
    if usage is None:
        return "; ".join(agents.values()) or None
    given = [agents.get(u.get("ContrastBolusAgentNumber"), "contrast agent") for u in usage
             if str(u.get("ContrastBolusAgentAdministered", "")).upper() == "YES"]
    return "; ".join(given) or None


def frames_from(rec: ImageRecord, cache: GeometryCache) -> list[SliceInfo] | str:
    """Slices of a multi-frame image: one per frame, geometry from its functional groups.

    References
    ----------
    NEMA PS3.3, C.7.6.16 Multi-frame Functional Groups Module (Plane Position
    (Patient), Plane Orientation (Patient), Pixel Measures, Pixel Value
    Transformation macros); C.8.13 Enhanced MR Image (MR Timing and Related
    Parameters, MR Echo, MR Imaging Modifier macros); C.7.6.4b Enhanced
    Contrast/Bolus Module and C.7.6.16.2.12 Contrast/Bolus Usage macro.
    """
    import pydicom

    h = rec.header
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(rec.path, stop_before_pixels=True, force=not h.preamble)
    except Exception as err:  # a corrupt functional group sequence
        return Damaged(f"is a multi-frame image whose header cannot be read "
                        f"({type(err).__name__})")
    where = ["its functional groups"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _frames_of(rec, ds, cache, where)
    except InputError:
        raise
    except Exception as err:  # pydicom converts values when they are first used
        detail = " ".join(str(err).split())
        return Damaged(f"is a multi-frame image with damaged functional groups: {where[0]} "
                        f"cannot be read ({type(err).__name__}: {detail})")


def _frames_of(rec: ImageRecord, ds: Any, cache: GeometryCache,
               where: list[str]) -> list[SliceInfo] | str:
    """Body of :func:`frames_from`; ``where[0]`` names the part being read, for errors."""
    h = rec.header
    where[0] = "NumberOfFrames (0028,0008)"
    nframes = int(_float_or_none(ds.get("NumberOfFrames", 1)) or 1)
    where[0] = "the Per-Frame Functional Groups Sequence (5200,9230)"
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
    where[0] = "the Shared Functional Groups Sequence (5200,9229)"
    shared_seq = ds.get("SharedFunctionalGroupsSequence") or []
    shared = shared_seq[0] if shared_seq else None
    if not per_frame and shared is None:
        return (f"is a multi-frame image ({nframes} frames) without functional groups, so "
                "the position of its frames is unknown")
    if len(per_frame) != nframes:
        return (f"has NumberOfFrames {nframes} but {len(per_frame)} Per-Frame Functional "
                "Groups items")
    rows, cols = h.ushort(TAGS["Rows"]), h.ushort(TAGS["Columns"])
    if not rows or not cols:
        return "has no Rows or Columns"
    uid = h.text(TAGS["SOPInstanceUID"]) or rec.path.name
    where[0] = "RescaleSlope (0028,1053) or RescaleIntercept (0028,1052)"
    check_rescale(rec.path, _floats(ds.get("RescaleSlope")), _floats(ds.get("RescaleIntercept")))
    top_slope = _float_or_none(ds.get("RescaleSlope"))
    top_intercept = _float_or_none(ds.get("RescaleIntercept"))
    out: list[SliceInfo] = []
    for k, frame in enumerate(per_frame):
        where[0] = (f"the Plane Position, Plane Orientation or Pixel Measures macro of frame "
                    f"{k + 1}")
        ipp = _fg_value(shared, frame, "PlanePositionSequence", "ImagePositionPatient")
        iop = _fg_value(shared, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _fg_value(shared, frame, "PixelMeasuresSequence", "PixelSpacing")
        for name, value, n in (("ImagePositionPatient", ipp, 3),
                               ("ImageOrientationPatient", iop, 6), ("PixelSpacing", spacing, 2)):
            if value is None:
                return (f"has no {name} for frame {k + 1} in its functional groups, so the "
                        "frame's position in the patient is unknown")
            if len(value) < n:
                return (f"has an unusable {name} for frame {k + 1} ({len(value)} values "
                        f"instead of {n})")
        try:
            fipp, fiop = [float(v) for v in ipp], [float(v) for v in iop]
            fspacing = [float(v) for v in spacing]
        except (ValueError, TypeError) as err:
            return f"has unusable geometry in frame {k + 1} ({err})"
        check_geometry(rec.path, fipp, fiop, fspacing, frame=k + 1)
        try:
            geom = cache.make(fipp, fiop, fspacing, (rows, cols))
        except (ValueError, TypeError, IndexError) as err:
            return f"has unusable geometry in frame {k + 1} ({err})"
        where[0] = f"the Pixel Value Transformation macro of frame {k + 1}"
        raw_slope = _fg_value(shared, frame, "PixelValueTransformationSequence", "RescaleSlope")
        raw_intercept = _fg_value(shared, frame, "PixelValueTransformationSequence",
                                  "RescaleIntercept")
        check_rescale(rec.path, _floats(raw_slope), _floats(raw_intercept), frame=k + 1)
        slope = _float_or_none(raw_slope)
        intercept = _float_or_none(raw_intercept)
        slope = top_slope if slope is None else slope
        intercept = top_intercept if intercept is None else intercept
        out.append(SliceInfo(
            path=rec.path, sop_instance_uid=uid,
            instance_number=None if h.number(TAGS["InstanceNumber"]) is None
            else int(h.number(TAGS["InstanceNumber"])),  # type: ignore[arg-type]
            geometry=geom,
            rescale_slope=1.0 if slope is None or slope == 0 else slope,
            rescale_intercept=0.0 if intercept is None else intercept,
            position=geom.position, problem=rec.problem,
            pixel_offset=h.pixel_offset if h.pixel_tag == 0x7FE00010 else None,
            header=h, frame_number=k + 1, n_frames=nframes, zero_slope=slope == 0))
    # series-level acquisition attributes live in the functional groups of an
    # enhanced image; keep them where the series builder looks for them
    where[0] = "the MR Timing, MR Echo or MR Imaging Modifier macro"
    first = per_frame[0] if per_frame else None
    found = {
        "RepetitionTime": _fg_value(shared, first, "MRTimingAndRelatedParametersSequence",
                                    "RepetitionTime"),
        "EchoTime": _fg_value(shared, first, "MREchoSequence", "EffectiveEchoTime"),
        "PixelBandwidth": _fg_value(shared, first, "MRImagingModifierSequence",
                                    "PixelBandwidth"),
    }
    for keyword, value in found.items():
        v = _float_or_none(value)
        if v is not None and TAGS[keyword] not in h:
            h.values[TAGS[keyword]] = v
    where[0] = "the Contrast/Bolus Agent Sequence (0018,0012) or Contrast/Bolus Usage macro"
    agent = _enhanced_contrast(ds, shared, first)
    if agent and TAGS["ContrastBolusAgent"] not in h:
        h.values[TAGS["ContrastBolusAgent"]] = agent
    return out
