"""Mutations of label masks (NIfTI, ``.npy``) and of phantom DICOM series.

Oracles:

- a mask on the series grid in another integer dtype, axis order or voxel
  order (with the affine that says so) gives the same score as the original;
- a mask whose affine is not finite, or whose grid is shifted, scaled or cut,
  cannot give a score;
- a level whose label was moved to a number no tool writes (2**32 + 41, ...)
  must not be measured (a reader that wraps 64-bit labels to 32 bits would
  find it again);
- a DICOM series whose header was made invalid (non-finite position or
  spacing, impossible size, duplicated or removed slices or UIDs, a broken
  RLE header) either is refused or, when the measured slice is still known
  for sure, gives the phantom's true score (``expected.json``).
"""

from __future__ import annotations

import gzip
import random
import shutil
import struct
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

#: (path written, family, detail, oracle, level that must not be used)
MaskMutation = tuple[Path, str, str, str | None, str | None]

L1 = 41  # TotalSpineSeg's L1


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    img = nib.Nifti1Image(data, affine, dtype=data.dtype)
    nib.save(img, str(path))
    return path


def _raw_sform(path: Path, data: np.ndarray, good: np.ndarray, bad: np.ndarray) -> Path:
    """A NIfTI whose sform is ``bad`` (nibabel refuses to write such an affine itself)."""
    plain = _nifti(path.with_suffix(""), data, good)
    raw = bytearray(plain.read_bytes())
    struct.pack_into("<hh", raw, 252, 0, 1)  # qform_code unknown, sform_code scanner
    with np.errstate(over="ignore"):
        rows = bad[:3].astype("<f4")
    raw[280:328] = rows.tobytes()
    path.write_bytes(gzip.compress(bytes(raw)))
    plain.unlink()
    return path


def mutate_mask(rng: random.Random, labels: np.ndarray, affine: np.ndarray,
                out: Path) -> MaskMutation:
    """One mutated mask file written into ``out``."""
    pick = rng.random()
    data = labels.copy()
    if pick < 0.15:
        dtype = rng.choice(("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                            "uint64", "float32", "float64"))
        return (_nifti(out / "m.nii.gz", data.astype(dtype), affine), "same-dtype",
                f"NIfTI of dtype {dtype}", "same", None)
    if pick < 0.22:
        axis = rng.randrange(3)
        flipped = np.flip(data, axis)
        n = data.shape[axis]
        flip = np.eye(4)
        flip[axis, axis] = -1
        flip[axis, 3] = n - 1
        return (_nifti(out / "m.nii.gz", np.ascontiguousarray(flipped), affine @ flip),
                "same-flip", f"voxel axis {axis} reversed, affine to match", "same", None)
    if pick < 0.28:
        order = rng.choice(((1, 0, 2), (2, 1, 0), (0, 2, 1), (2, 0, 1)))
        perm = np.zeros((4, 4))
        for new, old in enumerate(order):
            perm[old, new] = 1
        perm[3, 3] = 1
        return (_nifti(out / "m.nii.gz", np.ascontiguousarray(np.transpose(data, order)),
                       affine @ perm), "same-transpose",
                f"voxel axes in order {order}, affine to match", "same", None)
    if pick < 0.36:
        bad = affine.copy()
        i, j = rng.randrange(3), rng.randrange(4)
        value = rng.choice((np.nan, np.inf, -np.inf, 0.0, 1e300))
        if value == 0.0:
            bad[:3, :3] = 0.0
            how = "zero rotation/zoom"
        else:
            bad[i, j] = value
            how = f"affine[{i},{j}] := {value}"
        return _raw_sform(out / "m.nii.gz", data, affine, bad), "affine-bad", how, "refused", \
            None
    if pick < 0.42:
        moved = affine.copy()
        if rng.random() < 0.5:
            moved[rng.randrange(3), 3] += rng.choice((5.0, -2.5, 0.01))
            how = "origin moved"
        else:
            moved[:3, rng.randrange(3)] *= rng.choice((2.0, 0.5, -1.0))
            how = "one axis scaled or reversed without reordering voxels"
        return _nifti(out / "m.nii.gz", data, moved), "affine-off-grid", how, "refused", None
    if pick < 0.52:
        dtype, value = rng.choice((("int64", 2 ** 32 + L1), ("uint64", 2 ** 63 + L1),
                                   ("uint64", 2 ** 64 - 2 ** 32 + L1), ("int64", -(2 ** 32) + L1),
                                   ("uint32", 2 ** 31 + L1), ("int32", -L1)))
        big = data.astype(dtype)
        big[data == L1] = value
        where = rng.choice(("nii", "npy"))
        path = out / f"m.{'nii.gz' if where == 'nii' else 'npy'}"
        if where == "nii":
            _nifti(path, big, affine)
        else:
            np.save(path, big)
        return path, "label-wide", f"{where} {dtype}, L1 voxels := {value}", None, "L1"
    if pick < 0.60:
        how = rng.choice(("cut", "4d2", "2d", "empty", "only-L1", "fraction"))
        oracle: str | None = "refused"
        if how == "cut":
            d = data[:, :, :-1]
        elif how == "4d2":
            d = np.stack([data, data], axis=-1)
        elif how == "2d":
            d = data[:, :, 0]
        elif how == "empty":
            d = np.zeros_like(data)
        elif how == "only-L1":
            d = np.where(data == L1, data, 0)
        else:
            d = data.astype("float32")
            idx = np.argwhere(data == L1)[0]
            d[tuple(idx)] += 0.5
        return (_nifti(out / "m.nii.gz", np.ascontiguousarray(d), affine), f"shape-{how}",
                how, oracle, None)
    if pick < 0.64:
        d = data[..., None]
        return _nifti(out / "m.nii.gz", d, affine), "same-4d1", "4-D with one volume", \
            "same", None
    if pick < 0.80:
        return _npy(rng, data, out)
    return _damaged_nifti(rng, data, affine, out)


def _npy(rng: random.Random, data: np.ndarray, out: Path) -> MaskMutation:
    path = out / "m.npy"
    how = rng.choice(("rcs", "src", "fortran", "object", "structured", "complex", "scalar",
                      "cut", "truncated", "magic", "uint64", "bool"))
    oracle: str | None = "input"
    if how == "rcs":
        np.save(path, data)
        oracle = "same"
    elif how == "src":
        np.save(path, np.transpose(data, (2, 0, 1)))
        oracle = "same"
    elif how == "fortran":
        np.save(path, np.asfortranarray(data))
        oracle = "same"
    elif how == "uint64":
        np.save(path, data.astype("uint64"))
        oracle = "same"
    elif how == "object":
        np.save(path, data.astype(object), allow_pickle=True)
    elif how == "structured":
        np.save(path, np.zeros(data.shape, dtype=[("a", "i4"), ("b", "f4")]))
    elif how == "complex":
        np.save(path, data.astype(np.complex64))
    elif how == "scalar":
        np.save(path, np.int16(41))
    elif how == "cut":
        np.save(path, data[:-1])
    elif how == "bool":
        np.save(path, data > 0)
        oracle = None
    else:
        np.save(path, data)
        raw = path.read_bytes()
        if how == "truncated":
            raw = raw[:rng.randrange(len(raw))]
        else:
            raw = b"\x93NUMPX" + raw[6:]
        path.write_bytes(raw)
    return path, f"npy-{how}", f".npy {how}", oracle, None


def _damaged_nifti(rng: random.Random, data: np.ndarray, affine: np.ndarray,
                   out: Path) -> MaskMutation:
    plain = _nifti(out / "m.nii", data, affine)
    raw = bytearray(plain.read_bytes())
    how = rng.choice(("flip-header", "truncate", "gz-truncate", "dim", "datatype", "vox_offset"))
    if how == "flip-header":
        for _ in range(rng.randrange(1, 5)):
            pos = rng.randrange(348)
            raw[pos] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        raw = raw[:rng.randrange(len(raw))]
    elif how == "dim":
        struct.pack_into("<h", raw, 40 + 2 * rng.randrange(8), rng.choice((0, -1, 7, 32767)))
    elif how == "datatype":
        struct.pack_into("<h", raw, 70, rng.choice((0, 1, 32, 128, 2304, 1536, 9999)))
    elif how == "vox_offset":
        struct.pack_into("<f", raw, 108, rng.choice((0.0, -352.0, 1e9, float("nan"))))
    if how == "gz-truncate":
        gz = gzip.compress(bytes(raw))
        path = out / "m.nii.gz"
        path.write_bytes(gz[:rng.randrange(10, len(gz))])
        plain.unlink()
        return path, "nifti-gz-truncate", "gzip stream truncated", "input", None
    plain.write_bytes(bytes(raw))
    return plain, f"nifti-{how}", f"uncompressed NIfTI, {how}", None, None


# ------------------------------------------------------------------------------ DICOM

#: (keyword, VR, raw values) for header edits that make one file invalid.
TAG_EDITS: tuple[tuple[str, str, tuple[bytes, ...]], ...] = (
    ("ImagePositionPatient", "DS", (b"nan\\0\\0", b"inf\\-inf\\0", b"x\\y\\z", b"1\\2", b"",
                                    b"1e999\\0\\0")),
    ("ImageOrientationPatient", "DS", (b"0\\0\\0\\0\\0\\0", b"1\\0\\0\\1\\0\\0",
                                       b"nan\\0\\0\\0\\1\\0", b"0\\1\\0")),
    ("PixelSpacing", "DS", (b"0\\0", b"-1\\1", b"nan\\1", b"x", b"1e999\\1")),
    ("SliceThickness", "DS", (b"nan", b"-5")),
    ("RescaleSlope", "DS", (b"nan", b"inf", b"x", b"0", b"1e308")),
    ("RescaleIntercept", "DS", (b"nan", b"inf", b"-1e308")),
    ("RepetitionTime", "DS", (b"nan", b"-1", b"x")),
    ("EchoTime", "DS", (b"inf",)),
    ("MagneticFieldStrength", "DS", (b"nan", b"x")),
    ("Rows", "US", (b"\x00\x00", b"\x01\x00", b"\xff\xff", b"ROWS+1")),
    ("Columns", "US", (b"\x00\x00", b"\xff\xff")),
    ("SeriesInstanceUID", "UI", (b"", b"1.2.3")),
    ("SOPInstanceUID", "UI", (b"", b"OTHER")),
    ("Modality", "CS", (b"CT",)),
)
#: Edits of the pixel description: no oracle but the contract.
PIXEL_EDITS: tuple[tuple[str, str, tuple[bytes, ...]], ...] = (
    ("BitsAllocated", "US", (b"\x08\x00", b"\x20\x00", b"\x00\x00", b"\x01\x00")),
    ("BitsStored", "US", (b"\x00\x00", b"\x11\x00", b"\x08\x00")),
    ("HighBit", "US", (b"\x00\x00", b"\x1f\x00")),
    ("PixelRepresentation", "US", (b"\x01\x00", b"\x02\x00")),
    ("SamplesPerPixel", "US", (b"\x03\x00", b"\x00\x00")),
    ("PhotometricInterpretation", "CS", (b"RGB", b"PALETTE COLOR", b"")),
)
#: Enhanced MR: edits inside the functional groups.
FRAME_EDITS: tuple[tuple[str, str, str, tuple[bytes, ...]], ...] = (
    ("PlanePositionSequence", "ImagePositionPatient", "DS",
     (b"nan\\0\\0", b"1\\2", b"x\\y\\z", b"")),
    ("PlaneOrientationSequence", "ImageOrientationPatient", "DS",
     (b"0\\0\\0\\0\\0\\0", b"nan\\0\\0\\0\\1\\0")),
    ("PixelMeasuresSequence", "PixelSpacing", "DS", (b"0\\0", b"nan\\1")),
    ("PixelValueTransformationSequence", "RescaleSlope", "DS", (b"nan", b"inf", b"x")),
)


def _pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr == "UI" else b" "
    return value


def _set_raw(ds: Any, keyword: str, vr: str, value: bytes) -> None:
    tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
    value = _pad(value, vr)
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True, True, False)


class Series:
    """A phantom series and the truth of its measured slice."""

    def __init__(self, name: str, info: Any) -> None:
        self.name = name
        self.info = info
        self.dir = Path(info.series_dir)
        self.files = sorted(Path(p) for p in info.files["t1"])
        self.enhanced = "enhanced" in name
        self.compressed = "rle" in name
        # the measured slice: index ``expected["slice"]`` along the slice normal
        heads = [pydicom.dcmread(p, stop_before_pixels=True) for p in self.files]
        if len(heads) == 1:
            self.measured = self.files[0]
        else:
            iop = np.asarray(heads[0].ImageOrientationPatient, dtype=float)
            normal = np.cross(iop[:3], iop[3:])
            order = sorted(range(len(heads)), key=lambda k: float(
                np.dot(normal, np.asarray(heads[k].ImagePositionPatient, dtype=float))))
            self.measured = self.files[order[int(info.expected["slice"])]]
        self.truth = float(info.expected["vbq"])
        #: the score of each ROI source on the undamaged series (filled in by the test)
        self.baseline: dict[str, float] = {}


def mutate_series(rng: random.Random, s: Series, out: Path) -> tuple[str, str, str | None]:
    """Copy ``s`` into ``out`` and damage it: (family, detail, oracle)."""
    shutil.copytree(s.dir, out)
    files = [out / p.relative_to(s.dir) for p in s.files]
    measured = out / s.measured.relative_to(s.dir)
    victim = measured if (s.enhanced or rng.random() < 0.4) else rng.choice(files)
    which = "measured" if victim == measured else "other"
    pick = rng.random()
    raw = bytearray(victim.read_bytes())
    pixel_at = raw.rfind(b"\xe0\x7f\x10\x00")
    if pick < 0.18:
        hi = pixel_at if rng.random() < 0.7 else len(raw)
        flips = rng.randrange(1, 5)
        for _ in range(flips):
            pos = rng.randrange(132, hi)
            raw[pos] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(raw))
        return "bitflip", f"{flips} bits flipped below byte {hi} of the {which} file", None
    if pick < 0.30:
        pos = rng.randrange(len(raw))
        victim.write_bytes(bytes(raw[:pos]))
        return "truncate", f"{which} file truncated to {pos} of {len(raw)} bytes", \
            "refused-or-truth"
    if pick < 0.52:
        return _tag_edit(rng, victim, which, files)
    if pick < 0.58:
        return _pixel_edit(rng, victim, which)
    if pick < 0.66 and not s.enhanced:
        twin = victim.with_name("COPY" + victim.name)
        shutil.copy(victim, twin)
        if rng.random() < 0.5:
            ds = pydicom.dcmread(twin)
            ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(twin)
            return "duplicate-slice", f"{which} file copied with a new SOP UID", \
                "refused-or-truth"
        return "duplicate-file", f"{which} file copied byte for byte", "refused-or-truth"
    if pick < 0.72:
        keyword = rng.choice(("ImagePositionPatient", "ImageOrientationPatient",
                              "PixelSpacing", "Rows", "PixelData", "SeriesInstanceUID",
                              "SOPInstanceUID", "TransferSyntaxUID", "NumberOfFrames",
                              "SharedFunctionalGroupsSequence"))
        ds = pydicom.dcmread(victim)
        holder = ds.file_meta if keyword == "TransferSyntaxUID" else ds
        if keyword not in holder:
            return _tag_edit(rng, victim, which, files)
        del holder[keyword]
        ds.save_as(victim, enforce_file_format=False)
        return "delete-tag", f"{keyword} deleted from the {which} file", "refused-or-truth"
    if s.compressed and pick < 0.86:
        return _rle_header(rng, victim, which)
    if s.enhanced:
        return _frame_edit(rng, victim)
    return _tag_edit(rng, victim, which, files)


def _tag_edit(rng: random.Random, victim: Path, which: str,
              files: list[Path]) -> tuple[str, str, str | None]:
    keyword, vr, values = rng.choice(TAG_EDITS)
    value = rng.choice(values)
    ds = pydicom.dcmread(victim)
    if value == b"ROWS+1":
        value = struct.pack("<H", int(ds.Rows) + 1)
    if value == b"OTHER":
        others = [f for f in files if f != victim]
        if not others:
            value = b"1.2.3.4"
        else:
            value = str(pydicom.dcmread(rng.choice(others),
                                        stop_before_pixels=True).SOPInstanceUID).encode()
    _set_raw(ds, keyword, vr, value)
    ds.save_as(victim, enforce_file_format=False)
    return (f"tag-{keyword}", f"{keyword} := {value[:40]!r} in the {which} file",
            "refused-or-truth")


def _pixel_edit(rng: random.Random, victim: Path, which: str) -> tuple[str, str, str | None]:
    keyword, vr, values = rng.choice(PIXEL_EDITS)
    value = rng.choice(values)
    ds = pydicom.dcmread(victim)
    _set_raw(ds, keyword, vr, value)
    ds.save_as(victim, enforce_file_format=False)
    return f"pixel-{keyword}", f"{keyword} := {value!r} in the {which} file", None


def _frame_edit(rng: random.Random, victim: Path) -> tuple[str, str, str | None]:
    ds = pydicom.dcmread(victim)
    frames = ds.PerFrameFunctionalGroupsSequence
    f = rng.randrange(len(frames))
    choice = rng.random()
    if choice < 0.25:
        del frames[f]
        detail = f"per-frame item {f + 1} deleted ({len(frames)} left, NumberOfFrames kept)"
    elif choice < 0.4:
        value = rng.choice((b"0", b"999", b"-1", b"x", b"1"))
        _set_raw(ds, "NumberOfFrames", "IS", value)
        detail = f"NumberOfFrames := {value!r}"
    else:
        seq, keyword, vr, values = rng.choice(FRAME_EDITS)
        value = rng.choice(values)
        group = frames[f] if seq in frames[f] else ds.SharedFunctionalGroupsSequence[0]
        if seq not in group:
            return _rle_or_none(rng, victim)
        _set_raw(group[seq].value[0], keyword, vr, value)
        detail = f"{seq} {keyword} := {value!r} (frame {f + 1} or shared)"
    ds.save_as(victim, enforce_file_format=False)
    return "frame-edit", detail, "refused-or-truth"


def _rle_or_none(rng: random.Random, victim: Path) -> tuple[str, str, str | None]:
    return "frame-edit-none", "no such functional group; file unchanged", "truth"


def _rle_header(rng: random.Random, victim: Path, which: str) -> tuple[str, str, str | None]:
    """Damage the 64-byte RLE header of one fragment (segment count or an offset)."""
    raw = bytearray(victim.read_bytes())
    starts = []
    i = raw.rfind(b"\xe0\x7f\x10\x00")
    pos = raw.find(b"\xfe\xff\x00\xe0", i)
    while pos != -1 and pos + 8 <= len(raw):
        length = struct.unpack_from("<I", raw, pos + 4)[0]
        starts.append(pos + 8)
        pos = pos + 8 + length
        if raw[pos:pos + 4] != b"\xfe\xff\x00\xe0":
            break
    frags = starts[1:]  # the first item is the basic offset table
    if not frags:
        return "rle-none", "no fragment found", None
    k = rng.randrange(len(frags))
    at = frags[k]
    field = rng.randrange(3)
    if field == 0:
        value = rng.choice((0, 1, 3, 15, 16, 255, 0xFFFFFFFF))
        struct.pack_into("<I", raw, at, value)
        detail = f"RLE segment count := {value}"
    elif field == 1:
        value = rng.choice((0, 1, 63, 0x7FFFFFFF, 0xFFFFFFFF))
        struct.pack_into("<I", raw, at + 8, value)
        detail = f"RLE offset of segment 2 := {value}"
    else:
        struct.pack_into("<I", raw, at + 4, 0xFFFFFF00)
        detail = "RLE offset of segment 1 := 0xFFFFFF00"
    victim.write_bytes(bytes(raw))
    return "rle-header", f"{detail} in fragment {k + 1} of the {which} file", "refused-or-truth"
