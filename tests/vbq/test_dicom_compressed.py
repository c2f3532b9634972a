"""Compressed transfer syntaxes: lossless phantoms score exactly as their written pixels.

Truth by construction: ``expected.json`` holds the VBQ and ROI statistics computed
from the integer pixels before they were encoded, so a lossless round trip through
the encoder and pydicom's decoder must reproduce them to rounding.
"""

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

import vbq
from vbq.cli import main
from vbq.dicom import index_folder, load_series, pixels
from vbq.errors import InputError
from vbq.phantom import make_phantom

CODECS = {
    "rle": "1.2.840.10008.1.2.5",
    "jpegls": "1.2.840.10008.1.2.4.80",
    "j2k": "1.2.840.10008.1.2.4.90",
}


@pytest.fixture(scope="module", params=sorted(CODECS))
def compressed(request, tmp_path_factory):
    """A small phantom (T1 plus a T2 distractor) written with one lossless codec."""
    name = request.param
    info = make_phantom(tmp_path_factory.mktemp(f"c_{name}"), rows=96, n_slices=5, seed=4,
                        distractors="t2", compress=name, rescale_slope=0.5,
                        rescale_intercept=3.0)
    return name, info


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def test_files_use_the_requested_transfer_syntax(compressed):
    name, info = compressed
    ds = pydicom.dcmread(info.files["t1"][0], stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == CODECS[name]


def test_score_equals_expected(compressed):
    _, info = compressed
    exp = info.expected
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert _rel(res.vbq, exp["vbq"]) < 1e-12
    for level in ("L1", "L2", "L3", "L4"):
        assert _rel(res.levels[level].si, exp["levels"][level]["mean"]) < 1e-12
        assert res.levels[level].measurement.n_pixels == exp["levels"][level]["n_pixels"]
    assert _rel(res.csf.si, exp["csf"]["mean"]) < 1e-12
    patient = vbq.score_series(info.series_dir, rois=info.rois_patient_path)
    assert _rel(patient.vbq, exp["vbq"]) < 1e-12


def test_decoded_pixels_equal_uncompressed_bytes(compressed, tmp_path):
    """The decoded slice equals the pixels of the same file decompressed by pydicom."""
    _, info = compressed
    series = load_series(info.series_dir).series
    mid = series.mid_slice
    ds = pydicom.dcmread(series.slices[mid].path)
    want = ds.pixel_array.astype(np.float64) * 0.5 + 3.0
    np.testing.assert_array_equal(series.pixels(mid), want)


def test_measured_slice_is_decoded_first_and_each_slice_once(compressed, monkeypatch):
    _, info = compressed
    calls = []
    real = pixels.decode

    def counting(sl):
        calls.append(sl.path)
        return real(sl)

    monkeypatch.setattr(pixels, "decode", counting)
    vbq.score_series(info.series_dir, rois=info.rois_path)
    # the others are decoded for the mid-sagittal plane search (gate d)
    assert calls[0] == info.files["t1"][info.slice]
    assert sorted(calls) == sorted(info.files["t1"])


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy not installed")
def test_dciodvfy_finds_no_error(compressed):
    _, info = compressed
    out = subprocess.run(["dciodvfy", str(info.files["t1"][0])], capture_output=True,
                         text=True, check=False)
    text = out.stdout + out.stderr
    assert not [line for line in text.splitlines() if line.startswith("Error")], text


def test_missing_decoder_is_one_clear_error(tmp_path, monkeypatch):
    info = make_phantom(tmp_path / "p", rows=64, n_slices=3, distractors="none",
                        compress="jpegls")
    from pydicom.pixels import get_decoder

    decoder = get_decoder(CODECS["jpegls"])
    monkeypatch.setattr(decoder, "_available", {})
    assert not decoder.is_available
    series = load_series(info.series_dir).series
    with pytest.raises(InputError) as err:
        series.pixels(1)
    msg = str(err.value)
    assert str(series.slices[1].path) in msg
    assert "JPEG-LS Lossless" in msg and CODECS["jpegls"] in msg
    assert "install pyjpegls" in msg
    assert "\n" not in msg
    # the same through the CLI: exit code 2 and one sentence on stderr
    code = main(["score", str(info.series_dir), "--rois", str(info.rois_path), "--json"])
    assert code == 2


def test_unsupported_transfer_syntax_is_named(tmp_path):
    with pytest.raises(InputError, match=r"not supported by pydicom"):
        pixels.check_decoder(tmp_path / "x.dcm", "1.2.840.10008.1.2.4.100")  # MPEG2


def test_index_reads_compressed_headers_fast(compressed):
    """The own header reader handles encapsulated pixel data (no pydicom fallback)."""
    _, info = compressed
    index = index_folder(info.series_dir)
    t1 = index.get(info.series_instance_uid)
    assert len(t1) == 5 and all(sl.problem is None for sl in t1.slices)
    assert all(sl.header.pixel_length is None for sl in t1.slices)  # undefined length


def test_cli_phantom_compress(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "p"), "--compress", "rle", "--size", "64",
                 "--slices", "3", "--distractors", "none"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    files = sorted((tmp_path / "p" / "series").rglob("*.dcm"))
    assert len(files) == 3
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == CODECS["rle"]
    res = vbq.score_series(summary["series_dir"], rois=summary["rois"])
    assert _rel(res.vbq, summary["vbq"]) < 1e-12


def test_missing_encoder_is_an_input_error(tmp_path, monkeypatch):
    from pydicom.pixels import get_encoder

    monkeypatch.setattr(get_encoder(CODECS["jpegls"]), "_available", {})
    with pytest.raises(InputError, match="needs an encoder that is not installed; install "
                                         "pyjpegls"):
        make_phantom(tmp_path / "p", rows=64, n_slices=3, compress="jpegls")
    assert not (tmp_path / "p").exists()


def test_unknown_compression_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="compression 'zip'"):
        make_phantom(tmp_path / "p", rows=64, n_slices=3, compress="zip")


# --------------------------------------------------------------------------- JPEG lossless
def _jpeg_lossless(img: np.ndarray, precision: int = 16) -> bytes:
    """Encode a grey image as JPEG lossless, predictor 1, point transform 0.

    Written here from ITU-T T.81 Annex H (lossless mode: SOF3, prediction from the
    left neighbour, the first row from the left, the first column from above, the
    first sample from 2**(P-1); differences modulo 2**16 coded as Huffman-coded
    category SSSS plus SSSS extra bits, SSSS = 16 without extra bits) and Annex C
    (Huffman table specification), so pydicom's decoder is checked against an
    encoder it does not share.
    """
    rows, cols = img.shape
    x = img.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred) % 65536
    diff = np.where(diff >= 32768, diff - 65536, diff).ravel()
    # Huffman table: the 17 categories 0..16 as 5-bit canonical codes 0..16
    bits, nbits = 0, 0
    out = bytearray()
    for d in diff.tolist():
        if d == -32768:
            ssss, extra = 16, 0
        else:
            ssss = abs(d).bit_length()
            extra = d if d >= 0 else d + (1 << ssss) - 1
        bits = (bits << 5) | ssss
        nbits += 5
        if 0 < ssss < 16:
            bits = (bits << ssss) | extra
            nbits += ssss
        while nbits >= 8:
            nbits -= 8
            byte = (bits >> nbits) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0x00)  # byte stuffing
        bits &= (1 << nbits) - 1
    if nbits:
        byte = ((bits << (8 - nbits)) | ((1 << (8 - nbits)) - 1)) & 0xFF  # pad with 1s
        out.append(byte)
        if byte == 0xFF:
            out.append(0x00)
    counts = [0, 0, 0, 0, 17] + [0] * 11
    dht = bytes([0x00, *counts, *range(17)])
    sof = bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes(
        [1, 1, 0x11, 0])
    sos = bytes([1, 1, 0x00, 1, 0, 0])  # Ns, Cs, Td/Ta, Ss = predictor 1, Se, Ah/Al

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body

    return (b"\xff\xd8" + segment(0xC4, dht) + segment(0xC3, sof) + segment(0xDA, sos)
            + bytes(out) + b"\xff\xd9")


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57"])
def test_jpeg_lossless_scores_to_expected(tmp_path, syntax):
    """JPEG lossless (process 14; selection value 1) files score to expected.json."""
    from pydicom.encaps import encapsulate

    info = make_phantom(tmp_path / "p", rows=64, n_slices=3, seed=6, distractors="none",
                        rescale_slope=0.5, rescale_intercept=3.0)
    for path in info.files["t1"]:
        ds = pydicom.dcmread(path)
        frame = _jpeg_lossless(ds.pixel_array)
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(info.files["t1"][0]).file_meta.TransferSyntaxUID == syntax
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert _rel(res.vbq, info.expected["vbq"]) < 1e-12
    for level in ("L1", "L2", "L3", "L4"):
        assert _rel(res.levels[level].si, info.expected["levels"][level]["mean"]) < 1e-12


def test_jpeg_baseline_decodes_close_to_the_original(tmp_path):
    """Lossy JPEG baseline (8-bit, encoded by Pillow): pixels match Pillow's own decode.

    vbq decodes through pydicom (pylibjpeg-libjpeg); the reference is Pillow's decoder
    (libjpeg-turbo) on the same bytes: the two may differ by one grey level (IDCT
    rounding). The ROI means stay within one grey level (x4 rescale) of the decoded
    reference and within 2% of the 8-bit image before compression.
    """
    pil = pytest.importorskip("PIL.Image")
    import io

    from pydicom.encaps import encapsulate

    info = make_phantom(tmp_path / "p", rows=96, n_slices=3, seed=7, distractors="none")
    originals, references = [], []
    for path in info.files["t1"]:
        ds = pydicom.dcmread(path)
        img8 = np.clip(np.rint(ds.pixel_array / 4.0), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        pil.fromarray(img8, mode="L").save(buf, format="JPEG", quality=92)
        originals.append(img8.astype(np.float64) * 4.0)
        references.append(np.asarray(pil.open(io.BytesIO(buf.getvalue())), dtype=np.float64))
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.RescaleSlope, ds.RescaleIntercept = "4", "0"
        ds.SmallestImagePixelValue = int(img8.min())
        ds.LargestImagePixelValue = int(img8.max())
        ds["SmallestImagePixelValue"].VR = ds["LargestImagePixelValue"].VR = "US"
        ds.LossyImageCompression = "01"
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
        ds.save_as(path, enforce_file_format=True)
    series = load_series(info.series_dir).series
    mid = series.mid_slice
    decoded = series.pixels(mid) / 4.0
    assert np.max(np.abs(decoded - references[mid])) <= 1.0
    assert np.mean(decoded != references[mid]) < 0.05
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    from vbq.phantom import roi_membership

    rois = json.loads(info.rois_path.read_text())["rois"]
    for roi in rois:
        member = roi_membership(roi, series.shape)
        got = res.csf.si if roi["label"] == "CSF" else res.levels[roi["label"]].si
        assert abs(got - 4.0 * references[mid][member].mean()) <= 4.0, roi["label"]
        assert _rel(got, originals[mid][member].mean()) < 0.02, roi["label"]


def test_expected_names_the_written_mid_slice(compressed):
    """Encoding keeps the phantom's own SOP Instance UIDs, so expected.json names a real file."""
    _, info = compressed
    exp = info.expected
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in info.files["t1"]}
    assert exp["sop_instance_uid"] in uids
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert res.to_dict()["slice"]["sop_instance_uid"] == exp["sop_instance_uid"]
