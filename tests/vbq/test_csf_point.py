"""A CSF ROI from one point (--csf-point, --csf-seed), and errors that say what to try.

References: the phantom's CSF is one uniform tissue of known signal
(``expected.json``: mean ~100, single-pixel CV ~3.5%), so a CSF ROI of at
least 20 pixels anywhere in it has a mean within 3% of the drawn ROI's (3
standard errors of a 20-pixel mean); a point given on the command line must
give exactly the ROI a CSF seed at the same place gives (the same growth).
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

import vbq
from vbq.cli import main
from vbq.errors import BodyNotFoundError, CsfNotFoundError, InputError


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from vbq.phantom import make_phantom

    return make_phantom(tmp_path_factory.mktemp("csfpoint"), n_slices=7, distractors=())


@pytest.fixture(scope="module")
def files(phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("csfpoint_files")
    doc = json.loads(phantom.seeds_path.read_text())
    csf = next(s for s in doc["seeds"] if s["label"] == "CSF")
    bodies = {**doc, "seeds": [s for s in doc["seeds"] if s["label"] != "CSF"]}
    (root / "bodies.json").write_text(json.dumps(bodies))
    (root / "csf_only.json").write_text(json.dumps({**doc, "seeds": [csf]}))
    return {"bodies": root / "bodies.json", "csf_only": root / "csf_only.json",
            "point": tuple(csf["point"]), "truth": json.loads(phantom.expected_path.read_text())}


def test_a_csf_point_grows_the_roi_a_csf_seed_grows(phantom, files):
    with_seed = vbq.score_series(phantom.series_dir, seeds=phantom.seeds_path)
    by_point = vbq.score_series(phantom.series_dir, seeds=files["bodies"],
                                csf_point=files["point"])
    by_file = vbq.score_series(phantom.series_dir, seeds=files["bodies"],
                               csf_seed=files["csf_only"])
    for res in (by_point, by_file):
        assert np.array_equal(res.masks["CSF"], with_seed.masks["CSF"])
        assert res.vbq == with_seed.vbq and res.csf.level == "L3"
        assert "csf_from_image" not in res.warning_codes
    assert by_point.csf.si == pytest.approx(files["truth"]["csf"]["mean"], rel=0.03)


def test_a_csf_point_with_a_mask_and_in_patient_space(phantom, files, tmp_path):
    res = vbq.score_series(phantom.series_dir, mask=phantom.mask_path, labels="totalspineseg",
                           csf_point=files["point"])
    assert res.csf.si == pytest.approx(files["truth"]["csf"]["mean"], rel=0.03)
    assert res.csf.level == "L3" and res.csf.measurement.n_pixels >= 20
    series = res.series_info
    xyz = series.slices[res.slice_index].geometry.pixel_to_patient(np.array(files["point"]))
    doc = {"format": "vbq-seeds/1", "space": "patient",
           "seeds": [{"label": "CSF", "point": [float(v) for v in xyz]}]}
    path = tmp_path / "csf_patient.json"
    path.write_text(json.dumps(doc))
    placed = vbq.score_series(phantom.series_dir, mask=phantom.mask_path,
                              labels="totalspineseg", csf_seed=path)
    assert np.array_equal(placed.masks["CSF"], res.masks["CSF"])
    assert placed.csf.level == "L3"     # the point lies beside the L3 ROI


@pytest.mark.parametrize(("extra", "message"), [
    (["--rois", "ROIS", "--csf-point", "140,127"], "apply to --mask and --seeds"),
    (["--seeds", "BODIES", "--csf-point", "140,9999"], "--csf-point 140,9999: point [140.0, "
                                                        "9999.0] (row, column) lies outside"),
    (["--seeds", "SEEDS", "--csf-point", "127.5,140.3"], "already has a CSF seed"),
    (["--seeds", "BODIES", "--csf-seed", "SEEDS"], "must hold only the CSF seed"),
    (["--seeds", "BODIES", "--csf-point", "140"], "is not ROW,COL"),
    (["--seeds", "BODIES", "--csf-point", "1,2", "--csf-seed", "CSF"], "not allowed with"),
])
def test_bad_csf_points_are_input_errors(phantom, files, capsys, extra, message):
    names = {"ROIS": phantom.rois_path, "BODIES": files["bodies"], "SEEDS": phantom.seeds_path,
             "CSF": files["csf_only"]}
    argv = ["score", str(phantom.series_dir), *[str(names.get(a, a)) for a in extra]]
    try:
        code = main(argv)
    except SystemExit as stop:   # argparse's own usage errors
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def _mask_without_canal_near(phantom, tmp_path, keep_level_label=45):
    """The phantom's mask with the canal label kept only beside L5 (label 45)."""
    img = nib.load(phantom.mask_path)
    data = np.asarray(img.dataobj).copy()
    idx = np.indices(data.shape)
    l3 = np.array([i[data == 43].mean() for i in idx])
    l5 = np.array([i[data == keep_level_label].mean() for i in idx])
    axis = int(np.argmax(np.abs(l5 - l3)))           # the craniocaudal voxel axis
    nearer_l5 = np.abs(idx[axis] - l5[axis]) < np.abs(idx[axis] - l3[axis])
    data[(data == 2) & ~nearer_l5] = 0
    path = tmp_path / "mask_canal_low.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine, img.header), path)
    return path


def test_no_csf_found_says_what_to_try_and_a_point_then_scores(phantom, files, tmp_path,
                                                                capsys):
    mask = _mask_without_canal_near(phantom, tmp_path)
    with pytest.raises(CsfNotFoundError) as info:
        vbq.score_series(phantom.series_dir, mask=mask, labels="totalspineseg")
    text = str(info.value)
    assert "canal label" in text and "--csf-point ROW,COL" in text and "--slice" in text
    argv = ["score", str(phantom.series_dir), "--mask", str(mask), "--labels", "totalspineseg"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--csf-seed FILE" in err and err.count("\n") == 1
    point = ",".join(str(v) for v in files["point"])
    assert main([*argv, "--csf-point", point]) == 0


def test_no_canal_at_all_names_the_point_options(phantom, tmp_path):
    img = nib.load(phantom.mask_path)
    data = np.asarray(img.dataobj).copy()
    data[data == 2] = 0
    path = tmp_path / "mask_no_canal.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine, img.header), path)
    with pytest.raises(InputError, match=r"--csf-point ROW,COL or --csf-seed FILE"):
        vbq.score_series(phantom.series_dir, mask=path, labels="totalspineseg")


def test_a_seed_outside_any_body_says_what_to_try(tmp_path):
    import pydicom

    from vbq.phantom import make_phantom

    shifted = make_phantom(tmp_path / "zeroed", n_slices=7, distractors=())
    # the air of the measured slice's corner set to 0: nothing above zero to grow there
    uid = json.loads(shifted.expected_path.read_text())["sop_instance_uid"]
    for file in shifted.series_dir.rglob("*.dcm"):
        ds = pydicom.dcmread(file)
        if ds.SOPInstanceUID == uid:
            pixels = ds.pixel_array.copy()
            pixels[:12, :12] = 0
            ds.PixelData = pixels.tobytes()
            ds.save_as(file)
    doc = json.loads(shifted.seeds_path.read_text())
    for s in doc["seeds"]:
        if s["label"] == "L2":
            s["point"] = [1.0, 1.0]                     # the air in the image's corner
    path = tmp_path / "seeds_air.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BodyNotFoundError, match=r"seed 2 \(L2\).*not inside a vertebral "
                                                r"body.*--slice") as info:
        vbq.score_series(shifted.series_dir, seeds=path)
    assert info.value.exit_code == 1


def test_a_csf_seed_in_the_other_space_than_the_seed_file(phantom, files, tmp_path):
    with_seed = vbq.score_series(phantom.series_dir, seeds=phantom.seeds_path)
    geometry = with_seed.series_info.slices[with_seed.slice_index].geometry
    xyz = [float(v) for v in geometry.pixel_to_patient(np.array(files["point"]))]
    csf = tmp_path / "csf_patient.json"
    csf.write_text(json.dumps({"format": "vbq-seeds/1", "space": "patient",
                               "seeds": [{"label": "CSF", "level": "L3", "point": xyz}]}))
    res = vbq.score_series(phantom.series_dir, seeds=files["bodies"], csf_seed=csf)
    assert np.array_equal(res.masks["CSF"], with_seed.masks["CSF"])
    # and a pixel point into a patient-space seed file
    doc = json.loads(files["bodies"].read_text())
    patient = {"format": "vbq-seeds/1", "space": "patient", "seeds": [
        {"label": s["label"],
         "point": [float(v) for v in geometry.pixel_to_patient(np.array(s["point"]))]}
        for s in doc["seeds"]]}
    res = vbq.score_series(phantom.series_dir, seeds=patient, csf_point=files["point"])
    assert np.array_equal(res.masks["CSF"], with_seed.masks["CSF"])


@pytest.mark.parametrize("how", ["seeds", "csf-seed with seeds", "csf-seed with a mask"])
def test_a_csf_seed_at_a_level_the_protocol_does_not_allow_names_its_file_and_key(
        phantom, files, tmp_path, capsys, how):
    doc = json.loads(phantom.seeds_path.read_text())
    for s in doc["seeds"]:
        if s["label"] == "CSF":
            s["level"] = "T12"
    if how == "seeds":
        path, seed = tmp_path / "seeds_t12.json", "seed 6 (CSF)"
        path.write_text(json.dumps(doc))
        extra = ["--seeds", str(path)]
    else:
        path, seed = tmp_path / "csf_t12.json", "seed 1 (CSF)"
        path.write_text(json.dumps({**doc, "seeds": [s for s in doc["seeds"]
                                                     if s["label"] == "CSF"]}))
        extra = (["--seeds", str(files["bodies"])] if how.endswith("seeds")
                 else ["--mask", str(phantom.mask_path), "--labels", "totalspineseg"])
        extra += ["--csf-seed", str(path)]
    assert main(["score", str(phantom.series_dir), *extra, "--json"]) == 2
    out, err = capsys.readouterr()
    assert err == (f'vbq: error: {path.name}: {seed}: "level" is T12, which protocol lumbar '
                   "does not allow for the CSF (allowed: L3, L2, L1)\n")
    assert out == ""


@pytest.mark.parametrize(("point", "shown", "rc"), [
    ("1e308,5", "1e+308,5", "1e+308, 5.0"), ("5,-1e308", "5,-1e+308", "5.0, -1e+308"),
    ("1" + "0" * 300 + ",5", "1e+300,5", "1e+300, 5.0")], ids=["row", "column", "digits"])
def test_a_huge_csf_point_is_named_in_a_short_sentence(phantom, files, capsys, point, shown, rc):
    argv = ["score", str(phantom.series_dir), "--seeds", str(files["bodies"]),
            "--csf-point", point]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == (f"vbq: error: --csf-point {shown}: point [{rc}] (row, column) "
                   "lies outside the image (256 rows x 256 columns)\n")
    assert out == ""


def test_a_csf_point_too_large_for_a_double_is_an_input_error(phantom, files):
    with pytest.raises(InputError, match=r"^--csf-point must be two finite numbers ROW,COL, "
                                         r"got \(1e\+400, 5\)$"):
        vbq.score_series(phantom.series_dir, seeds=files["bodies"], csf_point=(10**400, 5))


@pytest.mark.parametrize("argv", [["--csf-point", "-3,5"], ["--csf-point=-3,5"],
                                  ["--csf-point", "-3.0,5"], ["--csf-point", "-.3e1,5"]],
                         ids=["apart", "joined", "decimal", "exponent"])
def test_a_negative_csf_point_reaches_our_own_refusal(phantom, files, capsys, argv):
    code = main(["score", str(phantom.series_dir), "--seeds", str(files["bodies"]), *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == ("vbq: error: --csf-point -3,5: point [-3.0, 5.0] (row, column) lies outside "
                   "the image (256 rows x 256 columns)\n")
    assert out == ""
