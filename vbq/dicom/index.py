"""Index a folder of DICOM files from their headers: series, slices, and the files left out.

Owns walking the folder, telling images from other files, the files that are
skipped (damaged) or ignored (not images) and the ones that may have been lost
slices, and grouping the slices by SeriesInstanceUID, sorted along the slice
normal. Which series to score is :mod:`vbq.dicom.choice`.

References
----------
NEMA PS3.3, C.7.6.2 Image Plane Module; PS3.5, 8.1.1 (native pixel data), 8.2 and
A.4 (encapsulated pixel data); PS3.3, C.7.6.3.1 (Image Pixel Module).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vbq.dicom.enhanced import frames_from, is_multiframe
from vbq.dicom.geometry import plane_of
from vbq.dicom.header import TAGS, Header, read_header
from vbq.dicom.pixels import DEFLATED_SYNTAX, syntax_name
from vbq.dicom.placement import Damaged, GeometryCache, ImageRecord, slice_from
from vbq.dicom.series import SeriesIndex, SeriesInfo, SliceInfo
from vbq.errors import InputError

__all__ = ["index_folder"]

#: SOP classes that carry no image to score even when they hold pixel data.
_NON_IMAGE_SOP_PREFIXES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.88.",   # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.11.",   # presentation states
    "1.2.840.10008.5.1.4.1.1.66",    # raw data, spatial registration, segmentation
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated documents
    "1.2.840.10008.5.1.4.1.1.481.",  # radiotherapy objects
    "1.2.840.10008.5.1.4.1.1.9.",    # waveforms
)
#: Storage SOP classes whose instances are images (CT, MR, secondary capture, ...).
_IMAGE_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1."


# --------------------------------------------------------------------------- indexing
#: Reasons for ignoring a file that say it is no DICOM file at all.
_NOT_DICOM = ("not a DICOM file", "not a regular file")


#: File name endings that say "DICOM file".
_DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
_DIGITS = re.compile(r"\d+")


def _name_pattern(name: str) -> str:
    """Return the file name with its runs of digits replaced (IM0003 -> IM#)."""
    return _DIGITS.sub("#", name)


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name



def _classify(path: Path) -> tuple[str, Any]:
    """Read one file: ("image", ImageRecord) | ("ignored", reason) | ("skipped", reason)."""
    kind, payload = read_header(path)
    if kind != "header":
        return kind, payload
    h: Header = payload
    sop_class = h.sop_class or (h.text(TAGS["SOPClassUID"]) or "")
    if sop_class.startswith(_NON_IMAGE_SOP_PREFIXES):
        return "ignored", f"not an image (SOP Class {sop_class})"
    if h.pixel_offset is None:
        # the header ended without pixel data: a truncated image, unless the SOP class
        # is one without pixels
        if (sop_class and not sop_class.startswith(_IMAGE_SOP_PREFIX)
                and TAGS["Rows"] not in h):
            return "ignored", f"holds no pixel data (SOP Class {sop_class})"
        if TAGS["ImagePositionPatient"] not in h or TAGS["PixelSpacing"] not in h:
            return "skipped", ("has no pixel data and no image position or spacing: "
                               "a truncated image, or an image header without pixels")
        # a complete image header: keep its place in the series (slice indexes must not
        # shift); reading its pixels is the error
        return "image", ImageRecord(path, h, "has no pixel data (the file may be truncated)")
    problem = None
    if h.pixel_length is not None:
        available = h.file_size - h.pixel_offset - h.pixel_header
        if available < h.pixel_length:
            problem = (f"is truncated ({max(available, 0)} of {h.pixel_length} bytes of "
                       "pixel data)")
    return "image", ImageRecord(path, h, problem or _pixel_data_problem(h))


#: Transfer syntaxes whose pixel data are native (not encapsulated): implicit VR,
#: explicit VR little and big endian. Deflated data are checked by pydicom.
_NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                              "1.2.840.10008.1.2.2"})


def _pixel_data_problem(h: Header) -> str | None:
    """Why the pixel data element cannot hold the image its header describes, or None.

    Native pixel data must be exactly Rows x Columns x NumberOfFrames x
    SamplesPerPixel x BitsAllocated bits long (rounded up to whole bytes, plus one
    padding byte when that is odd; YBR_FULL_422 stores two samples a pixel); a
    compressed transfer syntax needs encapsulated pixel data, a native one needs
    native data. A mismatch means a wrong Rows, Columns, NumberOfFrames,
    BitsAllocated or TransferSyntaxUID, and decoding would misalign the pixels.

    References
    ----------
    NEMA PS3.5, 8.1.1 (native format), 8.2 and A.4 (encapsulated format);
    PS3.3, C.7.6.3.1 (Image Pixel Module: YBR_FULL_422).
    """
    ts = h.transfer_syntax
    native = ts in _NATIVE_SYNTAXES
    if h.pixel_length is None:  # encapsulated (undefined length)
        if native:
            return (f"has encapsulated (compressed) pixel data although its TransferSyntaxUID "
                    f"{ts} is uncompressed")
        return None
    if not native:
        if ts == DEFLATED_SYNTAX:
            return None
        from pydicom.uid import UID

        with warnings.catch_warnings():  # a damaged UID is judged here, not warned about
            warnings.simplefilter("ignore")
            uid = UID(ts)
            compressed = uid.is_transfer_syntax and uid.is_compressed
        if compressed:
            return (f"has uncompressed pixel data although its TransferSyntaxUID "
                    f"{syntax_name(ts)} is a compressed one")
        return None
    rows, cols = h.ushort(TAGS["Rows"]), h.ushort(TAGS["Columns"])
    ba = h.ushort(TAGS["BitsAllocated"])
    if not rows or not cols or not ba:
        return None  # reported elsewhere (no Rows/Columns) or left to the decoder
    spp = h.ushort(TAGS["SamplesPerPixel"]) or 1
    nf = h.number(TAGS["NumberOfFrames"])
    frames = int(nf) if nf is not None and nf >= 1 and nf == int(nf) else 1
    samples = 2 if (h.text(TAGS["PhotometricInterpretation"]) or "") == "YBR_FULL_422" \
        else spp
    expected = (rows * cols * frames * samples * ba + 7) // 8
    if h.pixel_length in (expected, expected + expected % 2):
        return None
    return (f"has {h.pixel_length} bytes of pixel data, but its Rows x Columns x "
            f"NumberOfFrames x SamplesPerPixel x BitsAllocated ({rows} x {cols} x {frames} x "
            f"{spp} x {ba} bits) need {expected}: one of them, or its TransferSyntaxUID "
            f"{ts}, is wrong")



def _build_series(uid: str, recs: list[ImageRecord], slices: list[SliceInfo],
                  ambiguous: frozenset[str] = frozenset()) -> SeriesInfo:
    order = sorted(range(len(slices)), key=lambda i: (slices[i].position,
                                                      slices[i].instance_number or 0,
                                                      slices[i].frame_number or 0))
    slices = [slices[i] for i in order]
    h = recs[order[0]].header

    def integer(keyword: str) -> int | None:
        v = h.number(TAGS[keyword])
        return None if v is None else int(v)

    return SeriesInfo(
        series_instance_uid=uid,
        study_instance_uid=h.text(TAGS["StudyInstanceUID"]),
        description=(h.decoded_text(TAGS["SeriesDescription"])
                     or h.decoded_text(TAGS["ProtocolName"]) or ""),
        modality=h.text(TAGS["Modality"]) or "",
        plane=plane_of(slices[0].geometry.normal),
        slices=tuple(slices),
        tr_ms=h.number(TAGS["RepetitionTime"]),
        te_ms=h.number(TAGS["EchoTime"]),
        field_strength_t=h.number(TAGS["MagneticFieldStrength"]),
        manufacturer=h.decoded_text(TAGS["Manufacturer"]),
        model=h.decoded_text(TAGS["ManufacturerModelName"]),
        pixel_bandwidth=h.number(TAGS["PixelBandwidth"]),
        contrast_agent=h.decoded_text(TAGS["ContrastBolusAgent"]),
        patient_id=h.decoded_text(TAGS["PatientID"]),
        series_number=integer("SeriesNumber"),
        frame_of_reference_uid=h.text(TAGS["FrameOfReferenceUID"]),
        study_date=h.text(TAGS["StudyDate"]),
        accession_number=h.decoded_text(TAGS["AccessionNumber"]),
        study_description=h.decoded_text(TAGS["StudyDescription"]),
        ambiguous_uids=ambiguous,
    )


def index_folder(path: str | os.PathLike[str]) -> SeriesIndex:
    """Index every DICOM image under ``path`` (recursively) from headers only.

    Files of any name are looked at; files that are not DICOM, or DICOM without
    an image (reports, presentation states), are ignored; DICOM files that cannot
    be read (truncated, corrupt) are skipped with a warning naming them. Images
    are grouped by SeriesInstanceUID and each series' slices are sorted by
    ``ImagePositionPatient . normal`` ascending.

    Raises
    ------
    InputError
        If the folder does not exist, is empty, holds no DICOM files, or none of
        its DICOM files is a readable image.
    """
    if not str(path).strip():
        raise InputError("no folder given: the path of the DICOM folder is empty")
    folder = Path(path)
    if not folder.exists():
        raise InputError(f"folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the folder that holds the DICOM files")
    groups: dict[str, tuple[list[ImageRecord], list[SliceInfo]]] = {}
    skipped: list[tuple[Path, str]] = []
    ignored: list[tuple[Path, str]] = []
    lost: list[tuple[Path, str, str | None]] = []
    seen_sop: dict[str, tuple[Path, str, list[Any]]] = {}
    ambiguous: dict[str, set[str]] = {}
    images: set[tuple[Path, str]] = set()
    cache = GeometryCache()
    n_files = 0
    for file in _walk(folder):
        n_files += 1
        if not file.is_file():  # a named pipe, socket or broken link: never open it
            ignored.append((file, "not a regular file"))
            continue
        kind, payload = _classify(file)
        if kind == "ignored":
            ignored.append((file, payload))
            continue
        if kind == "skipped":
            skipped.append((file, payload))
            lost.append((file, payload, None))
            continue
        rec: ImageRecord = payload
        uid = rec.header.text(TAGS["SeriesInstanceUID"]) or ""
        if not uid:
            raise InputError(f"{file} has no SeriesInstanceUID (0020,000E), so the series this "
                             "image belongs to is unknown (every image must carry it)")
        made = (frames_from(rec, cache) if is_multiframe(rec.header)
                else slice_from(rec, cache))
        if isinstance(made, str):
            (skipped if isinstance(made, Damaged) else ignored).append((file, made))
            lost.append((file, made, uid))
            continue
        made_list = made if isinstance(made, list) else [made]
        images.add((file.parent, _name_pattern(file.name)))
        sop = made_list[0].sop_instance_uid
        where = [(sl.frame_number, sl.position, sl.geometry.shape) for sl in made_list]
        if rec.header.text(TAGS["SOPInstanceUID"]) and sop in seen_sop:
            first, first_uid, first_where = seen_sop[sop]
            if first_uid == uid and first_where == where:
                skipped.append((file, f"repeats the SOP Instance UID {sop} of {first}, at the "
                                      "same position; that image was read once"))
            else:
                skipped.append((file, f"repeats the SOP Instance UID {sop} of {first}, but is "
                                      f"another image; only {first} was read"))
                lost.append((file, f"repeats the SOP Instance UID of {first}", uid))
                ambiguous.setdefault(uid, set()).add(sop)
                ambiguous.setdefault(first_uid, set()).add(sop)
            continue
        seen_sop[sop] = (file, uid, where)
        recs, sls = groups.setdefault(uid, ([], []))
        recs.extend([rec] * len(made_list))
        sls.extend(made_list)
    # a file that is no DICOM at all, beside DICOM images, although it is named like
    # them (or ends in .dcm) is a slice that may have been lost
    image_dirs = {parent for parent, _ in images}
    for item in [x for x in ignored if x[1] == "not a DICOM file"]:
        file = item[0]
        if file.parent not in image_dirs:
            continue
        if file.suffix.lower() in _DICOM_SUFFIXES:
            why = f"is not a DICOM file, although its name ends in {file.suffix}"
        elif (file.parent, _name_pattern(file.name)) in images:
            why = "is not a DICOM file, although it is named like the DICOM images beside it"
        else:
            continue
        ignored.remove(item)
        skipped.append((file, why))
        lost.append((file, why, None))
    if n_files == 0:
        raise InputError(f"folder {folder} is empty")
    if not groups:
        n_dicom = len(skipped) + sum(1 for _, why in ignored if why not in _NOT_DICOM)
        if n_dicom == 0:
            looked = f"{n_files} file{'s' if n_files != 1 else ''} looked at"
            raise InputError(f"no DICOM files in folder {folder} ({looked}, none of them DICOM)")
        if skipped:
            p, why = skipped[0]
            raise InputError(f"no readable DICOM image in folder {folder}: "
                             f"{len(skipped)} DICOM files skipped, e.g. {p} {why}")
        example = next((p, why) for p, why in ignored if why not in _NOT_DICOM)
        raise InputError(f"no usable DICOM image in folder {folder}: none of its {n_dicom} "
                         f"DICOM files is an image with a position "
                         f"(e.g. {example[0]} {example[1]})")
    series = [_build_series(uid, recs, sls, frozenset(ambiguous.get(uid, ())))
              for uid, (recs, sls) in groups.items()]
    series.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30,
                               s.series_instance_uid))
    return SeriesIndex(series=tuple(series), skipped=tuple(skipped), folder=folder,
                       ignored=tuple(ignored), lost=tuple(lost))
