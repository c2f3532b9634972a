"""Enhanced MR Image Storage (multi-frame): index, choice, pixels and score.

Truth by construction: the enhanced phantom renders the same images as the classic
phantom of the same arguments (same noise stream), so every frame must equal the
classic file of the same position, and the score must equal ``expected.json``
(computed from the integer pixels before they were written).
"""

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

import vbq
from vbq.cli import main
from vbq.dicom import ENHANCED_MR_SOP_CLASS, SliceRef, index_folder, load_series, pixels
from vbq.errors import InputError
from vbq.phantom import make_phantom

ARGS = dict(rows=96, n_slices=5, seed=5, distractors="t2,t1_post", rescale_slope=0.5,
            rescale_intercept=3.0)


@pytest.fixture(scope="module")
def enhanced(tmp_path_factory):
    """T1 sagittal as one multi-frame file; T2 and post-contrast T1 as classic files."""
    return make_phantom(tmp_path_factory.mktemp("enh"), enhanced=True, **ARGS)


@pytest.fixture(scope="module")
def reversed_frames(tmp_path_factory):
    """The same, with frames stored in reversed order of position (and all enhanced)."""
    return make_phantom(tmp_path_factory.mktemp("enh_rev"), enhanced="t1,t2,t1_post",
                        reverse_instance_numbers=True, **ARGS)


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """The classic single-frame phantom of the same arguments."""
    return make_phantom(tmp_path_factory.mktemp("classic"), **ARGS)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _check_score(res, exp, tol=1e-9):
    assert _rel(res.vbq, exp["vbq"]) < tol
    for level in ("L1", "L2", "L3", "L4"):
        assert _rel(res.levels[level].si, exp["levels"][level]["mean"]) < tol
        assert res.levels[level].measurement.n_pixels == exp["levels"][level]["n_pixels"]
    assert _rel(res.csf.si, exp["csf"]["mean"]) < tol
    assert res.csf.measurement.n_pixels == exp["csf"]["n_pixels"]


def test_t1_series_is_one_enhanced_file(enhanced):
    assert len(enhanced.files["t1"]) == 1
    ds = pydicom.dcmread(enhanced.files["t1"][0], stop_before_pixels=True)
    assert ds.SOPClassUID == ENHANCED_MR_SOP_CLASS and int(ds.NumberOfFrames) == 5
    assert "ImagePositionPatient" not in ds and "RepetitionTime" not in ds
    assert len(ds.PerFrameFunctionalGroupsSequence) == 5


@pytest.mark.parametrize("rois", ["rois_path", "rois_patient_path"])
def test_score_equals_expected(enhanced, rois):
    res = vbq.score_series(enhanced.series_dir, rois=getattr(enhanced, rois))
    _check_score(res, enhanced.expected)
    assert res.series["series_instance_uid"] == enhanced.series_instance_uid
    assert res.sop_instance_uid == enhanced.expected["sop_instance_uid"]


def test_series_choice_and_metadata_as_classic(enhanced, classic):
    ce, cc = load_series(enhanced.series_dir), load_series(classic.series_dir)
    assert ce.series.series_instance_uid == enhanced.series_instance_uid
    assert ce.warnings == cc.warnings == ()
    why = {uid: reason for uid, _, reason in ce.rejected}
    assert "T2" in why[enhanced.distractor_uids["t2"]]
    assert "post-contrast" in why[enhanced.distractor_uids["t1_post"]]
    me, mc = ce.series.metadata(), cc.series.metadata()
    for key in ("tr_ms", "te_ms", "field_strength_t", "pixel_bandwidth", "manufacturer",
                "model", "description", "plane", "n_slices", "contrast_agent"):
        assert me[key] == mc[key], key
    assert me["tr_ms"] == 520.0 and me["te_ms"] == 12.0 and me["pixel_bandwidth"] == 190.0


def test_frames_equal_classic_slices(enhanced, classic):
    se, sc = load_series(enhanced.series_dir).series, load_series(classic.series_dir).series
    assert len(se) == len(sc) == 5
    for k in range(5):
        assert se.slices[k].frame_number == k + 1
        assert se.slices[k].geometry.same_plane_grid(sc.slices[k].geometry, tol=1e-9)
        assert se.slices[k].position == pytest.approx(sc.slices[k].position, abs=1e-9)
        np.testing.assert_array_equal(se.pixels(k), sc.pixels(k))
    np.testing.assert_allclose(se.affine_ras(), sc.affine_ras(), atol=1e-9)


def test_frames_sorted_by_position_not_frame_number(reversed_frames, classic):
    s = load_series(reversed_frames.series_dir).series
    sc = load_series(classic.series_dir).series
    assert [sl.frame_number for sl in s.slices] == [5, 4, 3, 2, 1]
    assert np.all(np.diff([sl.position for sl in s.slices]) > 0)
    for k in range(5):
        np.testing.assert_array_equal(s.pixels(k), sc.pixels(k))
    exp = reversed_frames.expected
    assert exp["frame"] == 3 and s.slices[exp["slice"]].identity == {
        "sop_instance_uid": exp["sop_instance_uid"], "frame": 3}
    _check_score(vbq.score_series(reversed_frames.series_dir, rois=reversed_frames.rois_path),
                 exp)
    # distractors written as enhanced files are rejected for the same reasons
    why = {uid: r for uid, _, r in load_series(reversed_frames.series_dir).rejected}
    assert "T2" in why[reversed_frames.distractor_uids["t2"]]
    assert "Gadolinium" in why[reversed_frames.distractor_uids["t1_post"]]


def test_roi_file_names_slice_by_uid_and_frame(reversed_frames, tmp_path):
    exp = reversed_frames.expected
    rois = json.loads(reversed_frames.rois_path.read_text())
    rois["slice"] = {"sop_instance_uid": exp["sop_instance_uid"], "frame": exp["frame"]}
    path = tmp_path / "rois_frame.json"
    path.write_text(json.dumps(rois))
    res = vbq.score_series(reversed_frames.series_dir, rois=path)
    _check_score(res, exp)
    assert res.slice_index == exp["slice"]
    # another frame is another slice (the ROIs then measure other pixels)
    rois["slice"]["frame"] = 1
    path.write_text(json.dumps(rois))
    assert vbq.score_series(reversed_frames.series_dir, rois=path).slice_index == 4


@pytest.mark.parametrize("slice_ref, message", [
    ({"frame": 2}, "sop_instance_uid"),
    ({"sop_instance_uid": "1.2.3", "frame": 0}, "frame"),
    ({"sop_instance_uid": "1.2.3", "frame": "2"}, "frame"),
    ({"sop_instance_uid": "1.2.3", "frame": 2, "x": 1}, '"x"'),
])
def test_bad_frame_reference_names_the_file(enhanced, tmp_path, slice_ref, message):
    rois = json.loads(enhanced.rois_path.read_text())
    rois["slice"] = slice_ref
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rois))
    with pytest.raises(InputError, match=message) as err:
        vbq.score_series(enhanced.series_dir, rois=path)
    assert "bad.json" in str(err.value)


def test_slice_index_by_uid_and_frame(enhanced):
    s = load_series(enhanced.series_dir).series
    uid = enhanced.expected["sop_instance_uid"]
    assert s.slice_index(uid, frame=4) == 3
    assert s.slice_index(SliceRef(uid=uid, frame=2)) == 1
    assert s.slice_index({"sop_instance_uid": uid, "frame": 5}) == 4
    with pytest.raises(InputError, match="name the frame too"):
        s.slice_index(uid)
    with pytest.raises(InputError, match=r"frame 9 .* frames are 1 to 5"):
        s.slice_index(uid, frame=9)
    with pytest.raises(InputError, match="not a slice"):
        s.slice_index("1.2.3", frame=1)


def test_only_the_measured_frame_is_read(enhanced, monkeypatch):
    """One frame decoded, straight from its byte offset (no full-file decode by pydicom)."""
    calls = []
    real = pixels.read_native

    def counting(sl):
        arr = real(sl)
        calls.append((sl.frame_number, arr is not None))
        return arr

    series = index_folder(enhanced.series_dir).get(enhanced.series_instance_uid)
    monkeypatch.setattr(pixels, "read_native", counting)
    real_dcmread = pydicom.dcmread

    def dcmread_headers_only(*args, **kwargs):
        assert kwargs.get("stop_before_pixels"), "pixel data read by dcmread"
        return real_dcmread(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", dcmread_headers_only)
    series.pixels(enhanced.slice)
    assert calls == [(enhanced.slice + 1, True)]


def test_compressed_enhanced_decodes_one_frame(tmp_path, classic):
    info = make_phantom(tmp_path / "j2k", enhanced=True, compress="j2k", **ARGS)
    ds = pydicom.dcmread(info.files["t1"][0], stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    _check_score(vbq.score_series(info.series_dir, rois=info.rois_patient_path),
                 info.expected)
    s, sc = load_series(info.series_dir).series, load_series(classic.series_dir).series
    np.testing.assert_array_equal(s.pixels(0), sc.pixels(0))


def test_missing_plane_position_is_reported(enhanced, tmp_path):
    ds = pydicom.dcmread(enhanced.files["t1"][0])
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    folder = tmp_path / "broken"
    folder.mkdir()
    ds.save_as(folder / "enh.dcm")
    with pytest.raises(InputError, match="ImagePositionPatient for frame 2"):
        index_folder(folder)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy not installed")
@pytest.mark.parametrize("name", ["t1", "t1_post"])
def test_dciodvfy_finds_no_error(reversed_frames, name):
    out = subprocess.run(["dciodvfy", str(reversed_frames.files[name][0])],
                         capture_output=True, text=True, check=False)
    text = out.stdout + out.stderr
    assert "EnhancedMRImage" in text
    assert not [line for line in text.splitlines() if line.startswith("Error")], text


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix not installed")
def test_dcm2niix_converts_it(enhanced, tmp_path):
    import nibabel as nib

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(enhanced.files["t1"][0], src / "enh.dcm")
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(["dcm2niix", "-z", "n", "-f", "t1", "-o", str(out), str(src)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    img = nib.load(out / "t1.nii")
    assert img.shape[:3] in ((96, 96, 5),)
    sidecar = json.loads((out / "t1.json").read_text())
    assert sidecar["RepetitionTime"] == pytest.approx(0.52)
    assert sidecar["EchoTime"] == pytest.approx(0.012)
    # the same voxels as our reader, whatever order dcm2niix chose
    series = load_series(enhanced.series_dir).series
    ours = np.stack([series.pixels(k) for k in range(5)])
    theirs = np.asarray(img.dataobj, dtype=np.float64)
    assert np.sort(theirs.ravel()) == pytest.approx(np.sort(ours.ravel()), abs=1e-6)


def test_cli_phantom_enhanced(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "p"), "--enhanced", "--size", "64", "--slices",
                 "3", "--distractors", "none"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frame"] == 2
    files = sorted((tmp_path / "p" / "series").rglob("*.dcm"))
    assert len(files) == 1
    res = vbq.score_series(summary["series_dir"], rois=summary["rois"])
    assert _rel(res.vbq, summary["vbq"]) < 1e-9


def test_unknown_enhanced_series_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="enhanced series 'axial'"):
        make_phantom(tmp_path / "p", rows=64, n_slices=3, distractors="t2", enhanced="axial")


def test_series_split_over_several_enhanced_files(enhanced, classic, tmp_path):
    """Frames 1-2 in one file, 3-5 in another (same series): five slices, by position."""
    full = pydicom.dcmread(enhanced.files["t1"][0])
    frames = full.pixel_array
    folder = tmp_path / "split"
    folder.mkdir()
    uids = []
    for part, (lo, hi) in enumerate(((3, 5), (0, 3))):
        ds = pydicom.dcmread(enhanced.files["t1"][0])
        ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[lo:hi]
        ds.NumberOfFrames = hi - lo
        ds.PixelData = np.ascontiguousarray(frames[lo:hi]).tobytes()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.9.{part}"
        ds.InstanceNumber = part + 1
        ds.save_as(folder / f"part{part}.dcm")
        uids.append(ds.SOPInstanceUID)
    index = index_folder(folder)
    assert len(index.series) == 1
    s = index.series[0]
    sc = load_series(classic.series_dir).series
    assert [(sl.sop_instance_uid, sl.frame_number) for sl in s.slices] == [
        (uids[1], 1), (uids[1], 2), (uids[1], 3), (uids[0], 1), (uids[0], 2)]
    for k in range(5):
        np.testing.assert_array_equal(s.pixels(k), sc.pixels(k))
    assert s.slice_index(uids[0], frame=2) == 4
    choice = load_series(folder)
    assert choice.series.incomplete is None and choice.warnings == ()
