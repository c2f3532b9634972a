"""Read the few header attributes the series index needs, fast, without decoding pixels.

A folder of thousands of files is indexed from headers alone, so the header read
is the cost of scoring. :func:`read_header` walks the top-level data elements of
a Part 10 file whose data set is explicit VR little endian (every transfer
syntax but implicit VR, big endian and deflate), keeps the raw bytes of the
wanted attributes, skips everything else by its length (sequences of undefined
length included) and stops at the pixel data element, noting where it starts.
Other files go through ``pydicom.dcmread(stop_before_pixels=True)``.

References
----------
NEMA PS3.5, section 7 (data set encoding, explicit/implicit VR, sequences of
undefined length) and PS3.10, section 7 (Part 10 file format: preamble, "DICM",
file meta information).
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any

__all__ = ["Header", "read_header", "TAGS"]

#: Attributes kept from every header (keyword -> tag).
TAGS: dict[str, int] = {
    "SpecificCharacterSet": 0x00080005, "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018, "StudyDate": 0x00080020, "AccessionNumber": 0x00080050,
    "Modality": 0x00080060, "Manufacturer": 0x00080070,
    "StudyDescription": 0x00081030, "SeriesDescription": 0x0008103E,
    "ManufacturerModelName": 0x00081090,
    "PatientID": 0x00100020, "ContrastBolusAgent": 0x00180010, "RepetitionTime": 0x00180080,
    "EchoTime": 0x00180081, "MagneticFieldStrength": 0x00180087, "PixelBandwidth": 0x00180095,
    "ProtocolName": 0x00181030, "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E, "SeriesNumber": 0x00200011, "InstanceNumber": 0x00200013,
    "ImagePositionPatient": 0x00200032, "ImageOrientationPatient": 0x00200037,
    "FrameOfReferenceUID": 0x00200052, "SamplesPerPixel": 0x00280002,
    "PhotometricInterpretation": 0x00280004,
    "NumberOfFrames": 0x00280008, "Rows": 0x00280010, "Columns": 0x00280011,
    "PixelSpacing": 0x00280030, "BitsAllocated": 0x00280100, "BitsStored": 0x00280101,
    "HighBit": 0x00280102, "PixelRepresentation": 0x00280103,
    "RescaleIntercept": 0x00281052, "RescaleSlope": 0x00281053,
}
_WANTED = frozenset(TAGS.values())
_BINARY_US = frozenset({0x00280002, 0x00280010, 0x00280011, 0x00280100, 0x00280101,
                        0x00280102, 0x00280103})
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UT", b"UN", b"UC",
                       b"UR", b"SV", b"UV"})
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_NOT_EXPLICIT_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.2",
                              "1.2.840.10008.1.2.1.99"})
_DEFLATED = "1.2.840.10008.1.2.1.99"
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_CHUNK = 16384

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_tag = struct.Struct("<HH").unpack_from
_EXPLICIT = struct.Struct("<HH2sH").unpack_from   # group, element, VR, short length


class TruncatedError(Exception):
    """The file ended inside its header."""


class Header:
    """Wanted attributes of one file plus where its pixel data are.

    Values are the raw bytes of the element (fast reader) or pydicom's value
    (fallback reader); the accessors turn both into Python values.
    """

    __slots__ = ("values", "transfer_syntax", "sop_class", "pixel_offset", "pixel_tag",
                 "pixel_header", "pixel_length", "file_size", "preamble")

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}
        self.transfer_syntax: str = ""
        self.sop_class: str = ""
        self.pixel_offset: int | None = None   # file offset of the pixel data element
        self.pixel_tag: int | None = None
        self.pixel_header: int = 12            # bytes of tag + VR + length before the value
        self.pixel_length: int | None = None   # value length (None: undefined/encapsulated)
        self.file_size: int = 0
        #: False for a data set written without the 128-byte preamble and "DICM"
        #: (pydicom must then be told to read it with ``force=True``).
        self.preamble: bool = True

    def __contains__(self, tag: int) -> bool:
        return self.values.get(tag) not in (None, b"", "")

    def text(self, tag: int) -> str | None:
        """Return the stripped text of a string element (ASCII/Latin-1), or None if empty."""
        value = self.values.get(tag)
        if value is None:
            return None
        if isinstance(value, bytes | bytearray):
            text = value.decode("latin-1").strip(" \0")
        elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value).strip()
        return text or None

    def decoded_text(self, tag: int) -> str | None:
        """Text decoded with the file's SpecificCharacterSet (descriptions, names)."""
        value = self.values.get(tag)
        if not isinstance(value, bytes | bytearray):
            return self.text(tag)
        charset = self.text(0x00080005) or ""
        if charset in ("", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100"):
            text = value.decode("latin-1")
        elif charset == "ISO_IR 192":
            text = value.decode("utf-8", errors="replace")
        else:
            try:
                from pydicom.charset import decode_bytes

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    text = decode_bytes(bytes(value), charset.split("\\"), set())
            except Exception:  # an unknown character set: keep what Latin-1 shows
                text = value.decode("latin-1")
        return text.strip(" \0") or None

    def numbers(self, tag: int) -> list[float] | None:
        """Values of a DS/IS element as floats (None if absent, empty or not numbers)."""
        value = self.values.get(tag)
        if isinstance(value, int | float):
            return [float(value)]
        text = self.text(tag)
        if text is None:
            return None
        try:
            return [float(v) for v in text.split("\\")]
        except ValueError:
            return None

    def number(self, tag: int) -> float | None:
        """First value of a DS/IS element, or None (also for NaN/inf)."""
        values = self.numbers(tag)
        if not values:
            return None
        v = values[0]
        return v if v == v and abs(v) != float("inf") else None

    def ushort(self, tag: int) -> int | None:
        """Return an US element (Rows, Columns, BitsAllocated ...) as int."""
        value = self.values.get(tag)
        if value is None:
            return None
        if isinstance(value, bytes | bytearray):
            return _u16(value, 0)[0] if len(value) >= 2 else None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None


class _Buffer:
    """The start of a file, read on demand in chunks."""

    __slots__ = ("fp", "data", "eof")

    def __init__(self, fp: Any) -> None:
        self.fp = fp
        self.data = bytearray(fp.read(_CHUNK))
        self.eof = len(self.data) < _CHUNK

    def need(self, end: int) -> None:
        while len(self.data) < end:
            if self.eof:
                raise TruncatedError
            more = self.fp.read(max(_CHUNK, end - len(self.data)))
            if not more:
                self.eof = True
                raise TruncatedError
            self.data += more


def _element_header(buf: _Buffer, pos: int, implicit: bool) -> tuple[int, int, int]:
    """(tag, value length, header size) of the element at ``pos``."""
    buf.need(pos + 8)
    d = buf.data
    group, elem = _tag(d, pos)
    tag = (group << 16) | elem
    if implicit or group == 0xFFFE:
        return tag, _u32(d, pos + 4)[0], 8
    vr = bytes(d[pos + 4:pos + 6])
    if not vr.isalpha() or not vr.isupper():
        raise ValueError(f"element ({group:04X},{elem:04X}) has no explicit VR")
    if vr in _LONG_VRS:
        buf.need(pos + 12)
        return tag, _u32(d, pos + 8)[0], 12
    return tag, _u16(d, pos + 6)[0], 8


def _skip_sequence(buf: _Buffer, pos: int, implicit: bool) -> int:
    """Skip the items of a sequence of undefined length; return the offset after it."""
    while True:
        tag, length, size = _element_header(buf, pos, True)
        pos += size
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise ValueError(f"unexpected tag {tag:08X} inside a sequence")
        if length != _UNDEFINED:
            pos += length
            continue
        while True:  # elements of an item of undefined length
            tag, length, size = _element_header(buf, pos, implicit)
            if tag == _ITEM_END:
                pos += size
                break
            pos += size
            if length == _UNDEFINED:
                # an undefined-length UN holds an implicit VR sequence (PS3.5 6.2.2)
                pos = _skip_sequence(buf, pos, implicit or not _is_sq(buf, pos - size, implicit))
            else:
                pos += length


def _is_sq(buf: _Buffer, pos: int, implicit: bool) -> bool:
    return implicit or bytes(buf.data[pos + 4:pos + 6]) == b"SQ"


def _parse(fp: Any, header: Header) -> str | None:
    """Fill ``header`` from an explicit-VR little-endian Part 10 file.

    Returns None on success, ``"fallback"`` when pydicom must read the file.
    Raises TruncatedError when the file ends inside its header.
    """
    buf = _Buffer(fp)
    pos = 132
    # file meta information: always explicit VR little endian, group 0x0002
    while True:
        buf.need(pos + 8)
        if _u16(buf.data, pos)[0] != 0x0002:
            break
        tag, length, size = _element_header(buf, pos, False)
        if length == _UNDEFINED:
            return "fallback"
        buf.need(pos + size + length)
        if tag == 0x00020010:
            header.transfer_syntax = buf.data[pos + size:pos + size + length].decode(
                "latin-1").strip(" \0")
        elif tag == 0x00020002:
            header.sop_class = buf.data[pos + size:pos + size + length].decode(
                "latin-1").strip(" \0")
        pos += size + length
    if not header.transfer_syntax or header.transfer_syntax in _NOT_EXPLICIT_LE:
        return "fallback"
    values = header.values
    while True:
        d = buf.data
        if pos + 12 <= len(d):
            # the element's header read as _element_header reads it, in one unpack (the
            # common case: the bytes are there, an explicit VR, not an item tag)
            group, elem, vr, short = _EXPLICIT(d, pos)
            if group != 0xFFFE and vr.isalpha() and vr.isupper():
                tag = (group << 16) | elem
                if vr in _LONG_VRS:
                    length, size = _u32(d, pos + 8)[0], 12
                else:
                    length, size = short, 8
            else:
                tag, length, size = _element_header(buf, pos, False)
        else:
            try:
                tag, length, size = _element_header(buf, pos, False)
            except TruncatedError:
                if pos >= header.file_size:  # clean end of file: no pixel data
                    return None
                raise
        if tag in _PIXEL_TAGS or tag > 0x7FE00010:
            if tag in _PIXEL_TAGS:
                header.pixel_offset, header.pixel_tag, header.pixel_header = pos, tag, size
                header.pixel_length = None if length == _UNDEFINED else length
            return None
        pos += size
        if length == _UNDEFINED:
            pos = _skip_sequence(buf, pos, _is_sq(buf, pos - size, False) is False)
            continue
        if tag in _WANTED:
            buf.need(pos + length)
            values[tag] = bytes(buf.data[pos:pos + length])
        pos += length


def _fallback(path: Path, force: bool, header: Header) -> tuple[str, Any]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    with open(path, "rb") as fp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=force)
        except InvalidDicomError as err:
            if force:
                return "ignored", "not a DICOM file"
            return "skipped", f"is not readable DICOM ({err})"
        except Exception as err:  # truncated or corrupt header
            return "skipped", f"is truncated or corrupt ({type(err).__name__}: {err})"
        stop = fp.tell()
        elem = fp.read(12)
    meta = getattr(ds, "file_meta", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ts = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
            header.sop_class = str((meta.get("MediaStorageSOPClassUID", "") if meta is not None
                                    else "") or ds.get("SOPClassUID", "") or "")
        except Exception as err:  # an element pydicom cannot decode (a damaged VR)
            return "skipped", f"is truncated or corrupt ({type(err).__name__}: {err})"
    header.transfer_syntax = ts or "1.2.840.10008.1.2"
    header.preamble = not force
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in _WANTED:
            if tag in ds:
                try:
                    header.values[tag] = ds[tag].value
                except Exception:  # a value pydicom cannot convert: treat as absent
                    continue
    if header.transfer_syntax == _DEFLATED:
        # the data set is a deflate stream: the file offset after the header means
        # nothing, so ask pydicom whether pixel data follows (pydicom decodes it later)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                full = pydicom.dcmread(path, force=force)
        except Exception as err:  # the stream ends early
            return "skipped", f"is truncated or corrupt ({type(err).__name__}: {err})"
        if "PixelData" in full:
            header.pixel_offset, header.pixel_tag, header.pixel_header = 0, 0x7FE00010, 0
            header.pixel_length = None
        return "header", header
    if len(elem) >= 8:
        big = header.transfer_syntax == "1.2.840.10008.1.2.2"
        group, element = struct.unpack(">HH" if big else "<HH", elem[:4])
        tag = (group << 16) | element
        if tag in _PIXEL_TAGS:
            implicit = header.transfer_syntax == "1.2.840.10008.1.2"
            if implicit:
                length, size = struct.unpack("<I", elem[4:8])[0], 8
            elif len(elem) >= 12:
                length, size = struct.unpack(">I" if big else "<I", elem[8:12])[0], 12
            else:
                return "skipped", "is truncated inside its pixel data element"
            header.pixel_offset, header.pixel_tag, header.pixel_header = stop, tag, size
            header.pixel_length = None if length == _UNDEFINED else length
    return "header", header


def _looks_like_meta(elem: bytes) -> bool:
    """Whether ``elem`` starts like a file meta element: group 0002 with an explicit VR."""
    return (len(elem) == 8 and elem[:2] == b"\x02\x00" and elem[4:6].isalpha()
            and elem[4:6].isupper())


def read_header(path: Path) -> tuple[str, Any]:
    """Read one file's header.

    Returns
    -------
    ("header", Header) | ("ignored", reason) | ("skipped", reason)
        ``ignored``: not DICOM (said quietly); ``skipped``: DICOM that cannot be
        read, e.g. truncated (worth a warning).
    """
    try:
        fp = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as err:
        return "skipped", f"cannot be opened ({err.strerror or err})"
    header = Header()
    with fp:
        header.file_size = os.fstat(fp.fileno()).st_size
        head = fp.read(132)
        # an empty or all-zero short file may be a slice that was never written out:
        # worth a warning (hidden files, such as .keep, are left alone)
        if len(head) < 132 and not path.name.startswith("."):
            if not head:
                return "skipped", "is empty (0 bytes)"
            if not head[:128].strip(b"\0"):
                return "skipped", (f"is truncated: it has only {len(head)} bytes, less than the "
                                   "128-byte DICOM preamble and its 'DICM' marker")
        if len(head) == 132 and head[128:132] == b"DICM":
            fp.seek(0)
            try:
                outcome = _parse(fp, header)
            except TruncatedError:
                return "skipped", "is truncated: it ends inside its header"
            except (ValueError, struct.error, UnicodeDecodeError):
                outcome = "fallback"  # something unusual: let pydicom judge the file
            if outcome is None:
                return "header", header
            raw = False
        elif len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00") and head[3:4] == b"\x00":
            raw = True  # a data set without preamble (old files): let pydicom try
        else:
            if len(head) == 132 and _looks_like_meta(fp.read(8)):
                return "skipped", (f"has a damaged DICOM marker: bytes 128-131 are "
                                   f"{bytes(head[128:132])!r} instead of b'DICM'")
            return "ignored", "not a DICOM file"
    header = Header()
    header.file_size = os.path.getsize(path)
    return _fallback(path, raw, header)
