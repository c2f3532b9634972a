"""Damaged folders, unwritable outputs and odd tables: one sentence, exit 2, nothing lost.

Truth by construction: where a score is still expected it must equal the
phantom's ``expected.json``; where the input is bad, ``vbq`` must exit 2 with
exactly one ``vbq: error:`` line naming the file, row or option at fault.
"""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from vbq.cli import main
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("bad"), vbq=3.0, seed=2, rows=128, n_slices=5)


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_bad_input(rc, err, *needles, warnings=False):
    assert rc == 2, err
    lines = err.strip().splitlines()
    if warnings:  # the result's warnings were printed before the output failed
        lines = [ln for ln in lines if not ln.startswith("vbq: warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("vbq: error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def copy_series(ph, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(ph.series_dir, folder)
    return folder


def t1_file(ph, folder, measured: bool):
    uid = ph.expected["sop_instance_uid"]
    for p in ph.files["t1"]:
        is_measured = pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == uid
        if is_measured == measured:
            return folder / p.relative_to(ph.series_dir)
    raise AssertionError("no such file")


# ------------------------------------------------------------ files lost from the stack


def test_header_cut_t1_file_refuses_slice_by_index(ph, capsys, tmp_path):
    # the file drops out of the stack, so "slice N" would silently name another slice
    folder = copy_series(ph, tmp_path)
    victim = t1_file(ph, folder, measured=False)
    victim.write_bytes(victim.read_bytes()[:400])
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2],
                     victim.name, "SOP Instance UID")
    # patient space does not depend on indexes: the score is the truth, with a warning
    rc, out, err = run(["score", folder, "--rois", ph.rois_patient_path, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)
    assert victim.name in err and "shifted" in err


def test_header_cut_file_of_another_series_is_only_a_warning(ph, capsys, tmp_path):
    folder = copy_series(ph, tmp_path)
    victim = folder / ph.files["t2"][0].relative_to(ph.series_dir)
    victim.write_bytes(victim.read_bytes()[:400])
    rc, out, err = run(["score", folder, "--rois", ph.rois_path, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)
    assert victim.name in err and "shifted" not in err


def test_t1_file_without_position_refuses_slice_by_index(ph, capsys, tmp_path):
    folder = copy_series(ph, tmp_path)
    victim = t1_file(ph, folder, measured=False)
    ds = pydicom.dcmread(victim)
    del ds.ImagePositionPatient
    ds.save_as(victim)
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2],
                     victim.name, "ImagePositionPatient")


def test_file_without_pixel_data_keeps_its_place(ph, capsys, tmp_path):
    folder = copy_series(ph, tmp_path)
    other = t1_file(ph, folder, measured=False)
    ds = pydicom.dcmread(other)
    del ds.PixelData
    ds.save_as(other)
    rc, out, err = run(["score", folder, "--rois", ph.rois_path, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)
    measured = t1_file(ph, folder, measured=True)
    ds = pydicom.dcmread(measured)
    del ds.PixelData
    ds.save_as(measured)
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2],
                     measured.name, "no pixel data")


def test_slice_option_out_of_range_names_the_option_not_the_roi_file(ph, capsys):
    rc, _, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--slice", "99"], capsys)
    assert_bad_input(rc, err, "slice 99", "asked for")
    assert ph.rois_path.name not in err


# ------------------------------------------------------------ outputs that cannot be written


@pytest.mark.parametrize("case", ["sr_folder", "qc_under_a_file", "sr_fifo"])
def test_outputs_that_cannot_be_written_are_refused_before_anything(ph, capsys, tmp_path,
                                                                     case):
    """A folder, a path under a file or a pipe (as a device: a file written beside it and
    moved onto it would replace it): refused before scoring, with the option named; an
    existing output of the same run is left as it was, and so is the pipe."""
    import os

    qc = tmp_path / "qc.png"
    qc.write_bytes(b"an earlier figure")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    if case == "sr_fifo":
        os.mkfifo(tmp_path / "pipe.dcm")
    args = {"sr_folder": ["--qc", qc, "--sr", tmp_path],
            "qc_under_a_file": ["--qc", blocker / "qc.png"],
            "sr_fifo": ["--qc", qc, "--sr", tmp_path / "pipe.dcm"]}[case]
    rc, out, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--json", *args],
                       capsys)
    option = "--qc" if case == "qc_under_a_file" else "--sr"
    assert_bad_input(rc, err, option)
    assert out == ""
    assert qc.read_bytes() == b"an earlier figure" and blocker.read_text() == "x"
    if case == "sr_fifo":
        assert not (tmp_path / "pipe.dcm").is_file()


def test_an_output_failing_as_it_is_written_keeps_the_json(ph, capsys, tmp_path,
                                                           monkeypatch):
    """A disk that fills up while the figure is written: the result was printed first."""
    from vbq.result import VBQResult

    def full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VBQResult, "save_qc", full)
    rc, out, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--json",
                        "--qc", tmp_path / "qc.png"], capsys)
    assert_bad_input(rc, err, "QC figure", "qc.png", "No space left", warnings=True)
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)


def test_a_roi_file_that_is_a_pipe_is_refused_not_waited_on(ph, capsys, tmp_path):
    import os

    os.mkfifo(tmp_path / "rois.json")
    assert_bad_input(*run(["score", ph.series_dir, "--rois", tmp_path / "rois.json"],
                          capsys)[::2], "rois.json", "not a regular file")


# ------------------------------------------------------------ from-values tables


def test_from_values_duplicate_id_is_a_bad_row(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\np1,410,395,402,388,131\np1,400,390,400,380,130\n")
    rc, out, err = run(["from-values", table], capsys)
    assert rc == 2
    assert "row 2" in err and "'p1'" in err and "Traceback" not in err
    rows = out.strip().splitlines()
    assert len(rows) == 3  # header + both rows, the first one scored
    assert rows[1].startswith("p1,3.04198")


def test_from_values_header_only(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\n")
    assert_bad_input(*run(["from-values", table], capsys)[::2], "no data rows")


def test_from_values_out_is_a_folder(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\np1,410,395,402,388,131\n")
    assert_bad_input(*run(["from-values", table, "--out", tmp_path], capsys)[::2], "folder")


# ------------------------------------------------------------ batch outputs


@pytest.fixture()
def manifest(ph, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"id,series,rois\np1,{ph.series_dir},{ph.rois_path}\n")
    return path


def test_batch_out_is_the_manifest(manifest, capsys):
    before = manifest.read_text()
    assert_bad_input(*run(["batch", manifest, "--out", manifest], capsys)[::2], "manifest")
    assert manifest.read_text() == before


def test_batch_out_is_a_folder(manifest, capsys, tmp_path):
    assert_bad_input(*run(["batch", manifest, "--out", tmp_path], capsys)[::2], "folder")


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"\x9c\xff\x00garbage"])
def test_batch_resume_refuses_a_file_it_did_not_write(manifest, capsys, tmp_path, content):
    out = tmp_path / "results.csv"
    out.write_bytes(content)
    assert_bad_input(*run(["batch", manifest, "--out", out, "--resume"], capsys)[::2],
                     "--resume", out.name)
    assert out.read_bytes() == content


# ------------------------------------------------------------ masks, seeds, phantom, demo


def test_mask_of_another_file_type(ph, capsys, tmp_path):
    txt = tmp_path / "mask.txt"
    txt.write_text("not a mask\n")
    rc, _, err = run(["score", ph.series_dir, "--mask", txt], capsys)
    assert_bad_input(rc, err, "mask.txt", "NIfTI")
    assert "force=True" not in err


def test_mask_given_as_a_folder(ph, capsys, tmp_path):
    assert_bad_input(*run(["score", ph.series_dir, "--mask", tmp_path], capsys)[::2],
                     str(tmp_path), "folder")


def test_seed_file_slice_out_of_range_names_the_file(ph, capsys, tmp_path):
    doc = json.loads(ph.seeds_path.read_text())
    doc["slice"] = 99
    path = tmp_path / "myseeds.json"
    path.write_text(json.dumps(doc))
    assert_bad_input(*run(["score", ph.series_dir, "--seeds", path], capsys)[::2],
                     "myseeds.json", "slice 99")


def test_undecodable_pixel_data_is_one_line(ph, capsys, tmp_path):
    from pydicom.encaps import encapsulate

    folder = copy_series(ph, tmp_path)
    measured = t1_file(ph, folder, measured=True)
    ds = pydicom.dcmread(measured)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"  # JPEG 2000, broken stream
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(measured)
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2],
                     measured.name)


@pytest.mark.parametrize("argv, needle", [
    (["--seed", "-1"], "seed -1"),
    (["--rescale-intercept", "1e308"], "intercept"),
])
def test_phantom_bad_options(capsys, tmp_path, argv, needle):
    assert_bad_input(*run(["phantom", tmp_path / "p", *argv], capsys)[::2], needle)
    assert not (tmp_path / "p").exists()


def test_phantom_never_overwrites_files(capsys, tmp_path):
    mine = tmp_path / "rois.json"
    mine.write_text("my own ROIs\n")
    assert_bad_input(*run(["phantom", tmp_path], capsys)[::2], "rois.json")
    assert mine.read_text() == "my own ROIs\n"


@pytest.mark.parametrize("command", ["phantom", "demo"])
def test_output_folder_is_a_file(capsys, tmp_path, command):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    argv = [command, blocker] if command == "phantom" else [command, "--out", blocker]
    assert_bad_input(*run(argv, capsys)[::2], str(blocker))
    assert blocker.read_text() == "x"


def test_top_level_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out and all(c in out for c in ("score", "batch", "from-values"))


# ------------------------------------------------ manifests and ROI files as people write them


def test_batch_empty_series_cell_is_that_rows_error(ph, capsys, tmp_path):
    # an empty cell must not mean "the manifest's own folder"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,series,rois\nempty,,{ph.rois_path}\n"
                        f"good,{ph.series_dir},{ph.rois_path}\n")
    out = tmp_path / "r.csv"
    rc, _, err = run(["batch", manifest, "--out", out], capsys)
    assert rc == 1, err
    rows = {r.split(",")[0]: r for r in out.read_text().splitlines()[1:]}
    assert "the 'series' column is empty" in rows["empty"]
    assert rows["good"].startswith("good,ok,")


def test_batch_manifest_with_semicolons_and_capitalised_header(ph, capsys, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"ID;Series;ROIs\np1;{ph.series_dir};{ph.rois_path}\n")
    out = tmp_path / "r.csv"
    rc, _, err = run(["batch", manifest, "--out", out], capsys)
    assert rc == 0, err
    assert float(out.read_text().splitlines()[1].split(",")[2]) == pytest.approx(
        ph.expected["vbq"], rel=1e-9)


def test_empty_folder_argument(ph, capsys):
    assert_bad_input(*run(["score", "", "--rois", ph.rois_path], capsys)[::2], "empty")


def test_roi_file_with_byte_order_mark(ph, capsys, tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + ph.rois_path.read_bytes())
    rc, out, err = run(["score", ph.series_dir, "--rois", path, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)


@pytest.mark.parametrize("radius, needle", [(-5, "must be positive, got -5"),
                                            ("5", "finite number")])
def test_radius_messages_show_the_value_given(ph, capsys, tmp_path, radius, needle):
    doc = json.loads(ph.rois_path.read_text())
    roi = next(r for r in doc["rois"] if r["shape"] == "circle")
    roi["radius"] = radius
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    assert_bad_input(*run(["score", ph.series_dir, "--rois", path], capsys)[::2], needle)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes here")
def test_named_pipe_and_broken_link_in_the_folder_are_ignored(ph, capsys, tmp_path):
    import os

    folder = copy_series(ph, tmp_path)
    os.mkfifo(folder / "pipe.dcm")  # opening it for reading would wait forever
    (folder / "gone.dcm").symlink_to(tmp_path / "nowhere")
    rc, out, err = run(["score", folder, "--rois", ph.rois_path, "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)


def test_mask_on_a_stack_with_a_lost_slice_names_the_lost_file(ph, capsys, tmp_path):
    folder = copy_series(ph, tmp_path)
    victim = t1_file(ph, folder, measured=False)
    victim.write_bytes(victim.read_bytes()[:400])
    assert_bad_input(*run(["score", folder, "--mask", ph.mask_path], capsys)[::2],
                     "shape differs", victim.name)


# ------------------------------------------------ a CSF ROI at a level the protocol does not allow


def _csf_at_t12(source, path):
    doc = json.loads(source.read_text())
    number = next(i for i, r in enumerate(doc["rois"], start=1) if r["label"] == "CSF")
    for r in doc["rois"]:
        if r["label"] == "CSF":
            r["level"] = "T12"
    path.write_text(json.dumps(doc))
    return f'{path.name}: ROI {number} (CSF): "level" is T12, which protocol lumbar does not ' \
           "allow for the CSF (allowed: L3, L2, L1)"


@pytest.mark.parametrize("space", ["pixel", "patient"])
def test_a_csf_roi_at_a_level_the_protocol_does_not_allow_names_the_file_roi_and_key(
        ph, capsys, tmp_path, space):
    source = ph.rois_path if space == "pixel" else ph.out_dir / "rois_patient.json"
    sentence = _csf_at_t12(source, tmp_path / f"rois_t12_{space}.json")
    rc, out, err = run(["score", ph.series_dir, "--rois", tmp_path / f"rois_t12_{space}.json",
                        "--json"], capsys)
    assert rc == 2
    assert err == f"vbq: error: {sentence}\n"
    assert out == ""


def test_a_csf_roi_at_a_level_the_protocol_does_not_allow_is_its_batch_rows_error(
        ph, capsys, tmp_path):
    sentence = _csf_at_t12(ph.rois_path, tmp_path / "rois_t12.json")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,series,rois\nbad,{ph.series_dir},{tmp_path / 'rois_t12.json'}\n"
                        f"good,{ph.series_dir},{ph.rois_path}\n")
    out = tmp_path / "r.csv"
    rc, _, err = run(["batch", manifest, "--out", out], capsys)
    assert rc == 1, err
    import csv

    rows = {r["id"]: r for r in csv.DictReader(out.open(newline=""))}
    assert rows["bad"]["status"] == "error" and rows["bad"]["error"] == sentence
    assert rows["good"]["status"] == "ok"
