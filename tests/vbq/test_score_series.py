"""score_series on phantoms: truth by construction (expected.json from the written pixels)."""

from __future__ import annotations

import json

import pytest

import vbq
from vbq.dicom import load_series as _load_series
from vbq.dicom import pixels
from vbq.phantom import make_phantom
from vbq.result import VBQResult

REL = 1e-9


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Default phantom: 15 slices of 256 x 256, distractor T2, post-contrast T1, axial."""
    return make_phantom(tmp_path_factory.mktemp("plain"), vbq=3.2, seed=0)


@pytest.fixture(scope="module")
def scrambled(tmp_path_factory):
    """Shuffled, renamed files; reversed InstanceNumbers; rescale slope; distractors."""
    return make_phantom(tmp_path_factory.mktemp("scrambled"), vbq=2.6, seed=7, rows=192,
                        n_slices=11, shuffle_names=True, reverse_instance_numbers=True,
                        rescale_slope=2.5, rescale_intercept=-40.0)


def check_against_expected(res: VBQResult, expected: dict) -> None:
    assert res.vbq == pytest.approx(expected["vbq"], rel=REL)
    for level, want in expected["levels"].items():
        m = res.levels[level].measurement
        assert m.n_pixels == want["n_pixels"], level
        assert m.mean == pytest.approx(want["mean"], rel=REL), level
        assert m.median == pytest.approx(want["median"], rel=REL), level
    assert res.csf.measurement.n_pixels == expected["csf"]["n_pixels"]
    assert res.csf.si == pytest.approx(expected["csf"]["mean"], rel=REL)
    assert res.slice_index == expected["slice"]
    assert res.sop_instance_uid == expected["sop_instance_uid"]
    assert res.series["series_instance_uid"] == expected["series_instance_uid"]


@pytest.mark.parametrize("space", ["rois.json", "rois_patient.json"])
@pytest.mark.parametrize("which", ["plain", "scrambled"])
def test_vbq_equals_phantom_truth(request, which, space):
    ph = request.getfixturevalue(which)
    res = vbq.score_series(ph.series_dir, rois=ph.out_dir / space)
    check_against_expected(res, ph.expected)
    assert res.roi_source == "drawn"


def test_scrambled_files_really_are_scrambled(scrambled):
    names = [p.name for p in scrambled.series_dir.rglob("*") if p.is_file()]
    assert not any(n.endswith(".dcm") for n in names)
    assert scrambled.expected["rescale_slope"] == 2.5


def test_distractor_series_are_rejected(plain):
    choice = _load_series(plain.series_dir)
    assert choice.series.series_instance_uid == plain.expected["series_instance_uid"]
    assert {uid for uid, _, _ in choice.rejected} == set(plain.expected["distractor_uids"].values())


def test_median_statistic(plain):
    res = vbq.score_series(plain.series_dir, rois=plain.rois_path, statistic="median")
    assert res.vbq == pytest.approx(plain.expected["vbq_median_statistic"], rel=REL)
    assert res.statistic == "median"


def test_exclusion_through_the_api(plain):
    exp = plain.expected
    res = vbq.score_series(plain.series_dir, rois=plain.rois_path, exclude={"L1": "hemangioma"})
    means = sorted(exp["levels"][k]["mean"] for k in ("L2", "L3", "L4"))
    assert res.vbq == pytest.approx(means[1] / exp["csf"]["mean"], rel=REL)
    assert res.to_dict()["levels"]["L1"]["excluded"] == "hemangioma"


def test_measured_slice_is_decoded_first_and_others_only_for_the_midline(plain, monkeypatch):
    decoded = []
    real = pixels.decode

    def counting(path):
        decoded.append(path)
        return real(path)

    monkeypatch.setattr(pixels, "decode", counting)
    res = vbq.score_series(plain.series_dir, rois=plain.rois_path)
    measured = res.slice_index
    assert decoded[0].path == _load_series(plain.series_dir).series.slices[measured].path
    paths = [d.path for d in decoded]
    assert len(paths) == len(set(paths))  # each slice at most once
    assert res.to_dict()["slice"]["midline_offset_mm"] is not None


def test_result_json_has_the_contract_keys(plain):
    d = vbq.score_series(plain.series_dir, rois=plain.rois_path).to_dict()
    assert {"vbq", "protocol", "statistic", "levels", "csf", "slice", "series", "cutoffs",
            "warnings"} <= set(d)
    assert {"si", "median", "n_pixels", "area_mm2", "used"} <= set(d["levels"]["L1"])
    assert set(d["csf"]) >= {"level", "si", "n_pixels"}
    assert set(d["slice"]) == {"index", "sop_instance_uid", "instance_number",
                               "midline_offset_mm", "midline_source"}
    assert d["slice"]["midline_source"] in ("bodies", "canal")
    assert {"series_instance_uid", "description", "manufacturer", "field_strength_t", "tr_ms",
            "te_ms"} <= set(d["series"])
    assert all({"target", "value", "above", "doi"} <= set(c) for c in d["cutoffs"])
    json.dumps(d)  # serialisable


def test_result_json_types_and_derived_numbers(plain):
    res = vbq.score_series(plain.series_dir, rois=plain.rois_path, exclude={"L2": "fracture"})
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))  # strict JSON round trip
    assert isinstance(d["vbq"], float) and d["statistic"] == "mean"
    sr, sc = res.pixel_spacing
    assert (sr, sc) == pytest.approx((280 / 256, 280 / 256))  # the phantom's 280 mm field
    used = []
    for level in ("L1", "L3", "L4"):
        lv = d["levels"][level]
        assert lv["used"] is True and "excluded" not in lv
        assert isinstance(lv["si"], float) and isinstance(lv["median"], float)
        assert isinstance(lv["n_pixels"], int) and not isinstance(lv["n_pixels"], bool)
        assert lv["area_mm2"] == pytest.approx(lv["n_pixels"] * sr * sc, rel=1e-12)
        used.append(lv["si"])
    assert d["levels"]["L2"]["used"] is False and d["levels"]["L2"]["excluded"] == "fracture"
    csf = d["csf"]
    assert csf["level"] == "L3" and isinstance(csf["si"], float)
    assert isinstance(csf["n_pixels"], int)
    # VBQ = median of the used levels' SI / CSF SI (three levels: the middle one)
    assert d["vbq"] == pytest.approx(sorted(used)[1] / csf["si"], rel=1e-12)
    assert isinstance(d["slice"]["index"], int) and isinstance(d["slice"]["sop_instance_uid"], str)
    s = d["series"]
    for key in ("series_instance_uid", "description", "manufacturer", "model"):
        assert isinstance(s[key], str) and s[key]
    for key in ("field_strength_t", "tr_ms", "te_ms", "pixel_bandwidth"):
        assert isinstance(s[key], float)
    assert d["cutoffs"]
    for c in d["cutoffs"]:
        assert isinstance(c["target"], str) and isinstance(c["value"], float)
        assert isinstance(c["above"], bool) and c["above"] is (d["vbq"] >= c["value"])
        assert isinstance(c["doi"], str) and c["doi"]
    assert isinstance(d["warnings"], list) and all(isinstance(w, str) for w in d["warnings"])


def test_exactly_one_roi_source(plain):
    with pytest.raises(vbq.InputError, match="exactly one source of ROIs"):
        vbq.score_series(plain.series_dir)
    with pytest.raises(vbq.InputError, match="rois and seeds"):
        vbq.score_series(plain.series_dir, rois=plain.rois_path, seeds=plain.seeds_path)


def test_result_explains_the_series_choice(plain):
    d = vbq.score_series(plain.series_dir, rois=plain.rois_path).to_dict()
    rejected = {r["series_instance_uid"] for r in d["series_choice"]["rejected"]}
    assert rejected == set(plain.expected["distractor_uids"].values())
    assert "T1" in d["series_choice"]["reason"]
