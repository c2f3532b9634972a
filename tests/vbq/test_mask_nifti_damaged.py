"""Damaged NIfTI masks: one error line naming the file, nibabel's log kept off stderr.

Each damaged file is the phantom's own mask written as a single-file NIfTI
(voxels from byte 352 on) and then changed byte by byte, so what the error
must say (how many bytes the header promises, how many are there) is known
by construction.
"""

from __future__ import annotations

import io
import json
import logging
import struct

import nibabel as nib
import numpy as np
import pytest

from vbq.cli import main
from vbq.phantom import make_phantom

HEADER_END = 352  # a single-file NIfTI-1's voxels start here (348-byte header + 4-byte extender)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom_nifti")
    info = make_phantom(out, distractors=())
    img = nib.load(str(info.mask_path))
    labels = np.asarray(img.dataobj).astype(np.int16)
    plain = out / "plain.nii"
    nib.save(nib.Nifti1Image(labels, img.affine), str(plain))
    expected = json.loads(info.expected_path.read_text())
    return {"info": info, "plain": plain.read_bytes(), "labels": labels,
            "expected": expected}


@pytest.fixture
def listener():
    """A handler a library user put on nibabel's logger: it must hear nothing during a read."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("nibabel.global")
    logger.addHandler(handler)
    before = (list(logger.handlers), logger.propagate, logger.level)
    yield stream
    after = (list(logger.handlers), logger.propagate, logger.level)
    logger.removeHandler(handler)
    assert after == before, "nibabel's logger was left changed"


def _score(phantom, path, capsys):
    rc = main(["score", str(phantom["info"].series_dir), "--mask", str(path),
               "--labels", "totalspineseg", "--json"])
    out, err = capsys.readouterr()
    return rc, out, err


def _write(tmp_path, raw: bytes, name: str = "m.nii"):
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


def test_truncated_nifti_is_one_line_naming_the_file(phantom, tmp_path, capsys, listener):
    raw = phantom["plain"]
    kept = HEADER_END + 4648
    path = _write(tmp_path, raw[:kept], "cut.nii")
    rc, out, err = _score(phantom, path, capsys)
    need = phantom["labels"].size * 2  # int16 voxels
    assert rc == 2 and out == ""
    assert err.splitlines() == [
        f"vbq: error: mask cut.nii cannot be read as NIfTI: it holds {kept - HEADER_END} of the "
        f"{need} bytes of voxel data its header describes (truncated or damaged)"]
    assert listener.getvalue() == ""


@pytest.mark.parametrize(("code", "said"), [(0, "not supported"), (9999, "not recognized")])
def test_unknown_datatype_is_one_sentence_without_nibabel_log_lines(phantom, tmp_path, capsys,
                                                                     listener, code, said):
    raw = bytearray(phantom["plain"])
    struct.pack_into("<h", raw, 70, code)  # datatype
    path = _write(tmp_path, raw)
    rc, out, err = _score(phantom, path, capsys)
    assert rc == 2 and out == ""
    assert err.splitlines() == [f"vbq: error: mask m.nii cannot be read as NIfTI: its header's "
                                f"datatype code {code} is not a NIfTI data type vbq reads"]
    # nibabel's header check logs "data code ... not attempting fix" on its own logger
    assert listener.getvalue() == ""


@pytest.mark.parametrize(("offset", "words"), [
    (-352.0, "its header's vox_offset -352 is inside the header"),
    (float("nan"), "its header's vox_offset is not a number"),
    # nibabel reads vox_offset 0 from byte 0: every label would be shifted by the header
    (0.0, "its header's vox_offset is 0, inside the header (the voxels of a .nii file start "
          "at byte 352 or later)"),
])
def test_vox_offset_inside_the_header_is_refused(phantom, tmp_path, capsys, listener, offset,
                                                 words):
    raw = bytearray(phantom["plain"])
    struct.pack_into("<f", raw, 108, offset)
    path = _write(tmp_path, raw)
    rc, out, err = _score(phantom, path, capsys)
    assert rc == 2 and out == ""
    assert err.splitlines() == [f"vbq: error: mask m.nii cannot be read as NIfTI: {words}"]
    assert listener.getvalue() == ""


def test_a_header_check_note_on_a_readable_file_is_a_warning(phantom, tmp_path, capsys,
                                                             listener):
    # voxels moved to byte 360: readable, but nibabel's check logs that 360 is not a
    # multiple of 16; the labels are the phantom's, so the score is the plain mask's
    raw = phantom["plain"]
    moved = bytearray(raw[:HEADER_END]) + bytes(8) + raw[HEADER_END:]
    struct.pack_into("<f", moved, 108, 360.0)
    path = _write(tmp_path, moved)
    plain = _write(tmp_path, raw, "plain.nii")
    rc, out, err = _score(phantom, path, capsys)
    rc0, out0, _ = _score(phantom, plain, capsys)
    assert rc == 0 and rc0 == 0
    res, ref = json.loads(out), json.loads(out0)
    assert res["vbq"] == ref["vbq"]  # the same voxels, read from the new offset
    assert res["vbq"] == pytest.approx(phantom["expected"]["vbq"], rel=0.01)
    note = ("mask m.nii: nibabel's header check: vox offset (=360) not divisible by 16, not "
            "SPM compatible; leaving at current value")
    assert note in res["warnings"]
    assert f"vbq: warning: {note}" in err.splitlines()
    assert listener.getvalue() == ""


def test_captured_log_restores_the_logger_even_when_the_read_fails():
    from vbq.fileio import captured_log

    logger = logging.getLogger("vbq.test.captured")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        with pytest.raises(RuntimeError), captured_log("vbq.test.captured") as notes:
            logger.warning("first\n  second")
            logger.info("below the level: not collected")
            raise RuntimeError("read failed")
        assert notes == ["first second"]
        assert logger.handlers == [handler] and logger.propagate is True
        logger.warning("after")
        assert stream.getvalue() == "after\n"
    finally:
        logger.removeHandler(handler)


def test_every_error_the_cli_prints_is_one_line(tmp_path, capsys):
    # an id with a line break inside a quoted cell: the row's error names it
    table = tmp_path / "pacs.csv"
    table.write_text('id,L1,L2,L3,L4,CSF\n"a\nb",410,x,402,388,131\n')
    rc = main(["from-values", str(table)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert err.splitlines() == [
        "vbq: error: pacs.csv row 1 (id a b), column L2: 'x' is not a number",
        "vbq: 1 of 1 rows could not be scored"]


def test_one_line():
    from vbq.errors import one_line

    assert one_line("Expected 10 bytes, got 4 bytes\n - could the file be damaged?") == \
        "Expected 10 bytes, got 4 bytes - could the file be damaged?"
    assert one_line("  a\tb\r\n") == "a b"
