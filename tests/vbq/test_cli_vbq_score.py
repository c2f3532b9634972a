"""``vbq score`` end to end on a small phantom: output, QC figure, and every bad input.

Each bad input must give exit code 2 and exactly one line on stderr, no traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from vbq.cli import main
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("cli"), vbq=3.0, seed=1, rows=128, n_slices=5)


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_bad_input(rc, err, *needles):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vbq: error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def assert_analysis_failure(rc, err, *needles):
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vbq: error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def measured_file(ph) -> Path:
    uid = ph.expected["sop_instance_uid"]
    for p in ph.files["t1"]:
        if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == uid:
            return p
    raise AssertionError("measured slice not found")


def roi_file(tmp_path, ph, mutate):
    doc = json.loads(ph.rois_path.read_text())
    mutate(doc)
    path = tmp_path / "rois.json"
    path.write_text(json.dumps(doc))
    return path


# ------------------------------------------------------------------ good input


def test_json_output_matches_truth(ph, capsys, tmp_path):
    qc = tmp_path / "qc.png"
    rc, out, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--json", "--qc", qc],
                       capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)
    assert qc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_human_summary_and_exclusions(ph, capsys):
    rc, out, err = run(["score", ph.series_dir, "--rois", ph.rois_patient_path,
                        "--exclude", "L2=fracture"], capsys)
    assert rc == 0
    assert out.startswith("VBQ ") and "excluded (fracture)" in out
    assert "vbq: warning: excluded: L2 (fracture)" in err


def test_series_and_slice_options(ph, capsys):
    uid = ph.expected["series_instance_uid"]
    rc, out, _ = run(["score", ph.series_dir, "--rois", ph.rois_path, "--series", uid,
                      "--slice", str(ph.expected["slice"]), "--json"], capsys)
    assert rc == 0 and json.loads(out)["series"]["series_instance_uid"] == uid


def test_sr_output(ph, capsys, tmp_path):
    pytest.importorskip("highdicom")
    sr = tmp_path / "vbq_sr.dcm"
    rc, _, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--sr", sr], capsys)
    assert rc == 0, err
    assert pydicom.dcmread(sr).Modality == "SR"


def test_truncated_file_not_measured_is_skipped_with_a_warning(ph, capsys, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(ph.series_dir, folder)
    victim = next(p for p in ph.files["t1"] if p != measured_file(ph))
    target = folder / victim.relative_to(ph.series_dir)
    target.write_bytes(target.read_bytes()[:4000])
    rc, out, err = run(["score", folder, "--rois", ph.rois_path, "--json"], capsys)
    assert rc == 0, err
    assert target.name in err
    assert json.loads(out)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)


def test_real_console_script(ph, tmp_path):
    exe = Path(sys.executable).with_name("vbq")
    if not exe.exists():
        pytest.skip("console script not installed next to the interpreter")
    done = subprocess.run([exe, "score", ph.series_dir, "--rois", ph.rois_path, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["vbq"] == pytest.approx(ph.expected["vbq"], rel=1e-9)
    bad = subprocess.run([exe, "score", tmp_path, "--rois", ph.rois_path],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ bad input


def test_empty_folder(ph, capsys, tmp_path):
    assert_bad_input(*run(["score", tmp_path, "--rois", ph.rois_path], capsys)[::2])


def test_missing_folder(ph, capsys, tmp_path):
    assert_bad_input(*run(["score", tmp_path / "nope", "--rois", ph.rois_path], capsys)[::2])


def test_no_dicom_files(ph, capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    assert_bad_input(*run(["score", tmp_path, "--rois", ph.rois_path], capsys)[::2])


def test_truncated_measured_slice_is_an_error_naming_it(ph, capsys, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(ph.series_dir, folder)
    target = folder / measured_file(ph).relative_to(ph.series_dir)
    target.write_bytes(target.read_bytes()[:-2000])
    rc, _, err = run(["score", folder, "--rois", ph.rois_path], capsys)
    assert_bad_input(rc, err, target.name)


def _only(ph, tmp_path, key):
    folder = tmp_path / key
    folder.mkdir()
    for p in ph.files[key]:
        shutil.copy(p, folder / p.name)
    return folder


def test_only_axial_series(ph, capsys, tmp_path):
    folder = _only(ph, tmp_path, "axial")
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2])


def test_only_post_contrast_t1(ph, capsys, tmp_path):
    folder = _only(ph, tmp_path, "t1_post")
    assert_bad_input(*run(["score", folder, "--rois", ph.rois_path], capsys)[::2])


def test_roi_outside_the_image(ph, capsys, tmp_path):
    f = roi_file(tmp_path, ph, lambda d: d["rois"][0].update(center=[900.0, 900.0]))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    assert_bad_input(rc, err, "ROI 1 (L1)", "outside the image")


def test_roi_with_no_pixels(ph, capsys, tmp_path):
    def tiny(d):
        d["rois"][2] = {"label": "L3", "shape": "circle", "center": [60.5, 60.5], "radius": 0.3}
    rc, _, err = run(["score", ph.series_dir, "--rois", roi_file(tmp_path, ph, tiny)], capsys)
    assert_bad_input(rc, err, "ROI 3 (L3)", "no pixel")


def test_unknown_label(ph, capsys, tmp_path):
    f = roi_file(tmp_path, ph, lambda d: d["rois"][1].update(label="L7"))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    assert_bad_input(rc, err, "ROI 2", "unknown label 'L7'")


def test_unknown_key(ph, capsys, tmp_path):
    f = roi_file(tmp_path, ph, lambda d: d["rois"][3].update(radius2=4))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    assert_bad_input(rc, err, 'rois.json: ROI 4 (L4): unknown key "radius2"')


def test_csf_signal_not_positive(ph, capsys, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(ph.series_dir, folder)
    target = folder / measured_file(ph).relative_to(ph.series_dir)
    ds = pydicom.dcmread(target)
    ds.RescaleIntercept = -100000  # every pixel of the measured slice is now negative
    ds.save_as(target)
    rc, _, err = run(["score", folder, "--rois", ph.rois_path], capsys)
    # the files are well formed; the score cannot be computed from them: exit 1
    assert_analysis_failure(rc, err, "CSF ROI's signal intensity")


def test_too_few_levels_after_exclusions(ph, capsys):
    rc, _, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--exclude",
                      "L1=fracture", "--exclude", "L2=fracture", "--exclude", "L3=lesion"],
                     capsys)
    assert_analysis_failure(rc, err, "only 1 level(s) left (L4)")


def test_malformed_roi_json(ph, capsys, tmp_path):
    f = tmp_path / "rois.json"
    f.write_text(ph.rois_path.read_text().replace('"shape": "circle"', '"shape" "circle"'))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    assert_bad_input(rc, err, "rois.json: malformed JSON at line")


def test_bad_exclude_option(ph, capsys):
    rc, _, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--exclude", "L2"], capsys)
    assert_bad_input(rc, err, "--exclude", "LEVEL=REASON")


def test_bad_qc_suffix(ph, capsys, tmp_path):
    rc, _, err = run(["score", ph.series_dir, "--rois", ph.rois_path, "--qc",
                      tmp_path / "qc.jpg"], capsys)
    assert_bad_input(rc, err, ".png, .pdf or .svg")


def test_missing_roi_file(ph, capsys, tmp_path):
    rc, _, err = run(["score", ph.series_dir, "--rois", tmp_path / "none.json"], capsys)
    assert_bad_input(rc, err, "ROI file", "does not exist")
