"""Read a folder of DICOM files: series index from headers, pixels on demand.

The flow is ``index_folder`` (headers only, grouped by SeriesInstanceUID, slices
sorted along the slice normal) -> ``choose_series`` (in :mod:`vbq.serieschoice`,
re-exported here: the sagittal, T1-weighted, non-contrast series, with the reason
for the choice and for every rejected series) -> ``SeriesInfo.pixels(i)``, which
decodes the pixel data of slice ``i`` only and applies the modality rescale.

References
----------
NEMA PS3.3, C.7.6.2 Image Plane Module; C.11.1 Modality LUT Module;
PS3.5, 8.1.1 (native pixel data encoding: Bits Stored, High Bit, Pixel Representation).
"""

from __future__ import annotations

import math
import os
import re
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import ArrayLike

from vbq.dicomheader import TAGS, Header, read_header
from vbq.errors import InputError
from vbq.geometry import SliceGeometry, plane_of, volume_affine_ras

__all__ = [
    "SliceInfo",
    "SeriesInfo",
    "SeriesIndex",
    "SeriesChoice",
    "index_folder",
    "choose_series",
    "load_series",
    "describe_choice",
    "check_decoder",
    "FrameRef",
    "PixelDecodeError",
    "ENHANCED_MR_SOP_CLASS",
    "NORMATIVE_TR_MS",
    "NORMATIVE_TE_MS",
]

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
#: Enhanced MR Image Storage (multi-frame, geometry in functional groups).
ENHANCED_MR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.4.1"


class PixelDecodeError(InputError):
    """The pixel data of one file cannot be decoded; the message names the file.

    Raised for every failure of a decoder, including the ones that do not derive
    from :class:`Exception` (a panic of a Rust decoder surfaces in Python as
    ``pyo3_runtime.PanicException``, a :class:`BaseException`), so that a caller
    catching :class:`~vbq.errors.VBQError` or :class:`Exception` (a batch, say)
    gets one error for the file and goes on.
    """


#: Exceptions that are never turned into a file's decoding error.
_NEVER_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


class FrameRef(str):
    """A SOP Instance UID naming one frame of a multi-frame image.

    It is the UID string itself (so code that names slices by UID keeps working)
    and carries the 1-based frame number (DICOM's Frame Number) as :attr:`frame`.
    """

    frame: int

    def __new__(cls, sop_instance_uid: str, frame: int) -> FrameRef:
        """Build the reference; ``frame`` is 1-based."""
        obj = super().__new__(cls, sop_instance_uid)
        obj.frame = int(frame)
        return obj

    def __repr__(self) -> str:
        """Show UID and frame."""
        return f"FrameRef({str(self)!r}, frame={self.frame})"

    @classmethod
    def from_json(cls, value: Any, where: str) -> FrameRef:
        """Parse ``{"sop_instance_uid": "...", "frame": n}`` (``n`` 1-based) from an input file.

        Raises
        ------
        InputError
            Naming ``where`` and the key at fault.
        """
        if not isinstance(value, dict):
            raise InputError(f'{where}: slice must be {{"sop_instance_uid": "...", "frame": n}}, '
                             f"got {value!r}")
        extra = sorted(set(value) - {"sop_instance_uid", "frame"})
        if extra:
            raise InputError(f'{where}: unknown key "{extra[0]}" in slice')
        uid = value.get("sop_instance_uid")
        if not isinstance(uid, str) or not uid.strip():
            raise InputError(f'{where}: slice needs a "sop_instance_uid" string next to "frame"')
        frame = value.get("frame")
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 1:
            raise InputError(f'{where}: slice "frame" must be a frame number >= 1 (1-based, '
                             f"as in DICOM), got {frame!r}")
        return cls(uid.strip(), frame)


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class SliceInfo:
    """One image file of a series: where it is, its geometry and its modality rescale.

    Attributes
    ----------
    position
        ``ImagePositionPatient . normal`` (mm): the sort key of the series.
    problem
        ``None`` for a readable file; otherwise why its pixels cannot be decoded
        (e.g. a truncated file), reported when the slice is asked for.
    """

    path: Path
    sop_instance_uid: str
    instance_number: int | None
    geometry: SliceGeometry
    rescale_slope: float
    rescale_intercept: float
    position: float
    problem: str | None = None
    pixel_offset: int | None = field(default=None, repr=False, compare=False)
    header: Any = field(default=None, repr=False, compare=False)
    #: 1-based frame number (DICOM's numbering) in a multi-frame file, None for a
    #: single-frame image.
    frame_number: int | None = None
    #: Number of frames of the file this slice comes from.
    n_frames: int = 1
    #: True when the file's RescaleSlope is 0 (not a valid slope), read as 1.
    zero_slope: bool = field(default=False, compare=False)

    @property
    def identity(self) -> dict[str, Any]:
        """The slice as named in an ROI file: SOP Instance UID, plus the frame if multi-frame."""
        if self.frame_number is None:
            return {"sop_instance_uid": self.sop_instance_uid}
        return {"sop_instance_uid": self.sop_instance_uid, "frame": self.frame_number}


_NATIVE_LE = {"1.2.840.10008.1.2": 8, "1.2.840.10008.1.2.1": 12}  # transfer syntax -> header
_DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"


def _read_native(sl: SliceInfo) -> np.ndarray | None:
    """Read uncompressed little-endian pixel data of one slice straight from its offset.

    For a frame of a multi-frame file only that frame's bytes are read. Returns None
    when the file is not that simple case (the caller then uses pydicom's decoder).
    Saves the second parse of the header that ``dcmread`` would do.
    """
    h = sl.header
    if h is None or sl.pixel_offset is None:
        return None
    header = _NATIVE_LE.get(h.transfer_syntax)
    if header is None:
        return None
    spp = h.ushort(TAGS["SamplesPerPixel"]) or 1
    ba = h.ushort(TAGS["BitsAllocated"])
    if ba is None:
        return None
    bs = h.ushort(TAGS["BitsStored"]) or ba
    hb = h.ushort(TAGS["HighBit"])
    hb = bs - 1 if hb is None else hb
    pr = h.ushort(TAGS["PixelRepresentation"]) or 0
    if spp != 1 or ba not in (8, 16, 32) or hb != bs - 1 or not 0 < bs <= ba:
        return None
    rows, cols = sl.geometry.shape
    nbytes = rows * cols * (ba // 8)
    total = nbytes * sl.n_frames
    skip = 0 if sl.frame_number is None else nbytes * (sl.frame_number - 1)
    with open(sl.path, "rb") as fp:
        fp.seek(sl.pixel_offset)
        head = fp.read(header)
        if len(head) < header or struct.unpack("<HH", head[:4]) != (0x7FE0, 0x0010):
            return None
        length = struct.unpack("<I", head[-4:])[0]
        if length == 0xFFFFFFFF or length < total or length > total + 1:
            return None
        if skip:
            fp.seek(skip, os.SEEK_CUR)
        data = fp.read(nbytes)
    if len(data) < nbytes:
        raise InputError(f"{sl.path} is truncated ({len(data)} of {nbytes} bytes of pixel data)")
    arr = np.frombuffer(data, dtype=f"<{'i' if pr else 'u'}{ba // 8}").reshape(rows, cols)
    if bs < ba:
        if pr:
            shift = ba - bs
            arr = (arr << shift) >> shift
        else:
            arr = arr & ((1 << bs) - 1)
    return arr


#: Packages that decode each compressed transfer syntax (for the "not installed" error).
_DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.5": "pylibjpeg and pylibjpeg-rle",
    "1.2.840.10008.1.2.4.50": "pylibjpeg and pylibjpeg-libjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg and pylibjpeg-libjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.57": "pylibjpeg and pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg and pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.80": "pyjpegls (or pylibjpeg and pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.81": "pyjpegls (or pylibjpeg and pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg and pylibjpeg-openjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.91": "pylibjpeg and pylibjpeg-openjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.201": "pylibjpeg and pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg and pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg and pylibjpeg-openjpeg",
}


def _syntax_name(ts: str) -> str:
    from pydicom.uid import UID

    name = UID(ts).name
    return f"{name} ({ts})" if name and name != ts else ts


def check_decoder(path: Path, transfer_syntax: str) -> None:
    """Raise InputError when the pixel data of ``path`` need a decoder that is not installed.

    Native (uncompressed) and deflated transfer syntaxes need none; compressed ones
    need a pydicom decoding plugin (see :data:`_DECODER_PACKAGES`).

    Raises
    ------
    InputError
        Naming the file, its transfer syntax and the package(s) to install.
    """
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    with warnings.catch_warnings():  # a damaged UID fails below, with the file named
        warnings.simplefilter("ignore")
        ts = UID(transfer_syntax)
        if not ts or not ts.is_compressed:
            return
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise InputError(f"cannot decode the pixel data of {path}: its transfer syntax "
                         f"{_syntax_name(ts)} is not supported by pydicom "
                         "(convert the file to an uncompressed or JPEG/JPEG-LS/JPEG 2000/RLE "
                         "transfer syntax)") from None
    if not decoder.is_available:
        packages = _DECODER_PACKAGES.get(str(ts), "a pydicom pixel data plugin")
        raise InputError(f"cannot decode the pixel data of {path}: its transfer syntax "
                         f"{_syntax_name(ts)} needs a decoder that is not installed; "
                         f"install {packages} (pip install "
                         f"{packages.split(' (')[0].replace(' and ', ' ')})")


@contextmanager
def _native_stderr_captured() -> Iterator[list[bytes]]:
    """Catch what native code writes on file descriptor 2 while the block runs.

    A decoder written in Rust reports a panic on the process' stderr (with a stack
    backtrace when ``RUST_BACKTRACE`` is set) before Python sees the exception, so
    a damaged file would print dozens of lines although its failure is reported as
    one sentence. The bytes written meanwhile are appended to the yielded list when
    the block ends; the caller passes them on to stderr when decoding succeeded.
    Output of other threads during the block is caught too (and passed on with it).
    """
    captured: list[bytes] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to protect
        yield captured
        return
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield captured
            finally:
                os.dup2(saved, 2)
                tmp.seek(0)
                captured.append(tmp.read())
    finally:
        os.close(saved)


def _decode_with_pydicom(sl: SliceInfo) -> np.ndarray:
    """Decode one slice with pydicom (a file without preamble is read with ``force``)."""
    from pydicom.pixels import pixel_array

    force = sl.header is not None and not sl.header.preamble
    with warnings.catch_warnings():  # a damaged file is reported by the caller, once
        warnings.simplefilter("ignore")
        if force:
            ds = pydicom.dcmread(sl.path, force=True)
            if sl.frame_number is None:
                return ds.pixel_array
            return pixel_array(ds, index=sl.frame_number - 1)
        if sl.frame_number is None:
            return pydicom.dcmread(sl.path).pixel_array
        return pixel_array(str(sl.path), index=sl.frame_number - 1)


def _decode(sl: SliceInfo) -> np.ndarray:
    """Decode the stored pixel values of one slice (module level so tests can count calls).

    Native little-endian data are read straight from the file; everything else
    (big endian, deflated, encapsulated JPEG / JPEG-LS / JPEG 2000 / RLE) goes
    through pydicom, which for a frame of a multi-frame file decodes only that frame.
    What a native decoder writes on stderr is shown only when it succeeds (a failure
    is reported by the caller as one sentence naming the file).
    """
    arr = _read_native(sl)
    if arr is not None:
        return arr
    if sl.header is not None:
        check_decoder(sl.path, sl.header.transfer_syntax)
    with _native_stderr_captured() as captured:
        arr = _decode_with_pydicom(sl)
    if captured and captured[0]:
        try:
            os.write(2, captured[0])
        except OSError:
            pass
    return arr


@dataclass(frozen=True, eq=False)
class SeriesInfo:
    """A series: its slices sorted along the slice normal plus series-level attributes.

    Pixel data are not read until :meth:`pixels` asks for one slice.
    """

    series_instance_uid: str
    study_instance_uid: str | None
    description: str
    modality: str
    plane: str
    slices: tuple[SliceInfo, ...]
    tr_ms: float | None
    te_ms: float | None
    field_strength_t: float | None
    manufacturer: str | None
    model: str | None
    pixel_bandwidth: float | None
    contrast_agent: str | None
    patient_id: str | None
    series_number: int | None = None
    frame_of_reference_uid: str | None = None
    #: Why slice indexes may be shifted (a file that may be one of its slices could not
    #: be used), or None; set by the series choice.
    incomplete: str | None = field(default=None, compare=False)
    #: SOP Instance UIDs that two files of different content share (only the first
    #: file, in path order, is a slice): naming a slice by such a UID is refused.
    ambiguous_uids: frozenset[str] = field(default=frozenset(), compare=False)
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    # ---------------------------------------------------------------- pixels
    def __len__(self) -> int:
        return len(self.slices)

    def _index(self, index: int) -> int:
        n = len(self.slices)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InputError(f"slice index must be an integer, got {index!r}")
        i = int(index)
        if not 0 <= i < n:
            raise InputError(
                f"slice {i} is outside series {self.series_instance_uid}, "
                f"which has slices 0 to {n - 1}")
        return i

    def pixels(self, index: int) -> np.ndarray:
        """Slice ``index`` as float64 (rows, cols) with the modality rescale applied.

        Only that slice's file is decoded; the result is cached (read-only).

        Raises
        ------
        InputError
            If the index is out of range or the file cannot be decoded (it names the file).
        """
        i = self._index(index)
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        sl = self.slices[i]
        if sl.problem is not None:
            raise InputError(f"slice {i} of series {self.series_instance_uid} cannot be read: "
                             f"{sl.path} {sl.problem}")
        try:
            stored = _decode(sl)
        except (InputError, *_NEVER_CAUGHT):
            raise
        except BaseException as err:  # noqa: BLE001 - decoders raise anything, panics too
            detail = " ".join(str(err).split())  # decoders may report on several lines
            raise PixelDecodeError(f"cannot decode the pixel data of {sl.path} "
                                   f"({type(err).__name__}: {detail})") from err
        if stored.shape != sl.geometry.shape:
            raise InputError(f"{sl.path} holds pixels of shape {stored.shape}, not the "
                             f"{sl.geometry.shape} given by its Rows and Columns")
        out = stored.astype(np.float64)
        if sl.rescale_slope != 1.0:
            out *= sl.rescale_slope
        if sl.rescale_intercept != 0.0:
            out += sl.rescale_intercept
        out.setflags(write=False)
        self._cache[i] = out
        return out

    def check_index_reference(self, index: int, where: str) -> None:
        """Refuse a slice given by index when files that may be slices of the series were lost.

        Raises
        ------
        InputError
            If :attr:`incomplete` is set: the index may then name another slice.
        """
        if self.incomplete:
            raise InputError(
                f"{where}: slice {index} is given by index, but {self.incomplete}, so the "
                "slice indexes may be shifted (repair or remove that file, or name the slice "
                "by its SOP Instance UID, or use patient-space coordinates)")

    def default_pixel_slice(self, where: str) -> int:
        """Return the slice that pixel coordinates refer to when no slice is named: the mid one.

        Raises
        ------
        InputError
            If :attr:`incomplete` is set: the middle of the stack may then be
            another slice than the one the coordinates were read on.
        """
        mid = self.mid_slice
        if self.incomplete:
            raise InputError(
                f"{where}: no slice is named, so the pixel coordinates would be placed on the "
                f"middle slice ({mid}), but {self.incomplete}, so the middle of the stack may "
                "have shifted (name the slice by its SOP Instance UID, or use patient-space "
                "coordinates)")
        return mid

    def slice_index(self, sop_instance_uid: str | dict[str, Any],
                    frame: int | None = None) -> int:
        """Index of the slice with this SOP Instance UID (and frame, for a multi-frame image).

        Parameters
        ----------
        sop_instance_uid
            The UID; a :class:`FrameRef` (which carries its frame); or the ROI-file
            form ``{"sop_instance_uid": "...", "frame": n}``.
        frame
            1-based frame number (DICOM's numbering) within a multi-frame image. A
            single-frame image is frame 1. Needed when the UID names a multi-frame
            image with several frames in the series.

        Raises
        ------
        InputError
            If the UID or frame is not a slice of the series, or a multi-frame image
            is named without its frame.
        """
        if isinstance(sop_instance_uid, dict):
            ref = FrameRef.from_json(sop_instance_uid, "slice") if "frame" in \
                sop_instance_uid else sop_instance_uid.get("sop_instance_uid")
            if not isinstance(ref, str):
                raise InputError('slice must be {"sop_instance_uid": "..."} with an optional '
                                 f'"frame", got {sop_instance_uid!r}')
            sop_instance_uid = ref
        if frame is None and isinstance(sop_instance_uid, FrameRef):
            frame = sop_instance_uid.frame
        uid = str(sop_instance_uid)
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int)
                                  or frame < 1):
            raise InputError(f"frame {frame!r} of SOP Instance UID {uid} must be an integer "
                             ">= 1 (frame numbers are 1-based)")
        if uid in self.ambiguous_uids:
            raise InputError(f"SOP Instance UID {uid} is carried by two different files of "
                             f"series {self.series_instance_uid}, so it does not tell which "
                             "slice is meant (give the slice's position in patient space)")
        matches = [i for i, sl in enumerate(self.slices) if sl.sop_instance_uid == uid]
        if not matches:
            raise InputError(f"SOP Instance UID {uid} is not a slice of series "
                             f"{self.series_instance_uid}")
        if frame is None:
            if len(matches) == 1:
                return matches[0]
            raise InputError(
                f"SOP Instance UID {uid} is a multi-frame image with {len(matches)} frames "
                f"in series {self.series_instance_uid}; name the frame too, as "
                '{"sop_instance_uid": "...", "frame": n} (1-based)')
        for i in matches:
            if (self.slices[i].frame_number or 1) == frame:
                return i
        have = sorted(self.slices[i].frame_number or 1 for i in matches)
        raise InputError(f"frame {frame} of SOP Instance UID {uid} is not a slice of series "
                         f"{self.series_instance_uid} (its frames are {have[0]} to {have[-1]})")

    def locate(self, xyz: ArrayLike) -> tuple[int, np.ndarray]:
        """Find the slice nearest the patient point ``xyz``; return its index and ``[row, col]``."""
        p = np.asarray(xyz, dtype=np.float64).reshape(3)
        best, best_d, best_rc = 0, np.inf, None
        for i, sl in enumerate(self.slices):
            rc, d = sl.geometry.patient_to_pixel(p)
            if abs(float(d)) < best_d - 1e-9:
                best, best_d, best_rc = i, abs(float(d)), rc
        assert best_rc is not None
        return best, np.asarray(best_rc, dtype=np.float64)

    @property
    def mid_slice(self) -> int:
        """Index of the mid-sagittal slice: the middle of the sorted stack (``n // 2``)."""
        return len(self.slices) // 2

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the first slice."""
        return self.slices[0].geometry.shape

    def affine_ras(self) -> np.ndarray:
        """4x4 RAS affine of the stack, voxel order ``[row, col, slice]`` (see geometry)."""
        return volume_affine_ras([sl.geometry for sl in self.slices])

    def metadata(self) -> dict[str, Any]:
        """Return the ``"series"`` block of the result JSON."""
        return {
            "series_instance_uid": self.series_instance_uid,
            "description": self.description,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "field_strength_t": self.field_strength_t,
            "tr_ms": self.tr_ms,
            "te_ms": self.te_ms,
            "pixel_bandwidth": self.pixel_bandwidth,
            "contrast_agent": self.contrast_agent,
            "plane": self.plane,
            "n_slices": len(self.slices),
        }

    def label(self) -> str:
        """Short human-readable name: description and UID."""
        desc = self.description or "(no description)"
        return f"'{desc}' ({self.series_instance_uid})"


@dataclass(frozen=True)
class SeriesIndex:
    """Every image series found in a folder, plus the files that could not be used.

    Attributes
    ----------
    skipped
        ``(path, reason)`` of DICOM files that could not be read (warned about).
    ignored
        ``(path, reason)`` of files that are not DICOM images (not warned about).
    lost
        ``(path, reason, series UID or None)`` of files that may have been image
        slices but could not be placed: skipped files (series unknown) and images
        without usable geometry. A series they may belong to can have shifted
        slice indexes.
    """

    series: tuple[SeriesInfo, ...]
    skipped: tuple[tuple[Path, str], ...]
    folder: Path | None = None
    ignored: tuple[tuple[Path, str], ...] = ()
    lost: tuple[tuple[Path, str, str | None], ...] = ()

    def get(self, series_uid: str) -> SeriesInfo:
        """Return the series with this SeriesInstanceUID (InputError listing the available ones)."""
        for s in self.series:
            if s.series_instance_uid == series_uid:
                return s
        avail = "; ".join(s.label() for s in self.series) or "none"
        where = f" in {self.folder}" if self.folder else ""
        raise InputError(f"series UID {series_uid} is not{where} (available: {avail})")



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


class _Record:
    __slots__ = ("path", "header", "problem")

    def __init__(self, path: Path, header: Header, problem: str | None) -> None:
        self.path, self.header, self.problem = path, header, problem


def _classify(path: Path) -> tuple[str, Any]:
    """Read one file: ("image", _Record) | ("ignored", reason) | ("skipped", reason)."""
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
        return "image", _Record(path, h, "has no pixel data (the file may be truncated)")
    problem = None
    if h.pixel_length is not None:
        available = h.file_size - h.pixel_offset - h.pixel_header
        if available < h.pixel_length:
            problem = (f"is truncated ({max(available, 0)} of {h.pixel_length} bytes of "
                       "pixel data)")
    return "image", _Record(path, h, problem or _pixel_data_problem(h))


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
        if ts == _DEFLATED_SYNTAX:
            return None
        from pydicom.uid import UID

        with warnings.catch_warnings():  # a damaged UID is judged here, not warned about
            warnings.simplefilter("ignore")
            uid = UID(ts)
            compressed = uid.is_transfer_syntax and uid.is_compressed
        if compressed:
            return (f"has uncompressed pixel data although its TransferSyntaxUID "
                    f"{_syntax_name(ts)} is a compressed one")
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


class _Damaged(str):
    """Why an image could not be placed, when the file is damaged (warned about)."""


class _GeometryCache:
    """Slices of a series share orientation, spacing and size: build their parts once."""

    def __init__(self) -> None:
        self._templates: dict[tuple[Any, ...], SliceGeometry] = {}

    def make(self, ipp: list[float], iop: list[float], spacing: list[float],
             shape: tuple[int, int]) -> SliceGeometry:
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


def _check_geometry(path: Path, ipp: list[float], iop: list[float], spacing: list[float],
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


def _check_rescale(path: Path, slope: list[float] | None, intercept: list[float] | None,
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


def _is_multiframe(h: Header) -> bool:
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


def _frames_from(rec: _Record, cache: _GeometryCache) -> list[SliceInfo] | str:
    """Slices of a multi-frame image: one per frame, geometry from its functional groups.

    References
    ----------
    NEMA PS3.3, C.7.6.16 Multi-frame Functional Groups Module (Plane Position
    (Patient), Plane Orientation (Patient), Pixel Measures, Pixel Value
    Transformation macros); C.8.13 Enhanced MR Image (MR Timing and Related
    Parameters, MR Echo, MR Imaging Modifier macros); C.7.6.4b Enhanced
    Contrast/Bolus Module and C.7.6.16.2.12 Contrast/Bolus Usage macro.
    """
    h = rec.header
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(rec.path, stop_before_pixels=True, force=not h.preamble)
    except Exception as err:  # a corrupt functional group sequence
        return _Damaged(f"is a multi-frame image whose header cannot be read "
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
        return _Damaged(f"is a multi-frame image with damaged functional groups: {where[0]} "
                        f"cannot be read ({type(err).__name__}: {detail})")


def _frames_of(rec: _Record, ds: Any, cache: _GeometryCache,
               where: list[str]) -> list[SliceInfo] | str:
    """Body of :func:`_frames_from`; ``where[0]`` names the part being read, for errors."""
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
    _check_rescale(rec.path, _floats(ds.get("RescaleSlope")), _floats(ds.get("RescaleIntercept")))
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
        _check_geometry(rec.path, fipp, fiop, fspacing, frame=k + 1)
        try:
            geom = cache.make(fipp, fiop, fspacing, (rows, cols))
        except (ValueError, TypeError, IndexError) as err:
            return f"has unusable geometry in frame {k + 1} ({err})"
        where[0] = f"the Pixel Value Transformation macro of frame {k + 1}"
        raw_slope = _fg_value(shared, frame, "PixelValueTransformationSequence", "RescaleSlope")
        raw_intercept = _fg_value(shared, frame, "PixelValueTransformationSequence",
                                  "RescaleIntercept")
        _check_rescale(rec.path, _floats(raw_slope), _floats(raw_intercept), frame=k + 1)
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


def _slice_from(rec: _Record, cache: _GeometryCache) -> SliceInfo | list[SliceInfo] | str:
    h = rec.header
    if _is_multiframe(h):
        return _frames_from(rec, cache)
    ipp = h.numbers(TAGS["ImagePositionPatient"])
    iop = h.numbers(TAGS["ImageOrientationPatient"])
    spacing = h.numbers(TAGS["PixelSpacing"])
    for name, value, n in (("ImagePositionPatient", ipp, 3), ("ImageOrientationPatient", iop, 6),
                           ("PixelSpacing", spacing, 2)):
        if value is None:
            return f"has no {name}, so its position in the patient is unknown"
        if len(value) < n:
            return f"has an unusable {name} ({len(value)} values instead of {n})"
    _check_geometry(rec.path, ipp, iop, spacing)  # type: ignore[arg-type]
    rows, cols = h.ushort(TAGS["Rows"]), h.ushort(TAGS["Columns"])
    if not rows or not cols:
        return "has no Rows or Columns"
    try:
        geom = cache.make(ipp, iop, spacing, (rows, cols))  # type: ignore[arg-type]
    except (ValueError, TypeError, IndexError) as err:
        return f"has unusable geometry tags ({err})"
    _check_rescale(rec.path, h.numbers(TAGS["RescaleSlope"]),
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


def _build_series(uid: str, recs: list[_Record], slices: list[SliceInfo],
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
    groups: dict[str, tuple[list[_Record], list[SliceInfo]]] = {}
    skipped: list[tuple[Path, str]] = []
    ignored: list[tuple[Path, str]] = []
    lost: list[tuple[Path, str, str | None]] = []
    seen_sop: dict[str, tuple[Path, str, list[Any]]] = {}
    ambiguous: dict[str, set[str]] = {}
    images: set[tuple[Path, str]] = set()
    cache = _GeometryCache()
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
        rec: _Record = payload
        uid = rec.header.text(TAGS["SeriesInstanceUID"]) or ""
        if not uid:
            raise InputError(f"{file} has no SeriesInstanceUID (0020,000E), so the series this "
                             "image belongs to is unknown (every image must carry it)")
        made = _slice_from(rec, cache)
        if isinstance(made, str):
            (skipped if isinstance(made, _Damaged) else ignored).append((file, made))
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


# The series choice lives in its own module; its names stay importable from here.
from vbq.serieschoice import (  # noqa: E402
    NORMATIVE_TE_MS,
    NORMATIVE_TR_MS,
    SeriesChoice,
    choose_series,
    describe_choice,
    load_series,
)
