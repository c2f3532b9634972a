"""The synthetic lumbar phantom: truth by construction, geometry of its outputs, validity."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from vbq.cli import main
from vbq.dicom import load_series
from vbq.phantom import TISSUE, make_phantom, roi_membership
from vbq.score import score_series

LEVEL_LABEL = {"L1": 41, "L2": 42, "L3": 43, "L4": 44, "L5": 45}


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    """The default phantom: 256 x 256 x 15, every distractor."""
    return make_phantom(tmp_path_factory.mktemp("ph"))


def _mid_values(info):
    s = load_series(info.series_dir).series
    return s, s.pixels(info.slice)


def _stats_by_hand(values: np.ndarray, roi: dict) -> tuple[float, int]:
    """ROI mean by explicit per-shape formulas written out separately from the phantom."""
    rows, cols = values.shape
    if roi["shape"] == "rectangle":
        (r0, c0), (h, w) = roi["corner"], roi["size"]
        ra, rb = int(np.ceil(r0)), int(np.ceil(r0 + h))  # first row >= r0, first row >= r0+h
        ca, cb = int(np.ceil(c0)), int(np.ceil(c0 + w))
        block = values[ra:rb, ca:cb]
        return float(block.mean()), block.size
    if roi["shape"] in ("circle", "ellipse"):
        r0, c0 = roi["center"]
        ry, rx = (roi["radius"],) * 2 if roi["shape"] == "circle" else roi["radii"]
        picked = []
        for r in range(int(r0 - ry) - 1, int(r0 + ry) + 2):
            half = rx * np.sqrt(max(0.0, 1.0 - ((r - r0) / ry) ** 2))
            for c in range(int(c0 - half) - 1, int(c0 + half) + 2):
                if ((r - r0) / ry) ** 2 + ((c - c0) / rx) ** 2 <= 1.0:
                    picked.append(values[r, c])
        return float(np.mean(picked)), len(picked)
    # polygon: matplotlib's path test on pixel centres (independent implementation)
    from matplotlib.path import Path as MplPath

    rr, cc = np.mgrid[0:rows, 0:cols]
    inside = MplPath(np.asarray(roi["points"])).contains_points(
        np.column_stack([rr.ravel(), cc.ravel()])).reshape(rows, cols)
    return float(values[inside].mean()), int(inside.sum())


def test_expected_json_matches_written_pixels(ph):
    _, values = _mid_values(ph)
    rois = json.loads(ph.rois_path.read_text())["rois"]
    means = {}
    for roi in rois:
        mean, n = _stats_by_hand(values, roi)
        key = ph.expected["csf"] if roi["label"] == "CSF" else ph.expected["levels"][roi["label"]]
        assert n == key["n_pixels"]
        assert mean == pytest.approx(key["mean"], rel=1e-12)
        means[roi["label"]] = mean
    vbq = np.median([means[k] for k in ("L1", "L2", "L3", "L4")]) / means["CSF"]
    assert ph.expected["vbq"] == pytest.approx(vbq, rel=1e-12)
    assert json.loads(ph.expected_path.read_text()) == ph.expected


def test_roi_shapes_and_formats(ph):
    doc = json.loads(ph.rois_path.read_text())
    assert doc["format"] == "vbq-rois/1" and doc["space"] == "pixel" and doc["slice"] == 7
    shapes = {r["label"]: r["shape"] for r in doc["rois"]}
    assert shapes == {"L1": "ellipse", "L2": "polygon", "L3": "circle", "L4": "rectangle",
                      "CSF": "ellipse"}
    assert next(r for r in doc["rois"] if r["label"] == "CSF")["level"] == "L3"
    seeds = json.loads(ph.seeds_path.read_text())
    assert seeds["format"] == "vbq-seeds/1" and seeds["slice"] == 7
    assert [s["label"] for s in seeds["seeds"]] == ["L1", "L2", "L3", "L4", "L5", "CSF"]


@pytest.mark.parametrize(("target", "field"), [(2.0, 1.5), (3.2, 3.0), (4.5, 1.5)])
def test_vbq_close_to_target(tmp_path, target, field):
    info = make_phantom(tmp_path, vbq=target, field_strength=field, n_slices=5, seed=3,
                        distractors="none")
    assert info.vbq == pytest.approx(target, rel=0.05)
    assert info.expected["field_strength_t"] == field


def test_rois_stay_inside_cancellous_bone_and_csf(ph):
    import nibabel as nib

    labels = np.asarray(nib.load(ph.mask_path).dataobj)[:, :, ph.slice]
    tissue = ph.tissue[ph.slice]
    spacing = load_series(ph.series_dir).series.slices[0].geometry.spacing[0]
    margin = int(np.ceil(2.0 / spacing))  # at least 2 mm from cortex and endplates
    for roi in json.loads(ph.rois_path.read_text())["rois"]:
        m = roi_membership(roi, tissue.shape)
        assert m.sum() > 40
        if roi["label"] == "CSF":
            assert np.all(tissue[m] == TISSUE["csf"]) and np.all(labels[m] == 2)
            continue
        body = (labels == LEVEL_LABEL[roi["label"]]) & (tissue == TISSUE["marrow"])
        deep = ndimage.binary_erosion(body, iterations=margin)
        assert np.all(deep[m]), roi["label"]


def test_seeds_lie_in_their_bodies(ph):
    import nibabel as nib

    labels = np.asarray(nib.load(ph.mask_path).dataobj)[:, :, ph.slice]
    for seed in json.loads(ph.seeds_path.read_text())["seeds"]:
        r, c = (int(round(v)) for v in seed["point"])
        want = 2 if seed["label"] == "CSF" else LEVEL_LABEL[seed["label"]]
        assert labels[r, c] == want
        assert ph.tissue[ph.slice][r, c] == (TISSUE["csf"] if want == 2 else TISSUE["marrow"])


def test_patient_space_rois_select_the_same_pixels(ph):
    s = load_series(ph.series_dir).series
    pix = json.loads(ph.rois_path.read_text())["rois"]
    pat = json.loads(ph.rois_patient_path.read_text())
    assert pat["space"] == "patient"
    for a, b in zip(pix, pat["rois"], strict=True):
        anchor = b.get("center", b.get("corner")) or np.mean(b["points"], axis=0)
        k, _ = s.locate(anchor)
        assert k == ph.slice
        g = s.slices[k].geometry
        conv = {key: b[key] for key in ("label", "shape") if key in b}
        if "center" in b:
            conv["center"] = list(g.patient_to_pixel(b["center"])[0])
            if "radius" in b:
                conv["radius"] = b["radius"] / g.spacing[0]
            else:
                conv["radii"] = [b["radii"][0] / g.spacing[0], b["radii"][1] / g.spacing[1]]
        elif "corner" in b:
            conv["corner"] = list(g.patient_to_pixel(b["corner"])[0])
            conv["size"] = [b["size"][0] / g.spacing[0], b["size"][1] / g.spacing[1]]
        else:
            conv["points"] = g.patient_to_pixel(b["points"])[0].tolist()
        np.testing.assert_array_equal(roi_membership(conv, g.shape),
                                      roi_membership(a, g.shape))


def test_nifti_mask_is_aligned_with_dicom_geometry(ph):
    import nibabel as nib

    img = nib.load(ph.mask_path)
    s = load_series(ph.series_dir).series
    assert img.shape == (256, 256, 15) and img.get_data_dtype() == np.uint8
    for i, j, k in [(0, 0, 0), (255, 255, 14), (100, 37, 7), (3, 200, 11)]:
        ras = nib.affines.apply_affine(img.affine, [i, j, k])
        lps = s.slices[k].geometry.pixel_to_patient([i, j])
        np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-4)
    np.testing.assert_allclose(img.affine, s.affine_ras(), atol=1e-4)
    data = np.asarray(img.dataobj)
    assert {1, 2, 41, 42, 43, 44, 45} <= set(np.unique(data).tolist())
    assert nib.aff2axcodes(img.affine) == ("I", "P", "R")


def test_written_series_geometry(ph):
    s = load_series(ph.series_dir).series
    g = s.slices[0].geometry
    np.testing.assert_allclose(g.row_dir, [0, 1, 0])
    np.testing.assert_allclose(g.col_dir, [0, 0, -1])
    xs = [sl.geometry.origin[0] for sl in s.slices]
    np.testing.assert_allclose(np.diff(xs), -4.4, atol=1e-9)  # IPP varies in x only
    assert xs[ph.slice] == pytest.approx(0.0)
    ds = pydicom.dcmread(s.slices[0].path, stop_before_pixels=True)
    assert float(ds.SliceThickness) == 4.0 and float(ds.SpacingBetweenSlices) == 4.4
    for kw in ("ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType",
               "EchoTrainLength", "ImageType", "MagneticFieldStrength", "FrameOfReferenceUID",
               "PatientName", "StudyInstanceUID", "SOPClassUID"):
        assert kw in ds
    post = pydicom.dcmread(ph.files["t1_post"][0], stop_before_pixels=True)
    assert post.ContrastBolusAgent


def test_same_seed_same_pixels_other_seed_different(tmp_path):
    a = make_phantom(tmp_path / "a", n_slices=3, rows=96, distractors="none", seed=4)
    b = make_phantom(tmp_path / "b", n_slices=3, rows=96, distractors="none", seed=4)
    c = make_phantom(tmp_path / "c", n_slices=3, rows=96, distractors="none", seed=5)
    pa, pb, pc = (pydicom.dcmread(x.files["t1"][1]).pixel_array for x in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    assert a.expected == b.expected


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_reports_no_errors(tmp_path):
    info = make_phantom(tmp_path, n_slices=3, rows=96, rescale_slope=0.5,
                        rescale_intercept=2.0)
    files = [p for ps in info.files.values() for p in ps]
    assert len(files) == 12
    for p in files:
        out = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True)
        text = out.stdout + out.stderr
        errors = [line for line in text.splitlines() if line.startswith("Error")]
        assert errors == [], f"{p}: {errors}"


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix not installed")
def test_dcm2niix_converts_and_agrees_on_voxel_positions(tmp_path):
    import nibabel as nib

    info = make_phantom(tmp_path / "p", n_slices=5, rows=96, distractors="none")
    out = tmp_path / "nii"
    out.mkdir()
    subprocess.run(["dcm2niix", "-z", "n", "-o", str(out), "-f", "conv", str(info.series_dir)],
                   capture_output=True, check=True)
    conv = nib.load(out / "conv.nii")
    mine = nib.load(info.mask_path)
    assert conv.shape[:3] == (96, 96, 5) or sorted(conv.shape[:3]) == sorted(mine.shape)
    # the same set of voxel centres in RAS, whatever voxel order dcm2niix chose
    def centres(img):
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in img.shape[:3]], indexing="ij"), -1)
        pts = nib.affines.apply_affine(img.affine, ijk.reshape(-1, 3))
        return np.unique(np.round(pts, 2), axis=0)

    np.testing.assert_allclose(centres(conv), centres(mine), atol=0.02)
    # and the image values agree at the same RAS points: conv voxel -> my voxel
    data = np.asarray(conv.dataobj)
    s = load_series(info.series_dir).series
    k = 2
    ijk_mine = np.array([[10, 20, k], [50, 70, k]])
    ras = nib.affines.apply_affine(mine.affine, ijk_mine)
    ijk_conv = np.rint(nib.affines.apply_affine(np.linalg.inv(conv.affine), ras)).astype(int)
    for (i, j, _), (a, b, c) in zip(ijk_mine, ijk_conv, strict=True):
        assert data[a, b, c] == pytest.approx(s.pixels(k)[i, j], abs=1)


# ------------------------------------------------------------------------ command line
def test_cli_phantom_writes_and_prints_summary(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "out"), "--vbq", "2.5", "--slices", "5",
                 "--size", "128", "--distractors", "t2", "--seed", "7"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["target_vbq"] == 2.5 and summary["vbq"] == pytest.approx(2.5, rel=0.05)
    assert Path(summary["mask"]).exists() and Path(summary["expected"]).exists()
    assert list(summary["distractors"]) == ["t2"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--distractors", "t3"], "unknown distractor series 't3'"),
    (["--vbq", "-1"], "target VBQ -1.0 (--vbq) is outside"),
    (["--slices", "1"], "slice count 1 (--slices) is outside"),
])
def test_cli_phantom_bad_input_exit_2(tmp_path, capsys, args, needle):
    assert main(["phantom", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vbq: error: ") and needle in err and err.count("\n") == 1


def test_cli_phantom_refuses_non_empty_series_folder(tmp_path, capsys):
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "keep.txt").write_text("mine")
    assert main(["phantom", str(tmp_path), "--size", "96", "--slices", "3"]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "series" / "keep.txt").read_text() == "mine"


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("vbq")
    if not exe.exists():
        pytest.skip("console script not installed next to the interpreter")
    out = subprocess.run([str(exe), "phantom", str(tmp_path), "--size", "96", "--slices", "3",
                          "--distractors", "none"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["slice"] == 1


# ------------------------------------------------------------ a rescale that cannot store the image
# The writer stores rint((signal - intercept) / slope) in 16 bits; the tissue signal spans
# 12.5 (half the darkest tissue, 25) to 1800 (twice the brightest, 900), so with intercept 0
# the slope must lie between 1800 / 65535.5 and 12.5.
_TISSUE = "the phantom's tissue signal (12.5 to 1800) in 16-bit pixels (0-65535)"


@pytest.mark.parametrize(("argv", "sentence"), [
    (["--rescale-slope", "1e308"],
     f"--rescale-slope 1e+308 with --rescale-intercept 0 cannot store {_TISSUE}: the darkest "
     "tissue would be stored as zero signal; choose a slope from 0.0275 to 12.5"),
    (["--rescale-slope", "13"],
     f"--rescale-slope 13 with --rescale-intercept 0 cannot store {_TISSUE}: the darkest "
     "tissue would be stored as zero signal; choose a slope from 0.0275 to 12.5"),
    (["--rescale-slope", "1e-308"],
     f"--rescale-slope 1e-308 with --rescale-intercept 0 cannot store {_TISSUE}: the "
     "brightest tissue would be stored above 65535; choose a slope from 0.0275 to 12.5"),
    (["--rescale-intercept", "-1e5"],
     f"--rescale-slope 1 with --rescale-intercept -100000 cannot store {_TISSUE}: the "
     "brightest tissue would be stored above 65535; choose a slope from 1.56 to 12.5"),
    (["--rescale-slope", "12", "--rescale-intercept", "18.7"],
     f"--rescale-slope 12 with --rescale-intercept 18.7 cannot store {_TISSUE}: the darkest "
     "tissue would be stored below 0; choose a slope from 12.4 to 12.5"),
    (["--rescale-intercept", "1e308"],
     f"--rescale-intercept 1e+308 cannot store {_TISSUE} with any slope: choose an intercept "
     "above -817393 and at most 18.7"),
    (["--rescale-slope", "1e16", "--rescale-intercept", "-1e20"],   # one value for all tissue
     f"--rescale-intercept -1e+20 cannot store {_TISSUE} with any slope: choose an intercept "
     "above -817393 and at most 18.7"),
    # every digit the user gave is shown, and the range keeps digits enough to be one
    (["--rescale-slope", "12.5000001"],
     f"--rescale-slope 12.5000001 with --rescale-intercept 0 cannot store {_TISSUE}: the "
     "darkest tissue would be stored as zero signal; choose a slope from 0.0275 to 12.5"),
    (["--rescale-slope", "0.1234567890123", "--rescale-intercept", "-817392.123456789"],
     f"--rescale-slope 0.1234567890123 with --rescale-intercept -817392.123456789 cannot store "
     f"{_TISSUE}: the brightest tissue would be stored above 65535; choose a slope from "
     "12.49998 to 12.5"),
], ids=["huge-slope", "coarse-slope", "tiny-slope", "low-intercept", "clipped", "huge-intercept",
        "flat", "digits", "narrow"])
def test_a_rescale_that_cannot_store_the_image_is_refused_before_anything_is_written(
        tmp_path, capsys, argv, sentence):
    out = tmp_path / "p"
    assert main(["phantom", str(out), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"vbq: error: {sentence}\n"
    assert captured.out == "" and not out.exists()


def test_the_coarsest_rescale_slope_allowed_stores_every_tissue(tmp_path):
    info = make_phantom(tmp_path, n_slices=3, rows=64, distractors="none", rescale_slope=12.5)
    assert math.isfinite(info.vbq) and info.expected["csf"]["mean"] > 0
    assert info.vbq == pytest.approx(info.expected["target_vbq"], rel=0.1)
    res = score_series(info.series_dir, rois=info.rois_path)
    assert res.vbq == pytest.approx(info.expected["vbq"], rel=1e-9)


def test_truth_uses_the_rescale_the_files_state(tmp_path):
    """A rescale with more digits than a Decimal String holds: the truth is what a reader gets.

    The reference is pydicom's own reading of the written slice (stored value times the
    written RescaleSlope plus the written RescaleIntercept) over each ROI's pixels.
    """
    from vbq.phantom.common import roi_membership

    slope, intercept = 1.0 / 3.0, -7.123456789012345
    info = make_phantom(tmp_path, n_slices=3, rows=96, rescale_slope=slope,
                        rescale_intercept=intercept, distractors="none")
    exp = info.expected
    ds = pydicom.dcmread(info.files["t1"][exp["slice"]])
    written = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    assert written != (slope, intercept)  # the files cannot hold every digit
    assert (exp["rescale_slope"], exp["rescale_intercept"]) == written
    values = ds.pixel_array.astype(np.float64) * written[0] + written[1]
    rois = json.loads(info.rois_path.read_text())["rois"]
    for roi in rois:
        got = exp["csf"] if roi["label"] == "CSF" else exp["levels"][roi["label"]]
        want = values[roi_membership(roi, values.shape)].mean()
        assert got["mean"] == pytest.approx(want, rel=1e-12, abs=0), roi["label"]
