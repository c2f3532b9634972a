"""Enhanced MR Image Storage (multi-frame) files for the phantom (part of :mod:`vbq.phantom`).

One file holds every slice of a series as a frame. Geometry, rescale, timing and
echo parameters live in the Shared and Per-Frame Functional Groups, as the
Enhanced MR Image IOD requires; the modules written are those the IOD makes
mandatory (Patient, General Study, General Series, MR Series, Frame of
Reference, General Equipment, Enhanced General Equipment, Image Pixel,
Multi-frame Functional Groups, Multi-frame Dimension, Acquisition Context,
Enhanced MR Image, MR Pulse Sequence, SOP Common; Enhanced Contrast/Bolus for
a post-contrast series), so that dciodvfy finds no error.

References
----------
NEMA PS3.3, A.36.2 Enhanced MR Image IOD; C.7.6.16 Multi-frame Functional
Groups Module; C.7.6.17 Multi-frame Dimension Module; C.8.13 Enhanced MR
Image, MR Pulse Sequence and the MR functional group macros (C.8.13.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vbq.phantom.anatomy import SLICE_SPACING, SLICE_THICKNESS, Grid, ds_number
from vbq.phantom.dicomwriter import COMPRESSIONS, STORED_MAX, check_compression, uid_from
from vbq.phantom.image import Contrast

ENHANCED_MR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.4.1"

#: Top-level attributes copied from the classic per-slice dataset.
_COPIED = (
    "SpecificCharacterSet", "StudyDate", "SeriesDate", "StudyTime", "SeriesTime",
    "AccessionNumber", "Modality", "Manufacturer", "InstitutionName", "ReferringPhysicianName",
    "StationName", "StudyDescription", "SeriesDescription", "ManufacturerModelName",
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "BodyPartExamined", "SoftwareVersions", "ProtocolName", "PatientPosition",
    "StudyInstanceUID", "SeriesInstanceUID", "StudyID", "SeriesNumber", "FrameOfReferenceUID",
    "PositionReferenceIndicator", "SamplesPerPixel", "PhotometricInterpretation", "Rows",
    "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "MagneticFieldStrength",
)


def _item(**values: Any) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Any:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _shared_groups(base: Any, contrast: Contrast, grid: Grid, slope: float,
                   intercept: float, field_strength: float, window: tuple[float, float]) -> Any:
    frame_type = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    t1 = contrast.name.startswith("t1")
    groups = _item(
        PixelMeasuresSequence=[_item(
            PixelSpacing=[ds_number(grid.spacing[0]), ds_number(grid.spacing[1])],
            SliceThickness=ds_number(SLICE_THICKNESS),
            SpacingBetweenSlices=ds_number(SLICE_SPACING))],
        PlaneOrientationSequence=[_item(ImageOrientationPatient=[
            ds_number(v) for v in (*grid.row_dir, *grid.col_dir)])],
        PixelValueTransformationSequence=[_item(
            RescaleIntercept=ds_number(intercept), RescaleSlope=ds_number(slope),
            RescaleType="US")],
        FrameVOILUTSequence=[_item(WindowCenter=ds_number(window[0]),
                                   WindowWidth=ds_number(window[1]))],
        FrameAnatomySequence=[_item(
            AnatomicRegionSequence=[_code("122496007", "SCT", "Lumbar spine")],
            FrameLaterality="U")],
        MRImageFrameTypeSequence=[_item(
            FrameType=frame_type, PixelPresentation="MONOCHROME",
            VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE",
            ComplexImageComponent="MAGNITUDE",
            AcquisitionContrast="T1" if t1 else "T2")],
        MRTimingAndRelatedParametersSequence=[_item(
            RepetitionTime=contrast.tr_ms, FlipAngle=float(base.FlipAngle),
            EchoTrainLength=int(contrast.etl), RFEchoTrainLength=int(contrast.etl),
            GradientEchoTrainLength=0,
            SpecificAbsorptionRateSequence=[_item(
                SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY",
                SpecificAbsorptionRateValue=1.2)],
            GradientOutputType="DB_DT", GradientOutput=0.0,
            OperatingModeSequence=[_item(OperatingModeType="STATIC FIELD",
                                         OperatingMode="IEC_NORMAL")])],
        MRFOVGeometrySequence=[_item(
            InPlanePhaseEncodingDirection="ROW",
            MRAcquisitionFrequencyEncodingSteps=int(grid.shape[0]),
            MRAcquisitionPhaseEncodingStepsInPlane=int(grid.shape[1]),
            PercentSampling=100.0, PercentPhaseFieldOfView=100.0)],
        MREchoSequence=[_item(EffectiveEchoTime=contrast.te_ms)],
        MRModifierSequence=[_item(
            InversionRecovery="NO", FlowCompensation="NONE", T2Preparation="NO",
            SpectrallySelectedExcitation="NONE", SpatialPresaturation="NONE",
            PartialFourier="NO", ParallelAcquisition="NO")],
        MRImagingModifierSequence=[_item(
            MagnetizationTransfer="NONE", BloodSignalNulling="NO", Tagging="NONE",
            TransmitterFrequency=42.577478 * field_strength,
            PixelBandwidth=float(base.PixelBandwidth))],
        MRReceiveCoilSequence=[_item(ReceiveCoilName="Spine", ReceiveCoilManufacturerName="",
                                     ReceiveCoilType="MULTICOIL",
                                     QuadratureReceiveCoil="NO",
                                     MultiCoilDefinitionSequence=[_item(
                                         MultiCoilElementName="SP1",
                                         MultiCoilElementUsed="YES")])],
        MRTransmitCoilSequence=[_item(TransmitCoilName="Body", TransmitCoilManufacturerName="",
                                      TransmitCoilType="BODY")],
        MRAveragesSequence=[_item(NumberOfAverages=1.0)],
    )
    if contrast.contrast_agent:
        groups.ContrastBolusUsageSequence = [_item(
            ContrastBolusAgentNumber=1, ContrastBolusAgentAdministered="YES",
            ContrastBolusAgentDetected="NO")]
    return groups


def write_enhanced(path: Path, images: Sequence[np.ndarray], base: Any, contrast: Contrast,
                   grid: Grid, sop_uid: str, slope: float, intercept: float,
                   field_strength: float, compress: str | None = None,
                   frame_order: Sequence[int] | None = None) -> list[np.ndarray]:
    """Write the slices of one series as frames of one Enhanced MR Image file.

    Parameters
    ----------
    path
        File to write.
    images, grid
        Slice images (float, before quantisation) and the geometry they lie on.
    base
        The classic dataset of the series (from :func:`vbq.phantom.dicomwriter.base_dataset`):
        patient, study, series and equipment attributes are copied from it.
    contrast
        Acquisition table of the series (TR, TE, description, agent).
    sop_uid
        SOP Instance UID of the file.
    slope, intercept
        Modality rescale (Pixel Value Transformation functional group).
    field_strength
        Magnetic field strength (tesla); sets the transmitter frequency.
    compress
        Optional lossless compression (a key of :data:`vbq.phantom.dicomwriter.COMPRESSIONS`).
    frame_order
        Slice index stored in each frame (default: slices in order); e.g. reversed, to
        check that readers sort frames by position rather than by frame number.

    Returns
    -------
    list of numpy.ndarray
        The stored integer arrays, by slice index (not by frame).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    syntax = check_compression(compress)
    n = len(images)
    order = list(range(n)) if frame_order is None else [int(k) for k in frame_order]
    if sorted(order) != list(range(n)):
        raise ValueError("frame_order must be a permutation of the slice indexes")
    stored = [np.clip(np.rint((img - intercept) / slope), 0, STORED_MAX).astype(np.uint16)
              for img in images]
    top = float(np.percentile(images[n // 2][::4, ::4], 99.5))
    window = (round(top / 2.0, 1), round(top, 1))

    ds = Dataset()
    for keyword in _COPIED:
        if keyword in base:
            setattr(ds, keyword, base.data_element(keyword).value)
    ds.SOPClassUID = ENHANCED_MR_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = "1"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.ContentDate = base.ContentDate
    ds.ContentTime = base.ContentTime
    ds.AcquisitionDateTime = f"{base.AcquisitionDate}{base.AcquisitionTime}"
    ds.AcquisitionDuration = 120.0
    ds.AcquisitionNumber = "1"
    ds.DeviceSerialNumber = "0001"
    ds.ContentQualification = "RESEARCH"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "T1" if contrast.name.startswith("t1") else "T2"
    # MR Pulse Sequence Module (a 2D turbo spin echo)
    ds.PulseSequenceName = str(base.SequenceName)
    ds.MRAcquisitionType = "2D"
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "YES" if contrast.etl > 1 else "NO"
    ds.MultiPlanarExcitation = "YES"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "PARTIAL"
    ds.NumberOfKSpaceTrajectories = 1
    # Acquisition Context Module (nothing to say)
    ds.AcquisitionContextSequence = []
    # Enhanced Contrast/Bolus Module
    if contrast.contrast_agent:
        ds.ContrastBolusAgentSequence = [_item(
            CodeValue="768763008", CodingSchemeDesignator="SCT", CodeMeaning="Gadolinium",
            ContrastBolusAgentNumber=1,
            ContrastBolusAdministrationRouteSequence=[_code("47625008", "SCT",
                                                            "Intravenous route")],
            ContrastBolusIngredientCodeSequence=[_code("58281002", "SCT", "Gadolinium")],
            ContrastBolusVolume=15.0, ContrastBolusIngredientConcentration=0.5)]
    # Multi-frame Dimension Module: one stack, frames indexed by their stack position
    dim_uid = uid_from("dimension", sop_uid)
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dim_uid)]
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00209056,
              FunctionalGroupPointer=0x00209111, DimensionDescriptionLabel="Stack ID"),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00209057,
              FunctionalGroupPointer=0x00209111,
              DimensionDescriptionLabel="In-Stack Position Number"),
    ]
    # Multi-frame Functional Groups Module
    ds.SharedFunctionalGroupsSequence = [_shared_groups(
        base, contrast, grid, slope, intercept, field_strength, window)]
    stamp = f"{base.AcquisitionDate}{base.AcquisitionTime}"
    per_frame = []
    for k in order:
        per_frame.append(_item(
            FrameContentSequence=[_item(
                FrameAcquisitionDateTime=stamp, FrameReferenceDateTime=stamp,
                FrameAcquisitionDuration=8000.0, StackID="1", InStackPositionNumber=k + 1,
                DimensionIndexValues=[1, k + 1])],
            PlanePositionSequence=[_item(ImagePositionPatient=[
                ds_number(v) for v in grid.origins[k]])],
        ))
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.NumberOfFrames = n
    ds.ContentDate = base.ContentDate
    ds.PixelData = np.stack([stored[k] for k in order]).tobytes()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENHANCED_MR_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "VBQ_PHANTOM"
    ds.file_meta = meta
    if syntax is not None:
        ds.compress(syntax, encoding_plugin=COMPRESSIONS[str(compress)][1],
                    generate_instance_uid=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return stored
