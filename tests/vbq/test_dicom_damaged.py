"""Damaged and odd DICOM files: one sentence naming the file, a warning, or the right score.

Truth by construction: every case starts from a phantom whose ``expected.json`` holds
the VBQ of the pixels written, then damages one file in a known way. A score is
either that VBQ (to 1e-12: lossless files, the same arithmetic) or refused with an
error that names the file (and tag) at fault; a file that may be a lost slice makes
slice numbers unsafe, so ROIs naming a slice by index are refused.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

import vbq
from vbq.batch import run_batch
from vbq.cli import main
from vbq.dicom import PixelDecodeError, index_folder, load_series
from vbq.errors import InputError, VBQError
from vbq.phantom import make_phantom

SERIES = "003_T1_SAG_TSE"


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A small uncompressed phantom (T1 only): 7 slices, slice 3 measured."""
    return make_phantom(tmp_path_factory.mktemp("plain"), rows=64, n_slices=7, seed=3,
                        distractors="none")


@pytest.fixture(scope="module")
def rle(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("rle"), rows=64, n_slices=7, seed=3,
                        distractors="none", compress="rle")


@pytest.fixture(scope="module")
def enhanced(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("enh"), rows=64, n_slices=7, seed=3,
                        distractors="none", enhanced=True)


def _copy(info, dest: Path) -> Path:
    """Copy the phantom's series folder and ROI files; return the series folder."""
    shutil.copytree(info.series_dir, dest / "series")
    for name in ("rois.json", "rois_patient.json"):
        shutil.copy(Path(info.series_dir).parent / name, dest / name)
    return dest / "series"


def _file_of_slice(folder: Path, index: int) -> Path:
    return load_series(folder).series.slices[index].path


def _cli(argv: list[str], capfd) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return rc, out, err


def _one_error_line(err: str) -> str:
    """The error line of stderr, which must be the only line besides warnings."""
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("vbq: warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("vbq: error: ") and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------- 1. a decoder that panics
def _overflowing_rle(rows: int, cols: int) -> bytes:
    """One RLE frame (2 segments of 16-bit pixels) whose runs decode past each segment.

    Each segment must decode to rows x cols bytes; replicate runs of 128 bytes, one
    more than fit, overrun it (PS3.5 Annex G). pylibjpeg-rle panics on this.
    """
    runs = rows * cols // 128 + 1
    seg = b"\x81\x00" * runs  # control byte -127: repeat the next byte 128 times
    header = struct.pack("<16I", 2, 64, 64 + len(seg), *([0] * 13))
    return header + seg + seg


def test_rle_decoder_panic_is_one_error_naming_the_file(rle, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    folder = _copy(rle, tmp_path)
    victim = _file_of_slice(folder, rle.slice)
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([_overflowing_rle(ds.Rows, ds.Columns)])
    ds.save_as(victim)
    capfd.readouterr()
    with pytest.raises(PixelDecodeError) as err:
        vbq.score_series(folder, rois=tmp_path / "rois.json")
    assert isinstance(err.value, Exception) and isinstance(err.value, VBQError)
    assert err.value.exit_code == 2
    assert str(victim) in str(err.value) and "\n" not in str(err.value)
    assert "panicked" not in capfd.readouterr().err  # the decoder's own report is not shown
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2
    line = _one_error_line(err_text)
    assert str(victim) in line and "panicked" not in err_text


def test_rle_decoder_panic_in_a_batch_is_that_rows_error(rle, tmp_path):
    folder = _copy(rle, tmp_path)
    victim = _file_of_slice(folder, rle.slice)
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([_overflowing_rle(ds.Rows, ds.Columns)])
    ds.save_as(victim)
    good = _copy(rle, tmp_path / "good")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,series,rois\nbad,{folder},{tmp_path / 'rois.json'}\n"
                        f"ok,{good},{tmp_path / 'good' / 'rois.json'}\n")
    out = tmp_path / "out.csv"
    run_batch(manifest, out, workers=1)
    import csv

    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"bad", "ok"}
    assert str(victim) in rows["bad"]["error"]
    assert _rel(float(rows["ok"]["vbq"]), rle.expected["vbq"]) < 1e-12


def test_rust_panic_output_is_hidden_in_a_fresh_process(rle, tmp_path):
    """The whole command in a new process: stderr holds warnings and one error line."""
    folder = _copy(rle, tmp_path)
    victim = _file_of_slice(folder, rle.slice)
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([_overflowing_rle(ds.Rows, ds.Columns)])
    ds.save_as(victim)
    env = dict(os.environ, RUST_BACKTRACE="1")
    proc = subprocess.run([sys.executable, "-m", "vbq.cli", "score", str(folder), "--rois",
                           str(tmp_path / "rois.json")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2
    assert str(victim) in _one_error_line(proc.stderr)


# ------------------------------------------------- 2. damaged Enhanced MR functional groups
def test_damaged_functional_group_value_names_the_file_and_macro(enhanced, tmp_path, capfd):
    folder = _copy(enhanced, tmp_path)
    path = next(folder.rglob("*.dcm"))
    data = bytearray(path.read_bytes())
    start = data.find(b"\x00\x52\x30\x92")  # (5200,9230) Per-Frame Functional Groups
    ipp = data.find(b"\x20\x00\x32\x00DS", start)  # ImagePositionPatient of frame 1
    assert start > 0 and ipp > start
    data[ipp + 4:ipp + 6] = b"DQ"  # a VR that does not exist: pydicom fails on first use
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        index_folder(folder)
    msg = str(err.value)
    assert str(path) in msg and "functional groups" in msg and "frame 1" in msg
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and str(path) in _one_error_line(err_text)


def test_damaged_functional_groups_beside_another_series_are_warned(enhanced, plain, tmp_path):
    folder = _copy(enhanced, tmp_path)
    path = next(folder.rglob("*.dcm"))
    data = bytearray(path.read_bytes())
    ipp = data.find(b"\x20\x00\x32\x00DS", data.find(b"\x00\x52\x30\x92"))
    data[ipp + 4:ipp + 6] = b"DQ"
    path.write_bytes(bytes(data))
    shutil.copytree(plain.series_dir, folder / "other")
    choice = load_series(folder)
    assert any(w.code == "lost_file" and str(path) in str(w) and "functional groups" in str(w)
               for w in choice.warnings)


# --------------------------------------------------------- 3. files that may be lost slices
def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _zeros(p: Path) -> None:
    p.write_bytes(b"\0" * 100)


def _junk(p: Path) -> None:
    p.write_text("this is not an image\n")


def _bad_magic(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[128:132] = b"DICN"
    p.write_bytes(bytes(data))


DAMAGE = {"empty": (_empty, "is empty"), "all_zero_short": (_zeros, "is truncated"),
          "junk_named_dcm": (_junk, "not a DICOM file"),
          "damaged_magic": (_bad_magic, "damaged DICOM marker")}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_lost_slice_is_warned_and_index_rois_are_refused(plain, tmp_path, kind, capfd):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, plain.slice - 1)  # a slice below the measured one
    damage, needle = DAMAGE[kind]
    damage(victim)
    choice = load_series(folder)
    assert any(str(victim) in str(w) and needle in str(w) for w in choice.warnings), choice.warnings
    assert "slice_indexes_unsafe" in [w.code for w in choice.warnings]
    assert choice.series.incomplete and str(victim) in choice.series.incomplete
    with pytest.raises(InputError, match="given by index") as err:
        vbq.score_series(folder, rois=tmp_path / "rois.json")
    assert str(victim) in str(err.value)
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and "given by index" in _one_error_line(err_text)
    # patient-space ROIs still find the right slice
    res = vbq.score_series(folder, rois=tmp_path / "rois_patient.json")
    assert _rel(res.vbq, plain.expected["vbq"]) < 1e-12
    assert any(str(victim) in w and code == "slice_indexes_unsafe"
               for w, code in zip(res.warnings, res.warning_codes, strict=True))


def test_junk_named_like_the_slices_beside_it(plain, tmp_path):
    folder = _copy(plain, tmp_path)
    for p in sorted(folder.rglob("*.dcm")):
        p.rename(p.with_suffix(""))  # IM0001, IM0002, ... as many PACS export them
    victim = _file_of_slice(folder, plain.slice + 1)
    victim.write_text("not an image")
    (victim.parent / "README").write_text("notes about the study")
    choice = load_series(folder)
    assert any(w.code == "lost_file" and str(victim) in str(w)
               and "named like the DICOM images" in str(w) for w in choice.warnings)
    assert not any("README" in str(w) for w in choice.warnings)
    with pytest.raises(InputError, match="given by index"):
        vbq.score_series(folder, rois=tmp_path / "rois.json")


def test_unrelated_files_change_nothing(plain, tmp_path):
    folder = _copy(plain, tmp_path)
    (folder / "README").write_text("notes")
    (folder / ".keep").write_bytes(b"")
    choice = load_series(folder)
    assert choice.warnings == () and choice.series.incomplete is None
    res = vbq.score_series(folder, rois=tmp_path / "rois.json")
    assert _rel(res.vbq, plain.expected["vbq"]) < 1e-12


def test_duplicate_sop_instance_uid_of_another_image(plain, tmp_path, capfd):
    folder = _copy(plain, tmp_path)
    first = _file_of_slice(folder, plain.slice - 2)
    second = _file_of_slice(folder, plain.slice - 1)
    uid = pydicom.dcmread(first, stop_before_pixels=True).SOPInstanceUID
    ds = pydicom.dcmread(second)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(second)
    choice = load_series(folder)
    kept, dropped = sorted([first, second])  # the first in path order is kept, always
    assert any(w.code == "lost_file" and str(dropped) in str(w) and uid in str(w)
               for w in choice.warnings)
    assert [sl.path for sl in choice.series.slices].count(kept) == 1
    assert dropped not in [sl.path for sl in choice.series.slices]
    with pytest.raises(InputError, match="given by index"):
        vbq.score_series(folder, rois=tmp_path / "rois.json")
    with pytest.raises(InputError, match="two different files"):
        choice.series.slice_index(uid)
    res = vbq.score_series(folder, rois=tmp_path / "rois_patient.json")
    assert _rel(res.vbq, plain.expected["vbq"]) < 1e-12


def test_exact_copy_of_a_slice_is_read_once(plain, tmp_path):
    folder = _copy(plain, tmp_path)
    src = _file_of_slice(folder, 0)
    shutil.copy(src, folder / SERIES / "copy_of_first.dcm")
    choice = load_series(folder)
    assert len(choice.series) == 7 and choice.series.incomplete is None
    assert [w.code for w in choice.warnings] == ["lost_file"]
    assert "copy_of_first.dcm" in str(choice.warnings[0]) and "read once" in str(choice.warnings[0])
    res = vbq.score_series(folder, rois=tmp_path / "rois.json")
    assert _rel(res.vbq, plain.expected["vbq"]) < 1e-12


# ------------------------------------------------------------ 4. no SeriesInstanceUID
def test_missing_series_instance_uid_is_refused(plain, tmp_path, capfd):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, 0)
    ds = pydicom.dcmread(victim)
    del ds.SeriesInstanceUID
    ds.save_as(victim)
    with pytest.raises(InputError) as err:
        index_folder(folder)
    assert str(victim) in str(err.value) and "SeriesInstanceUID (0020,000E)" in str(err.value)
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and "SeriesInstanceUID" in _one_error_line(err_text)


# --------------------------------------------------------- 5. impossible geometry values
def _set_ds(path: Path, keyword: str, values: list[str]) -> None:
    """Write DS values as given (pydicom would refuse to write 'nan' itself)."""
    data = bytearray(path.read_bytes())
    tag = {"ImagePositionPatient": b"\x20\x00\x32\x00DS",
           "ImageOrientationPatient": b"\x20\x00\x37\x00DS",
           "PixelSpacing": b"\x28\x00\x30\x00DS",
           "RescaleSlope": b"\x28\x00\x53\x10DS",
           "RescaleIntercept": b"\x28\x00\x52\x10DS"}[keyword]
    at = data.find(tag)
    assert at > 0, keyword
    length = struct.unpack_from("<H", data, at + 6)[0]
    text = "\\".join(values).encode()
    text += b" " * (len(text) % 2)
    data[at + 6:at + 8 + length] = struct.pack("<H", len(text)) + text
    path.write_bytes(bytes(data))


GEOMETRY = [("ImagePositionPatient", ["nan", "0", "0"], "(0020,0032)"),
            ("ImagePositionPatient", ["1e308", "0", "0"], "(0020,0032)"),
            ("ImagePositionPatient", ["0", "-inf", "0"], "(0020,0032)"),
            ("ImageOrientationPatient", ["0", "1", "0", "0", "0", "nan"], "(0020,0037)"),
            ("ImageOrientationPatient", ["0", "1e308", "0", "0", "0", "-1"], "(0020,0037)"),
            ("PixelSpacing", ["inf", "0.5"], "(0028,0030)"),
            ("PixelSpacing", ["0.5", "1e308"], "(0028,0030)")]


@pytest.mark.parametrize("keyword, values, tag", GEOMETRY,
                         ids=[f"{k}={','.join(v)}" for k, v, _ in GEOMETRY])
def test_impossible_geometry_is_refused(plain, tmp_path, keyword, values, tag, capfd):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, 2)
    _set_ds(victim, keyword, values)
    assert pydicom.dcmread(victim, stop_before_pixels=True)[keyword].VM == len(values)
    with pytest.raises(InputError) as err:
        index_folder(folder)
    assert str(victim) in str(err.value) and f"{keyword} {tag}" in str(err.value)
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and keyword in _one_error_line(err_text)


@pytest.mark.parametrize("keyword, value, tag", [("RescaleIntercept", "-1e308", "(0028,1052)"),
                                                 ("RescaleSlope", "nan", "(0028,1053)"),
                                                 ("RescaleSlope", "inf", "(0028,1053)")])
def test_impossible_rescale_is_refused(plain, tmp_path, keyword, value, tag, capfd):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, plain.slice)
    ds = pydicom.dcmread(victim)
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"  # the phantom writes none: add them
    ds.save_as(victim)
    _set_ds(victim, keyword, [value])
    with pytest.raises(InputError) as err:
        index_folder(folder)
    assert str(victim) in str(err.value) and f"{keyword} {tag}" in str(err.value)
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and keyword in _one_error_line(err_text)


def test_damaged_transfer_syntax_uid_warns_nothing_stray(plain, tmp_path):
    import warnings

    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, 0)
    _swap_syntax(victim, "1.2.840.10008.1.2.1", "1.2n840.10008.1.2.1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = load_series(folder).series
        with pytest.raises(InputError) as err:
            series.pixels(0)
    assert [str(w.message) for w in caught] == []
    assert str(victim) in str(err.value)


def test_impossible_frame_position_in_enhanced_mr_is_refused(enhanced, tmp_path):
    folder = _copy(enhanced, tmp_path)
    path = next(folder.rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    item = ds.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence[0]
    item["ImagePositionPatient"].value = [0.0, float("nan"), 0.0]
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        ds.save_as(path)
    finally:
        pydicom.config.settings.writing_validation_mode = pydicom.config.WARN
    with pytest.raises(InputError) as err:
        index_folder(folder)
    msg = str(err.value)
    assert str(path) in msg and "ImagePositionPatient (0020,0032)" in msg and "frame 5" in msg


# -------------------------------------------------- 6. pixel data length against the header
def _rewrite(path: Path, **attrs) -> None:
    ds = pydicom.dcmread(path)
    for key, value in attrs.items():
        if key == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = value
        else:
            setattr(ds, key, value)
    ds.save_as(path)


def test_classic_image_with_columns_off_by_one_is_refused(plain, tmp_path, capfd):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, plain.slice)
    for path in folder.rglob("*.dcm"):  # the same wrong Columns in every file of the series
        _rewrite(path, Columns=63)
    rows, cols = 64, 63
    need = rows * cols * 2  # 16 bits allocated, by hand
    series = load_series(folder).series
    with pytest.raises(InputError) as err:
        series.pixels(plain.slice)
    msg = str(err.value)
    assert str(victim) in msg and f"has {64 * 64 * 2} bytes of pixel data" in msg
    assert f"need {need}" in msg
    rc, _, err_text = _cli(["score", folder, "--rois", tmp_path / "rois.json"], capfd)
    assert rc == 2 and str(victim) in _one_error_line(err_text)


def test_enhanced_mr_with_rows_off_by_one_is_refused(enhanced, tmp_path):
    folder = _copy(enhanced, tmp_path)
    path = next(folder.rglob("*.dcm"))
    _rewrite(path, Rows=65)
    series = load_series(folder).series
    with pytest.raises(InputError) as err:
        series.pixels(enhanced.slice)
    assert str(path) in str(err.value) and f"need {65 * 64 * 7 * 2}" in str(err.value)


def _swap_syntax(path: Path, old: str, new: str) -> None:
    """Relabel the file's TransferSyntaxUID in place (both UIDs pad to 20 bytes)."""
    data = path.read_bytes()
    a, b = old.encode() + b"\0", new.encode() + b"\0"
    assert len(a) == len(b) == 20 and data.count(a) == 1
    path.write_bytes(data.replace(a, b))


def test_native_pixels_labelled_compressed_are_refused(plain, tmp_path):
    folder = _copy(plain, tmp_path)
    victim = _file_of_slice(folder, plain.slice)
    _swap_syntax(victim, pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.RLELossless)
    with pytest.raises(InputError) as err:
        load_series(folder).series.pixels(plain.slice)
    assert str(victim) in str(err.value) and "uncompressed pixel data" in str(err.value)


def test_encapsulated_pixels_labelled_uncompressed_are_refused(rle, tmp_path):
    folder = _copy(rle, tmp_path)
    victim = _file_of_slice(folder, rle.slice)
    _swap_syntax(victim, pydicom.uid.RLELossless, pydicom.uid.ExplicitVRLittleEndian)
    with pytest.raises(InputError) as err:
        load_series(folder).series.pixels(rle.slice)
    assert str(victim) in str(err.value) and "encapsulated" in str(err.value)


def test_j2k_with_rows_off_by_one_is_an_error_naming_the_file(tmp_path):
    info = make_phantom(tmp_path / "j2k", rows=64, n_slices=5, seed=3, distractors="none",
                        compress="j2k")
    victim = _file_of_slice(Path(info.series_dir), info.slice)
    for path in Path(info.series_dir).rglob("*.dcm"):
        _rewrite(path, Rows=65)
    with pytest.raises(InputError) as err:
        load_series(info.series_dir).series.pixels(info.slice)
    assert str(victim) in str(err.value)


# ---------------------------------------------- 7. files written without the preamble
@pytest.mark.parametrize("kind", ["rle", "j2k", "enhanced", "enhanced_rle", "plain"])
def test_files_without_preamble_are_read_like_the_others(kind, tmp_path):
    kwargs = {"rle": {"compress": "rle"}, "j2k": {"compress": "j2k"},
              "enhanced": {"enhanced": True},
              "enhanced_rle": {"enhanced": True, "compress": "rle"}, "plain": {}}[kind]
    info = make_phantom(tmp_path / "ph", rows=64, n_slices=5, seed=3, distractors="none",
                        **kwargs)
    for path in Path(info.series_dir).rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.preamble = None
        pydicom.dcmwrite(path, ds, enforce_file_format=False)  # no preamble, no "DICM"
        assert path.read_bytes()[:2] == b"\x02\x00"
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert _rel(res.vbq, info.expected["vbq"]) < 1e-12
    ref = vbq.score_series(info.series_dir, rois=info.rois_patient_path)
    assert _rel(ref.vbq, info.expected["vbq"]) < 1e-12
    assert np.isfinite(res.vbq)


def test_pixel_files_without_a_slice_are_refused_when_a_slice_was_lost(plain, tmp_path, capfd):
    """With no slice named, pixel coordinates go on the middle slice, which a lost file shifts."""
    import json

    folder = _copy(plain, tmp_path)
    rois = json.loads((tmp_path / "rois.json").read_text())
    del rois["slice"]
    (tmp_path / "rois_noslice.json").write_text(json.dumps(rois))
    seeds = json.loads((Path(plain.series_dir).parent / "seeds.json").read_text())
    seeds.pop("slice", None)
    for s in seeds["seeds"]:
        s.pop("slice", None)
    (tmp_path / "seeds_noslice.json").write_text(json.dumps(seeds))
    # intact: the middle slice is the measured one, and both score
    assert load_series(folder).series.mid_slice == plain.slice
    res = vbq.score_series(folder, rois=tmp_path / "rois_noslice.json")
    assert _rel(res.vbq, plain.expected["vbq"]) < 1e-12
    # a lost slice file: the middle slice is now another one, so both are refused
    _file_of_slice(folder, 0).write_bytes(b"")
    for kind, name in (("rois", "rois_noslice.json"), ("seeds", "seeds_noslice.json")):
        with pytest.raises(InputError, match="no slice is named"):
            vbq.score_series(folder, **{kind: tmp_path / name})
        rc, _, err = _cli(["score", folder, f"--{kind}", tmp_path / name], capfd)
        assert rc == 2 and "middle slice" in _one_error_line(err)
