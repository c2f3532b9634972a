"""MR Image Storage files for the phantom (part of :mod:`vbq.phantom`).

Every file carries the modules of the MR Image IOD (Patient, General Study,
General Series, Frame of Reference, General Equipment, General Image, Image
Plane, Image Pixel, MR Image, VOI LUT, SOP Common; Contrast/Bolus for the
post-contrast series), so that an independent validator (dciodvfy) finds no
error.

References
----------
NEMA PS3.3, A.4 MR Image IOD and C.8.3.1 MR Image Module;
PS3.5, B.2 (UUID-derived UIDs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vbq.phantom.anatomy import SLICE_SPACING, SLICE_THICKNESS, Grid, ds_number
from vbq.phantom.image import Contrast

#: Bits of each stored pixel of the simple phantom's series (BitsAllocated and BitsStored).
BITS_STORED = 16
#: The largest stored value: stored values are ``rint((signal - intercept) / slope)``
#: clipped to 0 ... :data:`STORED_MAX`.
STORED_MAX = 2**BITS_STORED - 1


# --------------------------------------------------------------------------- DICOM writing
def uid_from(*parts: object) -> str:
    """Deterministic UUID-derived UID (``2.25.<128-bit integer>``, PS3.5 B.2) from ``parts``."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(["vbq-phantom", *map(str, parts)]).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))



def base_dataset(contrast: Contrast, study_uid: str, series_uid: str, for_uid: str,
                  series_number: int, field_strength: float, grid: Grid,
                  slope: float, intercept: float) -> Any:
    """Build the attributes shared by every file of one series (pydicom Dataset)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.StudyDate = "20240115"
    ds.SeriesDate = "20240115"
    ds.AcquisitionDate = "20240115"
    ds.ContentDate = "20240115"
    ds.StudyTime = "093000"
    ds.SeriesTime = f"0930{series_number:02d}"
    ds.AcquisitionTime = f"0930{series_number:02d}"
    ds.ContentTime = f"0930{series_number:02d}"
    ds.AccessionNumber = "PHANTOM0001"
    ds.Modality = "MR"
    ds.Manufacturer = "vbq-toolkit"
    ds.InstitutionName = "Synthetic"
    ds.ReferringPhysicianName = ""
    ds.StationName = "PHANTOM"
    ds.StudyDescription = "LUMBAR SPINE"
    ds.SeriesDescription = contrast.description
    ds.ManufacturerModelName = "lumbar phantom"
    ds.PatientName = "Phantom^Lumbar"
    ds.PatientID = "VBQ-PHANTOM"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "F"
    ds.PatientAge = "074Y"
    ds.BodyPartExamined = "LSPINE"
    ds.ScanningSequence = ["SE"]
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ["FC"]
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "tse" + str(contrast.etl)
    ds.AngioFlag = "N"
    ds.SliceThickness = ds_number(SLICE_THICKNESS)
    ds.RepetitionTime = ds_number(contrast.tr_ms)
    ds.EchoTime = ds_number(contrast.te_ms)
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = ds_number(42.577478 * field_strength)
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = ds_number(field_strength)
    ds.SpacingBetweenSlices = ds_number(SLICE_SPACING)
    ds.EchoTrainLength = str(contrast.etl)
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "100"
    ds.PixelBandwidth = "190" if contrast.name != "t2" else "220"
    ds.SoftwareVersions = "vbq-toolkit phantom"
    ds.ProtocolName = contrast.description
    ds.TransmitCoilName = "Body"
    ds.ReceiveCoilName = "Spine"
    ds.AcquisitionMatrix = [0, grid.shape[1], grid.shape[0], 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = "150" if contrast.name != "t2" else "160"
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = "1.2"
    ds.dBdt = "0"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = str(series_number)
    ds.AcquisitionNumber = "1"
    ds.ImageOrientationPatient = [ds_number(v) for v in (*grid.row_dir, *grid.col_dir)]
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.shape[0]
    ds.Columns = grid.shape[1]
    ds.PixelSpacing = [ds_number(grid.spacing[0]), ds_number(grid.spacing[1])]
    ds.BitsAllocated = BITS_STORED
    ds.BitsStored = BITS_STORED
    ds.HighBit = BITS_STORED - 1
    ds.PixelRepresentation = 0
    if slope != 1.0 or intercept != 0.0:
        ds.RescaleIntercept = ds_number(intercept)
        ds.RescaleSlope = ds_number(slope)
    if contrast.contrast_agent:
        ds.ContrastBolusAgent = contrast.contrast_agent
        ds.ContrastBolusRoute = "IV"
        ds.ContrastBolusVolume = "15"
    return ds


#: Lossless compressions the phantom can write (name -> transfer syntax UID) and the
#: pydicom encoding plugin each needs.
COMPRESSIONS: dict[str, tuple[str, str, str]] = {
    "rle": ("1.2.840.10008.1.2.5", "pydicom", "pydicom (built in)"),
    "jpegls": ("1.2.840.10008.1.2.4.80", "pyjpegls", "pyjpegls"),
    "j2k": ("1.2.840.10008.1.2.4.90", "pylibjpeg", "pylibjpeg and pylibjpeg-openjpeg"),
}


def check_compression(compress: str | None) -> str | None:
    """Validate a compression name; return its transfer syntax UID (None: uncompressed).

    Raises
    ------
    InputError
        For an unknown name, or when the encoder it needs is not installed.
    """
    from vbq.errors import InputError

    if compress is None or compress in ("", "none"):
        return None
    if compress not in COMPRESSIONS:
        raise InputError(f"compression {compress!r} is not one of "
                         f"{', '.join(COMPRESSIONS)} (or none)")
    from pydicom.pixels import get_encoder

    ts, plugin, packages = COMPRESSIONS[compress]
    encoder = get_encoder(ts)
    if not encoder.is_available or plugin not in encoder.available_plugins:
        raise InputError(f"compression {compress!r} needs an encoder that is not installed; "
                         f"install {packages}")
    return ts


def write_series(files: list[Path], images: list[np.ndarray], base: Any, grid: Grid,
                  sop_uids: list[str], instance_numbers: list[int], slope: float,
                  intercept: float, compress: str | None = None) -> list[np.ndarray]:
    """Write one file per slice; return the stored integer arrays.

    ``compress`` (a key of :data:`COMPRESSIONS`) encodes each file losslessly.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    syntax = check_compression(compress)

    top = float(np.percentile(images[len(images) // 2][::4, ::4], 99.5))
    base.WindowCenter = ds_number(round(top / 2.0, 1))
    base.WindowWidth = ds_number(round(top, 1))
    stored_all = []
    for k, (path, img) in enumerate(zip(files, images, strict=True)):
        eight = int(getattr(base, "BitsAllocated", 16)) == 8
        stored = np.clip(np.rint((img - intercept) / slope), 0,
                         255 if eight else STORED_MAX).astype(np.uint8 if eight else np.uint16)
        stored_all.append(stored)
        ds = base
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = UID(sop_uids[k])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "VBQ_PHANTOM"
        ds.file_meta = meta
        ds.SOPInstanceUID = sop_uids[k]
        ds.InstanceNumber = str(instance_numbers[k])
        ds.ImagePositionPatient = [ds_number(v) for v in grid.origins[k]]
        ds.SliceLocation = ds_number(float(grid.origins[k] @ np.cross(grid.row_dir,
                                                                       grid.col_dir)))
        ds.SmallestImagePixelValue = int(stored.min())
        ds.LargestImagePixelValue = int(stored.max())
        if "PixelData" in ds:
            del ds.PixelData
        ds.PixelData = stored.tobytes()
        if syntax is not None:
            ds.compress(syntax, encoding_plugin=COMPRESSIONS[str(compress)][1],
                        generate_instance_uid=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    return stored_all
