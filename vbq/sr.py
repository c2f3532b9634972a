"""DICOM Structured Report (TID 1500 Measurement Report) of a VBQ score.

Owns writing a result as an SR and reading its measurements back. It sits at the
result level (it needs the ROI masks and the series), not in :mod:`vbq.dicom`.

:func:`write_sr` writes a Comprehensive 3D SR with highdicom. Its content is a
TID 1500 *Measurement Report* whose imaging measurements are one measurement
group per vertebral level measured, one for the CSF, and one (TID 1501) for
the VBQ score itself. Each ROI group has:

- TID 1410 *Planar ROI measurements*: the ROI's outline as a closed SCOORD
  ``POLYLINE`` (first point = last point) on the measured slice
  (:func:`roi_outline`; it follows the pixel edges, so a viewer's even-odd
  rule on pixel centres selects the measured pixels again);
- tracking identifier ``"<level> ROI"`` (``"CSF ROI"``) with a fresh UID;
- finding type ``Bone marrow`` (SCT 14016003) or ``Cerebrospinal fluid``
  (SCT 65216001), finding site the vertebra (SCT ``L1 vertebra`` 66794005,
  ...) or ``Spinal canal structure`` (SCT 61853006);
- measurements ``MR signal intensity`` (DCM 110852) with derivation ``Mean``
  (SCT 373098007), ``Median`` (SCT 373099004), ``Standard Deviation`` (SCT
  386136009), ``Minimum`` and ``Maximum``, unit ``[arb'U]`` (UCUM arbitrary
  unit); ``Area`` (SCT 42798000) in ``mm2``; and the pixel count.

Concepts with no standard code use the local coding scheme ``99VBQ`` (DICOM
reserves designators starting with ``99`` for local schemes):

=========  ===========================================
code       meaning
=========  ===========================================
VBQ        Vertebral bone quality score (unit ``1``, "no units")
NPIX       Number of pixels in region of interest (unit ``{pixels}``)
EXCL       Excluded from score (value: the reason, also ``99VBQ``)
STAT       Statistic of each region of interest (value SCT ``Mean`` or
           ``Median``: the VBQ is the median of the levels' over the CSF's)
WARN       Warning on the score (value ``W-<code>``, meaning ``<code>``: each
           warning code the result carries, once, e.g. ``W-implausible_forced``)
PROTO-x    Method: VBQ protocol *x* (``lumbar``, ``cervical``, ...)
=========  ===========================================

The VBQ group's method names the protocol, and its finding site is the spine
region of the protocol (SCT ``Lumbar spine`` 122496007 etc.). The group's
qualitative evaluations say which statistic each ROI gave (``STAT``) and list
the result's warning codes (``WARN``).

References
----------
DICOM PS3.16, TID 1500 Measurement Report and TID 1501 Measurement and
Qualitative Evaluation Group.

Herrmann MD, Clunie DA, Fedorov A, et al. Implementing the DICOM standard for
digital pathology. J Pathol Inform. 2018;9:37 (highdicom).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vbq.errors import InputError
from vbq.fileio import atomic_path
from vbq.roi.shapes import mask_rings

if TYPE_CHECKING:
    from vbq.dicom.series import SeriesInfo
    from vbq.result import VBQResult

#: Coding scheme designator of the local concepts.
LOCAL_SCHEME = "99VBQ"

__all__ = ["LOCAL_SCHEME", "write_sr", "read_sr_measurements", "roi_outline"]


def _local(value: str, meaning: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=LOCAL_SCHEME, meaning=meaning)


def _level_code(level: str) -> Any:
    from pydicom.sr.codedict import codes

    code = getattr(codes.SCT, f"{level}Vertebra", None)
    if code is None:  # S1 has no entry in pydicom's dictionary
        from highdicom.sr import CodedConcept

        return CodedConcept("54735007", "SCT", "Sacrum")
    return code


def _region_code(protocol: str) -> Any:
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes

    return {
        "lumbar": codes.SCT.LumbarSpine,
        "cervical": codes.SCT.CervicalSpine,
        "thoracic": CodedConcept("122495006", "SCT", "Thoracic spine"),
        "s1": codes.SCT.Sacrum,
    }.get(protocol, codes.SCT.BoneStructureOfSpine)


def roi_outline(mask: np.ndarray) -> np.ndarray | None:
    """Outline of a ROI mask as one closed polygon of ``[row, column]`` pixel coordinates.

    Every boundary of the mask (each region's outer edge and each hole's,
    :func:`vbq.roi.shapes.mask_rings`: pixel edges with corners cut by a quarter
    pixel) is joined into one polygon by a segment from the first ring's first
    vertex to each other ring and back along the same segment. A ray crosses
    such a pair of segments twice or not at all, so the even-odd rule on pixel
    centres selects exactly the ROI's pixels again: holes, such as focal
    structures cut out of a body's ellipse, and every separate piece included.
    A viewer draws the joining segments as lines. Returns None for an empty mask.
    """
    rings = mask_rings(np.asarray(mask, dtype=bool))
    if not rings:
        return None
    first = rings[0]
    pts = [first, first[:1]]
    for ring in rings[1:]:
        pts += [ring, ring[:1], first[:1]]
    return np.vstack(pts)


def _frame_kw(source_ds: Any, frame: int | None) -> dict[str, Any]:
    """``referenced_frame_numbers`` for a frame of a multi-frame image, else nothing."""
    if frame is not None and int(getattr(source_ds, "NumberOfFrames", 1) or 1) > 1:
        return {"referenced_frame_numbers": [int(frame)]}
    return {}


def _roi_group(label: str, m: Any, source_ds: Any, excluded: str | None,
               mask: Any = None, frame: int | None = None) -> Any:
    import highdicom as hd
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    arb = CodedConcept("[arb'U]", "UCUM", "arbitrary unit")
    is_csf = label == "CSF"
    site = codes.SCT.SpinalCanalStructure if is_csf else _level_code(label)
    finding = codes.SCT.CerebrospinalFluid if is_csf else codes.SCT.BoneMarrow
    measurements = []
    for value, derivation in ((m.mean, codes.SCT.Mean), (m.median, codes.SCT.Median),
                              (m.sd, codes.SCT.StandardDeviation),
                              (m.min, codes.SCT.Minimum), (m.max, codes.SCT.Maximum)):
        if value is None or not math.isfinite(float(value)):
            continue
        measurements.append(hd.sr.Measurement(
            name=codes.DCM.MRSignalIntensity, value=float(value), unit=arb,
            derivation=derivation))
    measurements.append(hd.sr.Measurement(
        name=codes.SCT.Area, value=float(m.area_mm2),
        unit=CodedConcept("mm2", "UCUM", "square millimeter")))
    measurements.append(hd.sr.Measurement(
        name=_local("NPIX", "Number of pixels in region of interest"),
        value=int(m.n_pixels), unit=CodedConcept("{pixels}", "UCUM", "pixels")))
    qualitative = None
    if excluded:
        qualitative = [hd.sr.QualitativeEvaluation(
            name=_local("EXCL", "Excluded from score"),
            value=_local(f"EXCL-{excluded}", f"Excluded: {excluded}"))]
    tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"{label} ROI")
    outline = roi_outline(mask) if mask is not None else None
    if outline is not None:
        # SCOORD image coordinates: (column, row), (0, 0) = top left corner of the image
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=(outline[:, ::-1] + 0.5).astype(float),
            source_image=hd.sr.SourceImageForRegion.from_source_image(
                source_ds, **_frame_kw(source_ds, frame)))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_region=region, finding_type=finding,
            finding_sites=[hd.sr.FindingSite(anatomic_location=site)],
            measurements=measurements, qualitative_evaluations=qualitative)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=finding,
        finding_sites=[hd.sr.FindingSite(anatomic_location=site)],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(
            source_ds, **_frame_kw(source_ds, frame))],
        measurements=measurements,
        qualitative_evaluations=qualitative,
    )


def write_sr(result: VBQResult, series: SeriesInfo | None, path: str | Path) -> Path:
    """Write a VBQ result as a DICOM Comprehensive 3D SR (TID 1500).

    Parameters
    ----------
    result
        A :class:`vbq.result.VBQResult` measured on ``series`` (not one built
        from values read in a PACS: the report references the images).
    series
        The :class:`vbq.dicom.series.SeriesInfo` the ROIs were measured on.
    path
        Output file; written atomically (temporary file, then renamed).

    Returns
    -------
    Path
        The written file.

    Notes
    -----
    The report belongs to the study it measured (same StudyInstanceUID). For
    a result without PHI (:meth:`vbq.result.VBQResult.without_phi`) the
    patient's name, ID, birth date and sex, the study date and time, the
    accession number, the referring physician and the study ID are written
    empty: they are Type 2 attributes, so the report stays valid DICOM. The
    UIDs are kept, so this is not a de-identification.

    Raises
    ------
    InputError
        When the result carries no measured slice.
    """
    import highdicom as hd
    import pydicom
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if result.slice_index is None or series is None:
        raise InputError("a DICOM SR needs a score measured on an image series, "
                         "not one from values read in a PACS")
    slice_of = dict(result.mask_slices or {})
    main = int(result.slice_index)
    indices = sorted({main, *(int(i) for i in slice_of.values())})
    datasets = {i: pydicom.dcmread(series.slices[i].path, stop_before_pixels=True)
                for i in indices}

    def source(label: str) -> Any:
        return datasets[int(slice_of.get(label, main))]

    def frame(label: str) -> int | None:
        return series.slices[int(slice_of.get(label, main))].frame_number

    masks = dict(result.masks or {})
    groups = []
    for level, lr in result.levels.items():
        if lr.measurement is None:
            continue
        groups.append(_roi_group(level, lr.measurement, source(level), lr.excluded,
                                 masks.get(level), frame(level)))
    if result.csf.measurement is not None:
        groups.append(_roi_group("CSF", result.csf.measurement, source("CSF"), None,
                                 masks.get("CSF"), frame("CSF")))
    vbq_group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="VBQ"),
        finding_sites=[hd.sr.FindingSite(anatomic_location=_region_code(result.protocol))],
        method=_local(f"PROTO-{result.protocol}", f"VBQ protocol {result.protocol}"),
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(
            datasets[main],
            **_frame_kw(datasets[main], series.slices[main].frame_number))],
        measurements=[hd.sr.Measurement(
            name=_local("VBQ", "Vertebral bone quality score"), value=float(result.vbq),
            unit=CodedConcept("1", "UCUM", "no units"))],
        # the statistic each ROI gave (the VBQ is the median of the levels' over the CSF's),
        # then every warning the score carries (a forced score's among them), by its code
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(
            name=_local("STAT", "Statistic of each region of interest"),
            value=codes.SCT.Median if result.statistic == "median" else codes.SCT.Mean),
            *(hd.sr.QualitativeEvaluation(name=_local("WARN", "Warning on the score"),
                                          value=_local(f"W-{code}", code))
              for code in dict.fromkeys(result.warning_codes))],
    )
    groups.append(vbq_group)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="vbq-toolkit", manufacturer_name="vbq-toolkit"),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    evidence = [datasets[i] for i in indices]
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=generate_uid(),
        series_number=9901,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="vbq-toolkit",
        series_description="VBQ measurement report",
        is_complete=True,
    )
    scheme = pydicom.Dataset()
    scheme.CodingSchemeDesignator = LOCAL_SCHEME
    scheme.CodingSchemeName = "vbq-toolkit local codes"
    scheme.CodingSchemeResponsibleOrganization = "vbq-toolkit"
    existing = list(getattr(sr, "CodingSchemeIdentificationSequence", []))
    sr.CodingSchemeIdentificationSequence = [*existing, scheme]
    if result.phi_removed:
        # Type 2 attributes: present and empty keeps the report valid DICOM
        for keyword in _PHI_KEYWORDS:
            if keyword in sr:
                setattr(sr, keyword, "")
    out = Path(path)
    with atomic_path(out) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return out


#: Attributes of the patient and the study emptied in a report of a result without PHI.
_PHI_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                 "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyID")


def read_sr_measurements(path: str | Path) -> dict[str, dict[str, float]]:
    """Read back the numbers of a report written by :func:`write_sr`.

    Returns
    -------
    dict
        Tracking identifier (``"L1 ROI"``, ``"CSF ROI"``, ``"VBQ"``) -> measurement
        name (``"mean"``, ``"median"``, ``"sd"``, ``"min"``, ``"max"``,
        ``"area_mm2"``, ``"n_pixels"``, ``"vbq"``) -> value.
    """
    import highdicom as hd

    sr = hd.sr.srread(str(path))
    derivations = {"373098007": "mean", "373099004": "median", "386136009": "sd",
                   "255605001": "min", "56851009": "max"}
    out: dict[str, dict[str, float]] = {}
    content: Any = sr.content  # a MeasurementReport's content sequence
    groups = [*content.get_planar_roi_measurement_groups(),
              *content.get_image_measurement_groups()]
    for group in groups:
        name = str(group.tracking_identifier)
        values: dict[str, float] = {}
        for m in group.get_measurements():
            code = m.name.value
            if code == "110852" and m.derivation is not None:
                values[derivations.get(m.derivation.value, m.derivation.value)] = float(m.value)
            elif code == "42798000":
                values["area_mm2"] = float(m.value)
            elif code == "NPIX":
                values["n_pixels"] = float(m.value)
            elif code == "VBQ":
                values["vbq"] = float(m.value)
        out[name] = values
    return out
