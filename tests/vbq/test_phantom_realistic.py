"""The realistic phantom: ground truth by construction, variants, outputs and speed."""

import json
import shutil
import subprocess

import nibabel as nib
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from vbq.cli import main
from vbq.dicom import load_series
from vbq.errors import InputError
from vbq.phantom import make_phantom, roi_membership
from vbq.phantom.realistic import make_realistic_phantom
from vbq.phantom.spine import CODES, VARIANTS
from vbq.roi.roimasks import RoiMasks
from vbq.score import score_roi_masks, score_series

SMALL = {"rows": 160, "n_slices": 7, "distractors": ()}
LEVEL_LABEL = {"T12": 32, "L1": 41, "L2": 42, "L3": 43, "L4": 44, "L5": 45}


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """Every variant but the fooled reader, full size."""
    return make_realistic_phantom(tmp_path_factory.mktemp("all"), seed=11, variants="all")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """No variant (the baseline each variant is compared with)."""
    return make_realistic_phantom(tmp_path_factory.mktemp("none"), seed=5, **SMALL)


def _pixels(info):
    s = load_series(info.series_dir).series
    return s.pixels(info.slice).astype(np.float64), s


def _ref(info):
    with np.load(info.reference_rois_path) as z:
        return {k: z[k] for k in z.files}


# ------------------------------------------------------------------------ determinism
def test_same_seed_same_files_other_seed_different(tmp_path):
    a = make_realistic_phantom(tmp_path / "a", seed=4, variants="random", **SMALL)
    b = make_realistic_phantom(tmp_path / "b", seed=4, variants="random", **SMALL)
    c = make_realistic_phantom(tmp_path / "c", seed=5, variants="random", **SMALL)
    pa, pb, pc = (pydicom.dcmread(x.files["t1"][3]).pixel_array for x in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    assert a.expected == b.expected and a.variants == b.variants
    ra, rb = _ref(a), _ref(b)
    assert all(np.array_equal(ra[k], rb[k]) for k in ra)


def test_a_variant_changes_nothing_else_in_the_anatomy(tmp_path):
    """Turning one variant on keeps every other drawn parameter (same geometry)."""
    a = make_realistic_phantom(tmp_path / "a", seed=8, **SMALL)
    b = make_realistic_phantom(tmp_path / "b", seed=8, variants="modic", **SMALL)
    ga, gb = a.expected["geometry"]["levels"], b.expected["geometry"]["levels"]
    assert ga == gb


# ------------------------------------------------------------------------ the reference
@pytest.mark.parametrize("fixture", ["everything", "plain"])
def test_reference_rois_lie_in_their_bodies_away_from_cortex(fixture, request):
    info = request.getfixturevalue(fixture)
    ref = _ref(info)
    mid = info.slice
    assert int(ref["slice"]) == mid == info.expected["reference"]["slice"]
    labels = np.asarray(nib.load(info.mask_path).dataobj)[:, :, mid]
    code = info.tissue[mid]
    spacing = tuple(info.expected["geometry"]["pixel_spacing_mm"])
    taken = np.zeros(code.shape, dtype=bool)
    for level, lab in LEVEL_LABEL.items():
        m = ref[level]
        assert m.sum() >= 60, level
        # pixel centres of the written slice: marrow only, 3 mm from anything else
        assert set(np.unique(code[m])) == {CODES["marrow"]}, level
        dist = ndimage.distance_transform_edt(labels == lab, sampling=spacing)
        assert dist[m].min() >= 3.0, level
        assert not (taken & m).any()
        taken |= m
    csf = ref["CSF"]
    assert csf.sum() >= 30
    assert set(np.unique(code[csf])) == {CODES["csf"]}
    dist = ndimage.distance_transform_edt(code == CODES["csf"], sampling=spacing)
    assert dist[csf].min() >= 1.0
    assert not (taken & csf).any()
    # the CSF reference lies behind L3, between its endplates
    g = info.expected["geometry"]["levels"]["L3"]
    rows = np.nonzero(csf.any(axis=1))[0]
    top = min(g["superior_endplate"][k][0] for k in ("anterior", "posterior"))
    bottom = max(g["inferior_endplate"][k][0] for k in ("anterior", "posterior"))
    assert top - 1 <= rows.min() and rows.max() <= bottom + 1
    assert np.nonzero(csf)[1].min() > g["superior_endplate"]["posterior"][1]


@pytest.mark.parametrize("seed", [1, 5])
def test_each_reference_roi_is_one_piece_of_its_own_body(tmp_path, seed):
    """The posterior elements carry their vertebra's level: the reference keeps the body only."""
    info = make_phantom(tmp_path, anatomy="realistic", seed=seed, variants="random",
                        rows=192, n_slices=7)
    ref = _ref(info)
    labels = np.asarray(nib.load(info.mask_path).dataobj)[:, :, info.slice]
    code = info.tissue[info.slice]
    g = info.expected["geometry"]["levels"]
    for level in ("L1", "L2", "L3", "L4"):
        m = ref[level]
        _, n = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
        assert n == 1, level
        assert set(np.unique(code[m])) == {CODES["marrow"]}, level
        assert set(np.unique(labels[m])) == {LEVEL_LABEL[level]}, level
        # and it lies within the body's own extent around its true centre
        rows, cols = np.nonzero(m)
        centre = np.array(g[level]["centre"])
        reach = 0.5 * max(g[level]["height_mm"], g[level]["depth_mm"])
        spacing = np.array(info.expected["geometry"]["pixel_spacing_mm"])
        d = np.hypot((rows - centre[0]) * spacing[0], (cols - centre[1]) * spacing[1])
        assert d.max() <= reach, level


def test_reference_excludes_focal_lesions(everything):
    code = everything.tissue[everything.slice]
    lesions = np.isin(code, [CODES[n] for n in ("vein", "vein_fat", "modic", "modic_fat",
                                                   "haemangioma", "haemangioma_strut",
                                                   "fat_island")])
    assert lesions.any()
    spacing = tuple(everything.expected["geometry"]["pixel_spacing_mm"])
    dist = ndimage.distance_transform_edt(~lesions, sampling=spacing)
    ref = _ref(everything)
    for level in ("L1", "L2", "L3", "L4"):
        assert dist[ref[level]].min() >= 1.0


@pytest.mark.parametrize("fixture", ["everything", "plain"])
def test_reference_vbq_recomputed_from_the_written_dicom(fixture, request):
    info = request.getfixturevalue(fixture)
    ref = _ref(info)
    series = load_series(info.series_dir).series
    masks = RoiMasks(slice_index=info.slice, csf_level="L3", source="mask",
                     masks={k: ref[k] for k in ("L1", "L2", "L3", "L4", "CSF")})
    res = score_roi_masks(series, masks, statistic="mean")
    assert res.vbq == pytest.approx(info.expected["reference"]["vbq"], rel=1e-9)
    # and by hand, from the pixel values
    values, _ = _pixels(info)
    means = [values[ref[k]].mean() for k in ("L1", "L2", "L3", "L4")]
    assert np.median(means) / values[ref["CSF"]].mean() == pytest.approx(
        info.expected["reference"]["vbq"], rel=1e-12)
    # the careful reader's ROI file gives expected.json's VBQ through the scorer
    drawn = score_series(info.series_dir, rois=info.rois_path, statistic="mean")
    assert drawn.vbq == pytest.approx(info.expected["vbq"], rel=1e-9)


def test_careful_reader_rois_inside_the_reference(plain):
    ref = _ref(plain)
    doc = json.loads(plain.rois_path.read_text())
    assert doc["slice"] == plain.slice
    for roi in doc["rois"]:
        m = roi_membership(roi, ref["CSF"].shape)
        assert m.sum() >= 20 and not (m & ~ref[roi["label"]]).any()


def test_seeds_and_jittered_seeds_lie_in_their_bodies(everything):
    labels = np.asarray(nib.load(everything.mask_path).dataobj)[:, :, everything.slice]
    geo = everything.expected["geometry"]["levels"]
    sr, sc = geo and everything.expected["geometry"]["pixel_spacing_mm"]
    seeds = json.loads(everything.seeds_path.read_text())["seeds"]
    for s in seeds:
        r, c = (int(round(v)) for v in s["point"])
        if s["label"] == "CSF":
            assert _ref(everything)["CSF"][r, c]
            continue
        assert labels[r, c] == LEVEL_LABEL[s["label"]]
        g = geo[s["label"]]
        assert s["point"] == g["centre"]
        for vec in (g["ap_direction"], g["axis_direction"]):
            for sign in (-1, 1):   # 4 mm along the body's own axes stays in the body
                rr = g["centre"][0] + sign * 4.0 * vec[0] / sr
                cc = g["centre"][1] + sign * 4.0 * vec[1] / sc
                assert labels[int(round(rr)), int(round(cc))] == LEVEL_LABEL[s["label"]]


def test_geometry_endplates_and_tilt_agree(everything):
    """Endplate points lie at the stated height apart and along the stated tilt."""
    sr, sc = everything.expected["geometry"]["pixel_spacing_mm"]
    for g in everything.expected["geometry"]["levels"].values():
        sup, inf = g["superior_endplate"], g["inferior_endplate"]
        angles = []
        for plate in (sup, inf):
            d = (np.array(plate["posterior"]) - plate["anterior"]) * [sr, sc]
            angles.append(np.degrees(np.arctan2(-d[0], d[1])))
            assert angles[-1] == pytest.approx(plate["tilt_deg"], abs=1e-3)
            # corners sit depth_mm apart, projected into the slice (obliquity shortens)
            assert np.linalg.norm(d) == pytest.approx(g["depth_mm"], rel=0.01)
        # the wedge tilts the two endplates equally either way of the body's axis
        assert np.mean(angles) == pytest.approx(g["tilt_deg"], abs=0.05)
        centre = (np.array(sup["centre"]) + np.array(inf["centre"])) / 2
        assert np.abs((centre - g["centre"]) * [sr, sc]).max() < 2.0
    ms = everything.expected["geometry"]["mid_sagittal"]
    assert abs(ms["offset_mm"]) <= 2.2 and ms["slice"] == everything.slice
    assert ms["slice_offsets_mm"][ms["slice"]] == pytest.approx(ms["offset_mm"], abs=1e-3)


# ------------------------------------------------------------------------ variants
def _variant(tmp_path, name, seed=5):
    return make_realistic_phantom(tmp_path / name, seed=seed, variants=[name], **SMALL)


def _near(values, point, radius_px=1):
    r, c = (int(round(v)) for v in point)
    return values[r - radius_px:r + radius_px + 1, c - radius_px:c + radius_px + 1]


def test_epidural_fat_makes_the_space_in_front_of_the_sac_brighter_than_csf(tmp_path, plain):
    fat = _variant(tmp_path, "epidural_fat")
    for info, brighter in ((fat, True), (plain, False)):
        values, _ = _pixels(info)
        code = info.tissue[info.slice]
        csf = info.expected["reference"]["csf"]["mean"]
        front = np.nonzero(code == CODES["epidural_fat"])
        ref_rows = np.nonzero(_ref(info)["CSF"].any(axis=1))[0]
        g = info.expected["geometry"]
        # between the back of L3 and the sac, on the rows of the CSF reference
        c0 = int(round(g["levels"]["L3"]["superior_endplate"]["posterior"][1]))
        c1 = int(round(g["sac"]["l3_centre"][1]))
        band = values[ref_rows.min():ref_rows.max() + 1, c0:c1]
        assert (band.max(axis=1) > 2.0 * csf).mean() > 0.8 if brighter else \
            band.max() < 2.0 * csf
        assert (len(front[0]) > 0) == brighter or not brighter


@pytest.mark.parametrize("name", ["basivertebral_vein", "modic", "haemangioma",
                                  "cauda_equina"])
def test_focal_structures_appear_only_with_their_variant(tmp_path, plain, name):
    info = _variant(tmp_path, name, seed=5)
    codes = {"basivertebral_vein": ("vein", "vein_fat"), "modic": ("modic", "modic_fat"),
             "haemangioma": ("haemangioma",), "cauda_equina": ("root",)}[name]
    wanted = [CODES[c] for c in codes]
    assert np.isin(info.tissue, wanted).any()
    assert not np.isin(plain.tissue, wanted).any()
    # and the pixels change there
    a, _ = _pixels(info)
    b, _ = _pixels(plain)
    where = np.isin(info.tissue[info.slice], wanted)
    if where.any():
        assert np.abs(a[where] - b[where]).mean() > 4 * np.abs(a[~where] - b[~where]).mean()


def test_dark_cortex_brings_cortex_and_ligament_close_to_csf(tmp_path, plain):
    dark = _variant(tmp_path, "dark_cortex")
    ratios = []
    for info in (dark, plain):
        values, _ = _pixels(info)
        code = info.tissue[info.slice]
        pll = ndimage.binary_erosion(code == CODES["pll"], np.ones((3, 1)))
        ratios.append(np.median(values[pll]) / info.expected["reference"]["csf"]["mean"])
    # a thin ligament blurs with its neighbours; the thick dark one stays below CSF
    assert 0.55 < ratios[0] < 1.0 and ratios[0] > ratios[1] + 0.15


def test_heterogeneous_marrow_has_more_texture(tmp_path, plain):
    het = _variant(tmp_path, "heterogeneous_marrow")
    cv = [np.std(_pixels(i)[0][_ref(i)["L3"]]) / np.mean(_pixels(i)[0][_ref(i)["L3"]])
          for i in (het, plain)]
    assert cv[0] > 2 * cv[1]


def test_fatty_marrow_raises_the_vbq(tmp_path, plain):
    fatty = _variant(tmp_path, "fatty_marrow")
    assert fatty.expected["target_vbq"] == pytest.approx(1.25 * plain.expected["target_vbq"])
    assert fatty.expected["reference"]["vbq"] > 1.15 * plain.expected["reference"]["vbq"]


def test_degenerated_and_marrow_like_discs(tmp_path, plain):
    deg = _variant(tmp_path, "degenerated_discs")
    like = _variant(tmp_path, "disc_like_marrow")
    for info, kind in ((deg, "degenerated"), (like, "like_marrow")):
        values, _ = _pixels(info)
        csf = info.expected["reference"]["csf"]["mean"]
        marrow = np.median([info.expected["reference"]["levels"][k]["mean"]
                            for k in ("L1", "L2", "L3", "L4")])
        flagged = [d for d in info.expected["geometry"]["discs"].values() if d[kind]]
        assert flagged
        for d in flagged:
            s = np.median(_near(values, d["centre"]))
            if kind == "degenerated":
                assert s < 1.5 * csf
            else:
                assert abs(s / marrow - 1) < 0.25
    values, _ = _pixels(plain)
    for d in plain.expected["geometry"]["discs"].values():
        assert not d["degenerated"] and not d["like_marrow"]


def test_geometry_variants(tmp_path, plain):
    obl, lor, sco, conus = (_variant(tmp_path, n) for n in
                            ("obliquity", "lordosis", "scoliosis", "conus"))
    ms = obl.expected["geometry"]["mid_sagittal"]
    assert abs(ms["yaw_deg"]) >= 2 and abs(ms["roll_deg"]) >= 1.5 and ms["offset_mm"] != 0
    flat = plain.expected["geometry"]["mid_sagittal"]
    assert flat["yaw_deg"] == flat["roll_deg"] == flat["offset_mm"] == 0
    tilts = [abs(g["tilt_deg"]) for n, g in lor.expected["geometry"]["levels"].items()
             if n.startswith("L")]
    assert 5 <= max(tilts) <= 25
    lat = [abs(g["lateral_offset_mm"]) for n, g in sco.expected["geometry"]["levels"].items()
           if n in ("L1", "L2", "L3", "L4")]
    assert max(lat) > 0.5
    assert all(g["lateral_offset_mm"] == 0 for g in plain.expected["geometry"]["levels"].values())
    low = conus.expected["geometry"]
    assert low["conus"]["ends_at"] == "L1-L2"
    assert low["conus"]["tip"][0] > plain.expected["geometry"]["conus"]["tip"][0] + 10


def test_coil_shading_darkens_the_front(tmp_path, plain):
    shaded = _variant(tmp_path, "coil_shading")
    ratio = []
    for info in (shaded, plain):
        values, _ = _pixels(info)
        ab = values[(info.tissue[info.slice] == CODES["abdomen"])
                    & (np.arange(values.shape[1])[None, :] < values.shape[1] * 0.35)]
        mu = values[info.tissue[info.slice] == CODES["muscle"]]
        ratio.append(np.median(ab) / np.median(mu))
    assert ratio[0] < 0.85 * ratio[1]


def test_eight_bit_storage(tmp_path):
    info = _variant(tmp_path, "eight_bit")
    ds = pydicom.dcmread(info.files["t1"][info.slice])
    assert ds.BitsStored == 8 and ds.HighBit == 7 and ds.pixel_array.max() <= 255
    assert info.expected["bits_stored"] == 8
    assert len(np.unique(ds.pixel_array)) <= 256


def test_low_resolution_and_partial_volume(tmp_path, plain):
    low = _variant(tmp_path, "low_res")
    ds = pydicom.dcmread(low.files["t1"][0])
    assert float(ds.SliceThickness) == 5.0 and float(ds.SpacingBetweenSlices) == 6.0
    pv = make_realistic_phantom(tmp_path / "pv", seed=5, variants="partial_volume",
                                noise_sd=1e-6, **SMALL)
    sharp = make_realistic_phantom(tmp_path / "sharp", seed=5, noise_sd=1e-6, **SMALL)
    a, _ = _pixels(pv)
    b, _ = _pixels(sharp)
    code = sharp.tissue[sharp.slice]
    edge = ndimage.morphological_gradient(code, size=3) > 0
    diff = np.abs(a - b)
    assert diff[edge].mean() > 5 * diff[~ndimage.binary_dilation(edge, iterations=2)].mean()


def test_fooled_reader_puts_the_csf_roi_in_epidural_fat(tmp_path):
    info = _variant(tmp_path, "csf_in_fat")
    assert info.variants["epidural_fat"]
    e = info.expected
    assert e["csf"]["mean"] > 2.0 * e["reference"]["csf"]["mean"]
    assert e["vbq"] < 0.7 * e["reference"]["vbq"]
    values, _ = _pixels(info)
    roi = next(r for r in json.loads(info.rois_path.read_text())["rois"] if r["label"] == "CSF")
    m = roi_membership(roi, values.shape)
    assert set(np.unique(info.tissue[info.slice][m])) <= {CODES["epidural_fat"]}


def test_random_anatomies_have_plausible_vbq(tmp_path):
    vbqs = [make_realistic_phantom(tmp_path / str(s), seed=s, variants="random", **SMALL)
            .expected["reference"]["vbq"] for s in range(6)]
    assert all(1.8 <= v <= 4.8 for v in vbqs)
    assert max(vbqs) - min(vbqs) > 0.5


def test_every_variant_is_known_and_all_switches_them_on():
    from vbq.commands.phantom import VARIANT_NAMES
    from vbq.phantom.spine import parse_variants

    assert tuple(VARIANTS) == VARIANT_NAMES
    on = parse_variants("all,no_eight_bit", 0)
    assert not on["eight_bit"] and not on["csf_in_fat"] and on["modic"]
    with pytest.raises(InputError, match="unknown phantom variant 'modics'"):
        parse_variants("modics", 0)


# ------------------------------------------------------------------------ speed, files, CLI
def test_full_size_phantom_with_every_variant(tmp_path):
    # its speed (about a second) is a benchmark's business, not a test's
    info = make_realistic_phantom(tmp_path / "p", seed=3, variants="all")
    assert info.tissue.shape == (15, 256, 256)


def test_simple_phantom_refuses_variants_and_realistic_refuses_simple_options(tmp_path):
    with pytest.raises(InputError, match="need the realistic anatomy"):
        make_phantom(tmp_path / "a", variants="modic")
    with pytest.raises(InputError, match="shuffle_names is not available"):
        make_phantom(tmp_path / "b", anatomy="realistic", shuffle_names=True)
    with pytest.raises(InputError, match="unknown phantom anatomy"):
        make_phantom(tmp_path / "c", anatomy="complex")
    simple = make_phantom(tmp_path / "d", n_slices=3, rows=96, distractors=())
    assert simple.reference_rois_path is None and "reference" not in simple.expected


def test_make_phantom_dispatches_to_the_realistic_anatomy(tmp_path):
    info = make_phantom(tmp_path, anatomy="realistic", variants="modic", seed=2,
                        rows=160, n_slices=7, distractors="t2")
    assert info.expected["anatomy"] == "realistic" and info.variants["modic"]
    assert set(info.files) == {"t1", "t2"}
    assert score_series(info.series_dir, rois=info.rois_path).vbq == pytest.approx(
        info.expected["vbq"], rel=1e-9)


def test_cli_realistic(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "o"), "--anatomy", "realistic", "--variants",
                 "epidural_fat,cauda_equina", "--size", "160", "--slices", "7",
                 "--distractors", "none", "--seed", "3"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["anatomy"] == "realistic"
    assert summary["variants"] == ["cauda_equina", "epidural_fat"]
    assert summary["reference_vbq"] == json.loads(
        (tmp_path / "o" / "expected.json").read_text())["reference"]["vbq"]
    assert (tmp_path / "o" / "reference_rois.npz").exists()


def test_cli_unknown_variant_exit_2(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "o"), "--anatomy", "realistic",
                 "--variants", "wobbly"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vbq: error: ") and "unknown phantom variant 'wobbly'" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o" / "series").exists()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_reports_no_errors_on_8_bit_realistic_series(tmp_path):
    info = make_realistic_phantom(tmp_path, seed=1, variants="eight_bit,low_res", rows=128,
                                  n_slices=5, distractors="t2")
    for p in (info.files["t1"][2], info.files["t2"][0]):
        out = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True)
        errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
        assert errors == [], f"{p}: {errors}"
