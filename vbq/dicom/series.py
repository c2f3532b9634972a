"""A series of slices: their geometry, their identity, and their pixels on demand.

Owns :class:`SliceInfo` (one image or frame), :class:`SeriesInfo` (the slices of
one series sorted along the slice normal, with the acquisition attributes and
:meth:`SeriesInfo.resolve`, which turns a :class:`~vbq.dicom.sliceref.SliceRef`
into a slice index) and :class:`SeriesIndex` (every series of a folder, and the
files that could not be used). Reading a folder is :mod:`vbq.dicom.index`.

References
----------
NEMA PS3.3, C.7.6.2 Image Plane Module; C.11.1 Modality LUT Module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vbq.dicom import pixels as _pixels
from vbq.dicom.geometry import SliceGeometry, volume_affine_ras
from vbq.dicom.pixels import NEVER_CAUGHT, PixelDecodeError
from vbq.dicom.sliceref import SliceLike, SliceRef
from vbq.errors import InputError
from vbq.fileio import shown_number

__all__ = ["SliceInfo", "SeriesInfo", "SeriesIndex", "iso_date"]


def iso_date(value: str | None) -> str | None:
    """Write a DICOM date (``YYYYMMDD``, or the old ``YYYY.MM.DD``) as ``YYYY-MM-DD``.

    A value in neither form is returned as written; an empty one as None.

    Examples
    --------
    >>> iso_date("20240301"), iso_date("2021.01.05"), iso_date(None)
    ('2024-03-01', '2021-01-05', None)
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    digits = text.replace(".", "") if len(text) == 10 and text[4] == text[7] == "." else text
    if len(digits) == 8 and digits.isascii() and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return text


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
    def ref(self) -> SliceRef:
        """The slice by its SOP Instance UID, plus the frame if multi-frame."""
        return SliceRef(uid=self.sop_instance_uid, frame=self.frame_number)

    @property
    def identity(self) -> dict[str, Any]:
        """The slice as named in an ROI file: SOP Instance UID, plus the frame if multi-frame."""
        out = self.ref.to_json()
        assert isinstance(out, dict)
        return out


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
    #: StudyDate as written (DICOM DA, ``YYYYMMDD``), or None.
    study_date: str | None = None
    accession_number: str | None = None
    study_description: str | None = None
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
            stored = _pixels.decode(sl)
        except (InputError, *NEVER_CAUGHT):
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

    def pixel_boxes(self, index: int, boxes: Sequence[tuple[slice, slice]]) -> list[np.ndarray]:
        """Return ``pixels(index)[box]`` for each box, reading only the rows they span.

        Each box is a pair of slices (step 1) as numpy indexes an image. For
        uncompressed little-endian data only the boxes' rows are read from the
        file (nothing is cached); otherwise, or when the slice is already in
        memory, the whole slice is taken from :meth:`pixels`. The values, and the
        error of a slice that cannot be read, are those of :meth:`pixels`.

        Raises
        ------
        InputError
            As :meth:`pixels`.
        """
        i = self._index(index)
        cached = self._cache.get(i)
        sl = self.slices[i]
        if cached is None and sl.problem is None:
            try:
                stored = _pixels.read_native_boxes(sl, boxes)
            except (InputError, *NEVER_CAUGHT):
                raise
            except Exception:  # noqa: BLE001 - reported as pixels() reports it
                stored = None
            if stored is not None:
                out = []
                for arr in stored:
                    v = arr.astype(np.float64)
                    if sl.rescale_slope != 1.0:
                        v *= sl.rescale_slope
                    if sl.rescale_intercept != 0.0:
                        v += sl.rescale_intercept
                    out.append(v)
                return out
        image = self.pixels(i)
        return [image[box] for box in boxes]

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
                "slice indexes may be shifted (repair, restore or remove that file, or name "
                "the slice by its SOP Instance UID, or use patient-space coordinates)")

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

    def resolve(self, ref: SliceLike, where: str) -> int:
        """Return the index of the slice ``ref`` names (see :meth:`SliceRef.parse`).

        An index must lie in the series and is refused when the series is
        :attr:`incomplete`; a UID (and frame) must name exactly one slice.

        Raises
        ------
        InputError
            Naming ``where`` and the index or UID, and what is wrong.
        """
        ref = SliceRef.parse(ref, where)
        if ref.index is not None:
            n = len(self.slices)
            if not 0 <= ref.index < n:
                raise InputError(f"{where}: slice {shown_number(ref.index)} is outside the "
                                 f"series (slices 0-{n - 1})")
            self.check_index_reference(ref.index, where)
            return ref.index
        uid, frame = str(ref.uid), ref.frame
        if uid in self.ambiguous_uids:
            raise InputError(f"{where}: SOP Instance UID {uid} is carried by two different "
                             f"files of series {self.series_instance_uid}, so it does not tell "
                             "which slice is meant (give the slice's position in patient space)")
        matches = [i for i, sl in enumerate(self.slices) if sl.sop_instance_uid == uid]
        if not matches:
            raise InputError(f"{where}: SOP Instance UID {uid} is not a slice of series "
                             f"{self.series_instance_uid}")
        if frame is None:
            if len(matches) == 1:
                return matches[0]
            raise InputError(
                f"{where}: SOP Instance UID {uid} is a multi-frame image with {len(matches)} "
                f"frames in series {self.series_instance_uid}; name the frame too, as "
                '{"sop_instance_uid": "...", "frame": n} (1-based)')
        for i in matches:
            if (self.slices[i].frame_number or 1) == frame:
                return i
        have = sorted(self.slices[i].frame_number or 1 for i in matches)
        raise InputError(f"{where}: frame {frame} of SOP Instance UID {uid} is not a slice of "
                         f"series {self.series_instance_uid} (its frames are {have[0]} to "
                         f"{have[-1]})")

    def slice_index(self, sop_instance_uid: str | SliceRef | Mapping[str, Any],
                    frame: int | None = None) -> int:
        """Index of the slice with this SOP Instance UID (and frame, for a multi-frame image).

        Parameters
        ----------
        sop_instance_uid
            The UID; a :class:`SliceRef`; or the ROI-file form
            ``{"sop_instance_uid": "...", "frame": n}``.
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
        if isinstance(sop_instance_uid, str):
            ref = SliceRef(uid=sop_instance_uid)
        else:
            ref = SliceRef.parse(sop_instance_uid, "slice", in_file=True)
        if ref.uid is None:
            raise InputError(f"slice must name a SOP Instance UID, got {ref.to_json()!r}")
        if frame is not None:
            if isinstance(frame, bool) or not isinstance(frame, int) or frame < 1:
                raise InputError(f"frame {frame!r} of SOP Instance UID {ref.uid} must be an "
                                 "integer >= 1 (frame numbers are 1-based)")
            ref = SliceRef(uid=ref.uid, frame=frame)
        return self.resolve(ref, "slice")

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
            "series_number": self.series_number,
        }

    def study_metadata(self) -> dict[str, Any]:
        """Return the ``"study"`` block of the result JSON (the date as ``YYYY-MM-DD``)."""
        return {
            "study_instance_uid": self.study_instance_uid,
            "patient_id": self.patient_id,
            "study_date": iso_date(self.study_date),
            "accession_number": self.accession_number,
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
