"""The fast header reader agrees with pydicom, skips sequences, and survives damage."""

import struct

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from vbq.dicom import index as dicom_index
from vbq.dicom import load_series, pixels
from vbq.dicom.header import TAGS, read_header
from vbq.errors import InputError
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("hdr"), rows=96, n_slices=3,
                        distractors="none", rescale_slope=0.5, rescale_intercept=1.5)


def _agree_with_pydicom(path):
    kind, h = read_header(path)
    assert kind == "header"
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    for kw, tag in TAGS.items():
        if kw not in ds or ds[tag].value in (None, ""):
            assert tag not in h, kw
            continue
        value = ds[tag].value
        if ds[tag].VR == "US":
            assert h.ushort(tag) == value, kw
        elif ds[tag].VR in ("DS", "IS"):
            many = isinstance(value, list | tuple | MultiValue)
            want = [float(v) for v in (value if many else [value])]
            assert h.numbers(tag) == pytest.approx(want), kw
        else:
            got = h.decoded_text(tag)
            want = "\\".join(value) if isinstance(value, MultiValue) else str(value)
            assert got == want.strip(), kw
    return h


def _undefined_length_sequences(ds: Dataset) -> None:
    inner = Dataset()
    inner.CodeValue = "121311"
    inner.CodingSchemeDesignator = "DCM"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.2.1143.5"
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    ds["ReferencedImageSequence"].is_undefined_length = True
    item["PurposeOfReferenceCodeSequence"].is_undefined_length = True
    for it in (item, inner):
        it.is_undefined_length_sequence_item = True
    # a long private element the reader must skip by its length
    ds.add_new(0x00291010, "OB", b"\x01" * 20001)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")


def test_reader_matches_pydicom_on_phantom_files(small):
    h = _agree_with_pydicom(small.files["t1"][1])
    assert h.transfer_syntax == "1.2.840.10008.1.2.1" and h.sop_class.endswith(".1.1.4")
    assert h.pixel_tag == 0x7FE00010 and h.pixel_length == 96 * 96 * 2


def test_reader_skips_undefined_length_sequences_and_long_private_data(small, tmp_path):
    ds = pydicom.dcmread(small.files["t1"][0])
    _undefined_length_sequences(ds)
    out = tmp_path / "seq.dcm"
    ds.save_as(out)
    raw = out.read_bytes()
    assert b"\xfe\xff\xdd\xe0" in raw  # a sequence delimitation item was written
    h = _agree_with_pydicom(out)
    np.testing.assert_array_equal(
        pixels.read_native(load_series(tmp_path).series.slices[0]), ds.pixel_array)
    assert h.pixel_offset == raw.rfind(b"\xe0\x7f\x10\x00")


@pytest.mark.parametrize("syntax", ["implicit", "big"])
def test_other_transfer_syntaxes_fall_back_to_pydicom(small, tmp_path, syntax):
    ds = pydicom.dcmread(small.files["t1"][1])
    out = tmp_path / f"{syntax}.dcm"
    if syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(out, implicit_vr=True, little_endian=True)
    else:
        stored = ds.pixel_array.copy()  # decode before the syntax changes
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
        ds.PixelData = stored.astype(">u2").tobytes()
        pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    kind, h = read_header(out)
    assert kind == "header" and h.pixel_tag == 0x7FE00010
    assert h.ushort(TAGS["Rows"]) == 96 and h.number(TAGS["RescaleSlope"]) == 0.5
    s = load_series(tmp_path).series
    ref = pydicom.dcmread(small.files["t1"][1]).pixel_array
    np.testing.assert_array_equal(s.pixels(0), ref * 0.5 + 1.5)


def test_file_without_preamble_is_read(small, tmp_path):
    src = small.files["t1"][2].read_bytes()
    # drop preamble and file meta: a bare implicit-VR data set, as old archives hold
    ds = pydicom.dcmread(small.files["t1"][2])
    out = tmp_path / "bare"
    del ds.file_meta
    ds.preamble = None
    pydicom.dcmwrite(out, ds, implicit_vr=True, little_endian=True)
    assert out.read_bytes()[128:132] != b"DICM" and len(src) > 0
    kind, h = read_header(out)
    assert kind == "header" and h.text(TAGS["SOPInstanceUID"]) == ds.SOPInstanceUID


def test_pixels_fast_path_equals_pydicom_for_12_bit_and_signed(small, tmp_path):
    ds = pydicom.dcmread(small.files["t1"][1])
    stored = ds.pixel_array.astype(np.int32)
    # 12 bits stored in 16, with garbage in the unused high bits (must be masked off)
    ds.BitsStored, ds.HighBit = 12, 11
    ds.PixelData = (stored.astype(np.uint16) | 0xF000).tobytes()
    (tmp_path / "u").mkdir()
    ds.save_as(tmp_path / "u" / "a.dcm")
    # signed 16-bit with negative values
    ds2 = pydicom.dcmread(small.files["t1"][1])
    ds2.PixelRepresentation = 1
    ds2.PixelData = (stored - 200).astype(np.int16).tobytes()
    (tmp_path / "s").mkdir()
    ds2.save_as(tmp_path / "s" / "b.dcm")
    for folder, want in (("u", stored & 0x0FFF), ("s", stored - 200)):
        s = load_series(tmp_path / folder).series
        native = pixels.read_native(s.slices[0])
        assert native is not None
        np.testing.assert_array_equal(native, want)
        np.testing.assert_array_equal(native, pydicom.dcmread(s.slices[0].path).pixel_array)


def test_every_truncation_of_a_header_is_skipped_not_raised(small, tmp_path):
    src = small.files["t1"][0].read_bytes()
    h_len = struct.unpack_from("<I", src, 132 + 8)[0]  # meta group length
    cut_points = sorted({*range(0, 140, 7), *range(140, 1400, 13), 132 + 12 + h_len + 3})
    for n in cut_points:
        p = tmp_path / f"cut{n}"
        p.write_bytes(src[:n])
        kind, why = dicom_index._classify(p)
        assert kind in ("skipped", "ignored"), (n, kind)
        if n >= 132:
            assert kind == "skipped" and "truncated" in why


def test_truncated_pixel_data_is_noted(small, tmp_path):
    src = small.files["t1"][0].read_bytes()
    p = tmp_path / "short.dcm"
    p.write_bytes(src[:-10])
    kind, rec = dicom_index._classify(p)
    assert kind == "image" and "truncated" in rec.problem
    assert f"{96 * 96 * 2 - 10} of {96 * 96 * 2} bytes" in rec.problem


def test_compressed_pixel_data_decoded_by_pydicom(small, tmp_path):
    ds = pydicom.dcmread(small.files["t1"][1])
    ref = ds.pixel_array.copy()
    ds.compress(pydicom.uid.RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    kind, h = read_header(tmp_path / "rle.dcm")
    assert kind == "header" and h.transfer_syntax == pydicom.uid.RLELossless
    assert h.pixel_length is None  # encapsulated: undefined length
    s = load_series(tmp_path).series
    assert pixels.read_native(s.slices[0]) is None  # not the raw fast path
    np.testing.assert_array_equal(s.pixels(0), ref * 0.5 + 1.5)


def damaged_headers(src: bytes, seed: int, n: int, most: int):
    """Yield ``n`` copies of a DICOM file with 1 to ``most`` random header bytes changed
    (between the preamble and the pixel data element)."""
    header_end = src.rfind(b"\xe0\x7f\x10\x00")
    rng = np.random.default_rng(seed)
    for _ in range(n):
        data = bytearray(src)
        for pos in rng.integers(132, header_end, size=rng.integers(1, most + 1)):
            data[pos] = int(rng.integers(0, 256))
        yield bytes(data)


def test_random_byte_damage_never_raises(small, tmp_path):
    """Corrupt header bytes at random: the index reports or skips, it never crashes."""
    src = small.files["t1"][0].read_bytes()
    kinds = set()
    for i, data in enumerate(damaged_headers(src, 11, 150, 3)):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        p = folder / "x.dcm"
        p.write_bytes(data)
        kind, _ = dicom_index._classify(p)
        kinds.add(kind)
        try:
            s = load_series(folder).series
            s.pixels(0)
        except InputError:
            pass
    assert kinds <= {"image", "skipped", "ignored"} and "image" in kinds
