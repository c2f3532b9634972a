"""Pixel data of one slice: native data read straight from the file, the rest through pydicom.

Owns decoding only: which decoder a transfer syntax needs (and the package that
provides it), the fast path for uncompressed little-endian data, and the one
sentence a decoder failure becomes. :meth:`vbq.dicom.series.SeriesInfo.pixels`
applies the modality rescale on top.

References
----------
NEMA PS3.5, 8.1.1 (native pixel data encoding: Bits Stored, High Bit, Pixel
Representation); 8.2 and A.4 (encapsulated pixel data).
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vbq.dicom.header import TAGS
from vbq.errors import InputError

if TYPE_CHECKING:
    from vbq.dicom.series import SliceInfo

__all__ = ["PixelDecodeError", "check_decoder", "decode", "read_native", "read_native_boxes",
           "syntax_name"]


class PixelDecodeError(InputError):
    """The pixel data of one file cannot be decoded; the message names the file.

    Raised for every failure of a decoder, including the ones that do not derive
    from :class:`Exception` (a panic of a Rust decoder surfaces in Python as
    ``pyo3_runtime.PanicException``, a :class:`BaseException`), so that a caller
    catching :class:`~vbq.errors.VBQError` or :class:`Exception` (a batch, say)
    gets one error for the file and goes on.
    """


#: Exceptions that are never turned into a file's decoding error.
NEVER_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


_NATIVE_LE = {"1.2.840.10008.1.2": 8, "1.2.840.10008.1.2.1": 12}  # transfer syntax -> header
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class _NativeLayout:
    """Where and how one slice's uncompressed little-endian pixel data lie in its file."""

    header: int         # bytes of the Pixel Data element's tag, VR and length
    dtype: str          # numpy dtype of the stored values
    rows: int
    cols: int
    nbytes: int         # bytes of this slice (frame)
    total: int          # bytes of every frame of the file
    skip: int           # bytes of the frames before this one
    bits_stored: int
    bits_allocated: int
    signed: bool


def _native_layout(sl: SliceInfo) -> _NativeLayout | None:
    """Return the layout of a slice's native little-endian pixel data (None: not that case)."""
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
    skip = 0 if sl.frame_number is None else nbytes * (sl.frame_number - 1)
    return _NativeLayout(header, f"<{'i' if pr else 'u'}{ba // 8}", int(rows), int(cols),
                         nbytes, nbytes * sl.n_frames, skip, bs, ba, bool(pr))


def _element_ok(fp: BinaryIO, sl: SliceInfo, lay: _NativeLayout) -> bool:
    """Check the Pixel Data element at the slice's offset (``fp`` is left after its header)."""
    assert sl.pixel_offset is not None
    fp.seek(sl.pixel_offset)
    return _head_ok(fp.read(lay.header), lay)


def _head_ok(head: bytes, lay: _NativeLayout) -> bool:
    """Check the Pixel Data element's header: its tag, and a length that holds every frame."""
    if len(head) < lay.header or struct.unpack("<HH", head[:4]) != (0x7FE0, 0x0010):
        return False
    length = struct.unpack("<I", head[-4:])[0]
    return not (length == 0xFFFFFFFF or length < lay.total or length > lay.total + 1)


def _stored_values(data: bytes, lay: _NativeLayout, rows: int) -> np.ndarray:
    """Return the stored values of ``rows`` whole rows, the bits above Bits Stored removed."""
    arr = np.frombuffer(data, dtype=lay.dtype).reshape(rows, lay.cols)
    if lay.bits_stored < lay.bits_allocated:
        if lay.signed:
            shift = lay.bits_allocated - lay.bits_stored
            arr = (arr << shift) >> shift
        else:
            arr = arr & ((1 << lay.bits_stored) - 1)
    return arr


def read_native(sl: SliceInfo) -> np.ndarray | None:
    """Read uncompressed little-endian pixel data of one slice straight from its offset.

    For a frame of a multi-frame file only that frame's bytes are read. Returns None
    when the file is not that simple case (the caller then uses pydicom's decoder).
    Saves the second parse of the header that ``dcmread`` would do.
    """
    lay = _native_layout(sl)
    if lay is None:
        return None
    with open(sl.path, "rb") as fp:
        if not _element_ok(fp, sl, lay):
            return None
        if lay.skip:
            fp.seek(lay.skip, os.SEEK_CUR)
        data = fp.read(lay.nbytes)
    if len(data) < lay.nbytes:
        raise InputError(f"{sl.path} is truncated ({len(data)} of {lay.nbytes} bytes of "
                         "pixel data)")
    return _stored_values(data, lay, lay.rows)


def read_native_boxes(sl: SliceInfo, boxes: Sequence[tuple[slice, slice]]
                      ) -> list[np.ndarray] | None:
    """Read only the rows of each box of a slice's native little-endian pixel data.

    Returns ``[read_native(sl)[box] for box in boxes]`` (each box a pair of slices
    with steps of 1, as numpy indexes them), reading from the file only the whole
    rows the boxes span, or None when :func:`read_native` would return None. A file
    too short for the slice's pixel data raises the error :func:`read_native` raises,
    whichever rows are asked for.
    """
    lay = _native_layout(sl)
    if lay is None or sl.pixel_offset is None:
        return None
    row_bytes = lay.cols * (lay.bits_allocated // 8)
    spans = []
    for rsel, csel in boxes:
        r0, r1, rstep = rsel.indices(lay.rows)
        c0, c1, cstep = csel.indices(lay.cols)
        if rstep != 1 or cstep != 1:
            raise ValueError("boxes are read with steps of 1")
        spans.append((r0, max(0, r1 - r0), c0, c1))
    out: list[np.ndarray] = []
    # positioned reads on a bare descriptor (no buffered file object: a few small reads)
    fd = os.open(sl.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        head = _pread(fd, lay.header, sl.pixel_offset)
        if not _head_ok(head, lay):
            return None
        start = sl.pixel_offset + lay.header + lay.skip
        have = max(0, min(lay.nbytes, os.fstat(fd).st_size - start))
        if have < lay.nbytes:
            raise InputError(f"{sl.path} is truncated ({have} of {lay.nbytes} bytes of "
                             "pixel data)")
        for r0, n, c0, c1 in spans:
            data = _pread(fd, n * row_bytes, start + r0 * row_bytes)
            if len(data) < n * row_bytes:  # the file changed since it was measured
                raise InputError(f"{sl.path} is truncated while its pixel data are read")
            out.append(_stored_values(data, lay, n)[:, c0:c1])
    finally:
        os.close(fd)
    return out


def _pread(fd: int, size: int, offset: int) -> bytes:
    """Read up to ``size`` bytes at ``offset`` (fewer only at the end of the file)."""
    if hasattr(os, "pread"):
        parts = []
        while size > 0:
            chunk = os.pread(fd, size, offset)
            if not chunk:
                break
            parts.append(chunk)
            size -= len(chunk)
            offset += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    os.lseek(fd, offset, os.SEEK_SET)
    parts = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


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


def syntax_name(ts: str) -> str:
    """Name and UID of a transfer syntax, for messages (the UID alone when pydicom has no name).

    Examples
    --------
    >>> syntax_name("1.2.840.10008.1.2.4.80")
    'JPEG-LS Lossless Image Compression (1.2.840.10008.1.2.4.80)'
    """
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
                         f"{syntax_name(ts)} is not supported by pydicom "
                         "(convert the file to an uncompressed or JPEG/JPEG-LS/JPEG 2000/RLE "
                         "transfer syntax)") from None
    if not decoder.is_available:
        packages = _DECODER_PACKAGES.get(str(ts), "a pydicom pixel data plugin")
        raise InputError(f"cannot decode the pixel data of {path}: its transfer syntax "
                         f"{syntax_name(ts)} needs a decoder that is not installed; "
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
    import pydicom
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


def decode(sl: SliceInfo) -> np.ndarray:
    """Decode the stored pixel values of one slice (module level so tests can count calls).

    Native little-endian data are read straight from the file; everything else
    (big endian, deflated, encapsulated JPEG / JPEG-LS / JPEG 2000 / RLE) goes
    through pydicom, which for a frame of a multi-frame file decodes only that frame.
    What a native decoder writes on stderr is shown only when it succeeds (a failure
    is reported by the caller as one sentence naming the file).
    """
    arr = read_native(sl)
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
