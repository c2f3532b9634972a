"""Plausibility gates: the same refusal and warnings whatever the path into the score.

References: hand-computed signal intensities (the median and quotient are
written out in each test), and the phantom, whose VBQ and signal
intensities are known by construction (``expected.json``: marrow ~310-335,
CSF ~100, VBQ ~3.2 at the default target). Limits are the documented ones
of :mod:`vbq.roi.plausibility`; each boundary is tested on both sides.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import vbq
from vbq.cli import main
from vbq.dicom.choice import load_series
from vbq.errors import AnalysisError, BodyNotFoundError, ImplausibleScoreError
from vbq.phantom import make_phantom
from vbq.roi import plausibility as gates
from vbq.roi.rois import RoiFile
from vbq.score import score_roi_masks, score_values

NEW_CODES = {"implausible_score_forced", "vbq_outside_published_range",
             "csf_roi_heterogeneous", "csf_roi_brighter_than_canal", "rois_overlap",
             "roi_outside_body", "slice_off_midline", "level_signal_outlier"}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("gates"), n_slices=7, distractors=())


@pytest.fixture(scope="module")
def drawn(phantom):
    series = load_series(phantom.series_dir).series
    return series, RoiFile.from_json(phantom.rois_path).masks(series)


# --------------------------------------------------------------------------- (a) CSF >= marrow


def test_csf_at_or_above_the_median_marrow_is_refused_unless_forced():
    # median(100, 110, 120, 130) = 115; CSF 120 >= 115, VBQ = 115 / 120 = 0.958333...
    values = {"L1": 100, "L2": 110, "L3": 120, "L4": 130, "CSF": 120}
    with pytest.raises(ImplausibleScoreError, match=r"at or above the median marrow") as info:
        score_values(values)
    assert isinstance(info.value, AnalysisError) and info.value.exit_code == 1
    assert "--force" in str(info.value) and "\n" not in str(info.value)
    forced = score_values(values, force=True)
    assert forced.vbq == pytest.approx(115 / 120, rel=1e-15)
    assert forced.warning_codes[0] == "implausible_score_forced"
    # exactly equal (VBQ = 1.0) is refused too; just below it is not refused
    with pytest.raises(ImplausibleScoreError):
        score_values({**values, "CSF": 115})
    assert "implausible_score_forced" not in score_values({**values, "CSF": 114.9}).warning_codes


def test_a_csf_roi_on_marrow_is_refused_on_the_image_and_forced_with_a_flag(
        phantom, tmp_path, capsys):
    # the CSF ROI drawn over L3 (322) measures marrow: >= median(335, 312, 322, 317) = 319.5
    doc = json.loads(phantom.rois_path.read_text())
    l3 = next(r for r in doc["rois"] if r["label"] == "L3")
    doc["rois"] = [r for r in doc["rois"] if r["label"] != "CSF"]
    doc["rois"].append({**l3, "label": "CSF", "level": "L3"})
    path = tmp_path / "csf_on_marrow.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ImplausibleScoreError):
        vbq.score_series(phantom.series_dir, rois=path)
    assert main(["score", str(phantom.series_dir), "--rois", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "--force" in err
    assert main(["score", str(phantom.series_dir), "--rois", str(path), "--force",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["vbq"] <= 1.0
    assert {"implausible_score_forced", "vbq_outside_published_range",
            "rois_overlap"} <= set(out["warning_codes"])


# --------------------------------------------------------------------------- (b) range


@pytest.mark.parametrize(("vbq_value", "field", "warned"), [
    (1.45, None, True), (1.45, 1.5, True), (1.5, 1.5, False), (1.45, 3.0, False),
    (1.3, 3.0, False), (1.25, 3.0, True), (6.0, 1.5, False), (6.05, 3.0, True),
])
def test_the_published_range_depends_on_field_strength(vbq_value, field, warned):
    # CSF 100 and four equal levels: VBQ = level / 100 exactly
    level = vbq_value * 100
    r = score_values({"L1": level, "L2": level, "L3": level, "L4": level, "CSF": 100},
                     field_strength_t=field)
    assert r.vbq == pytest.approx(vbq_value, rel=1e-12)
    assert ("vbq_outside_published_range" in r.warning_codes) is warned


def test_a_phantom_below_the_range_is_warned_at_1_5_t_but_not_at_3_t(tmp_path):
    low = make_phantom(tmp_path / "low15", vbq=1.4, n_slices=7, distractors=())
    res = vbq.score_series(low.series_dir, rois=low.rois_path)
    truth = json.loads(low.expected_path.read_text())["vbq"]
    assert res.vbq == pytest.approx(truth, rel=1e-9) and truth < 1.5
    assert res.warning_codes == ("vbq_outside_published_range",)
    high = make_phantom(tmp_path / "low3", vbq=1.4, n_slices=7, distractors=(),
                        field_strength=3.0)
    assert vbq.score_series(high.series_dir, rois=high.rois_path).warning_codes == ()


# --------------------------------------------------------------------------- (c) CSF ROI


def test_a_csf_roi_reaching_into_marrow_is_heterogeneous(drawn):
    series, roi_masks = drawn
    csf = roi_masks.masks["CSF"] | roi_masks.masks["L3"]
    image = series.pixels(roi_masks.slice_index)
    cv = np.std(image[csf], ddof=1) / np.mean(image[csf])   # independent of the gate's code
    assert cv > 0.25
    from dataclasses import replace

    res = score_roi_masks(series, replace(roi_masks, masks={**roi_masks.masks, "CSF": csf}))
    assert "csf_roi_heterogeneous" in res.warning_codes
    text = res.warnings[res.warning_codes.index("csf_roi_heterogeneous")]
    assert f"{cv:.0%}" in text


def test_the_csf_roi_is_compared_with_the_canal_when_that_is_known(drawn):
    from dataclasses import replace

    series, roi_masks = drawn
    # the phantom's CSF ROI measures ~100: within a reference of (100, 5) ...
    same = score_roi_masks(series, replace(roi_masks, csf_reference=(100.0, 5.0)))
    assert not NEW_CODES & set(same.warning_codes)
    # ... but brighter than a canal of (60, 5): limit 60 + max(2 x 5, 0.1 x 60) = 70
    darker = score_roi_masks(series, replace(roi_masks, csf_reference=(60.0, 5.0)))
    assert darker.warning_codes == ("csf_roi_brighter_than_canal",)
    assert "limit 70" in darker.warnings[0]
    # the limit itself: 100 > 90 + max(2 x 4, 0.1 x 90) = 99 warns; 100 <= 91 + 9.1 does not
    assert gates.check_csf_roi(100.0, None, None, (90.0, 4.0))
    assert not gates.check_csf_roi(100.0, None, None, (91.0, 4.0))


def test_the_cv_limit_is_25_percent():
    assert not gates.check_csf_roi(100.0, 100.0, 25.0)
    assert [w.code for w in gates.check_csf_roi(100.0, 100.0, 25.1)] == ["csf_roi_heterogeneous"]


# ---------------------------------------------------------------------- (d) ROIs, slice, levels


def test_overlapping_rois_are_named_with_their_shared_pixels(drawn):
    from dataclasses import replace

    series, roi_masks = drawn
    l1 = roi_masks.masks["L1"] | roi_masks.masks["L2"]      # a leak of L1 into L2
    shared = int(np.count_nonzero(roi_masks.masks["L2"]))
    res = score_roi_masks(series, replace(roi_masks, masks={**roi_masks.masks, "L1": l1}))
    assert "rois_overlap" in res.warning_codes
    text = res.warnings[res.warning_codes.index("rois_overlap")]
    assert f"ROIs L1 and L2 share {shared} pixels on slice {roi_masks.slice_index}" in text


def test_a_roi_outside_its_body_is_reported_when_the_body_is_known(drawn):
    from dataclasses import replace

    series, roi_masks = drawn
    roi = roi_masks.masks["L3"]
    inside = score_roi_masks(series, replace(roi_masks, body_masks={"L3": roi.copy()}))
    assert inside.warning_codes == ()
    rows = np.nonzero(roi.any(axis=1))[0]
    half = roi.copy()
    half[rows[len(rows) // 2]:] = False                     # the body covers the upper part
    outside = int(np.count_nonzero(roi & ~half))
    res = score_roi_masks(series, replace(roi_masks, body_masks={"L3": half}))
    assert res.warning_codes == ("roi_outside_body",)
    assert f"({outside} of {int(roi.sum())} pixels)" in res.warnings[0]
    # 5% of the pixels outside is allowed, one more pixel is not
    body = np.zeros((20, 20), bool)
    body[:10, :10] = True
    five = body.copy()
    five[10, :5] = True                                      # 105 pixels, 5 outside: 4.8%
    assert not gates.check_inside_bodies({"L1": five}, {"L1": body})
    six = five.copy()
    six[10, 5] = True                                        # 106 pixels, 6 outside: 5.7%
    assert gates.check_inside_bodies({"L1": six}, {"L1": body})


def test_a_seed_in_the_neighbouring_body_is_refused(phantom, tmp_path):
    # the L2 seed clicked inside L3 (row 127.5 is L3's centre): both lead to L3's body
    doc = json.loads(phantom.seeds_path.read_text())
    for s in doc["seeds"]:
        if s["label"] == "L2":
            s["point"] = [127.5, 128.0]
    with pytest.raises(BodyNotFoundError, match="the L2 and L3 clicks lead to the same "
                       "vertebral body"):
        vbq.score_series(phantom.series_dir, seeds=doc)


def test_a_slice_far_from_the_midline_is_reported_and_carried(drawn):
    from dataclasses import replace

    series, roi_masks = drawn
    near = score_roi_masks(series, replace(roi_masks, midline_offset_mm=3.0))
    assert near.warning_codes == () and near.to_dict()["slice"]["midline_offset_mm"] == 3.0
    far = score_roi_masks(series, replace(roi_masks, midline_offset_mm=-4.5))
    assert far.warning_codes == ("slice_off_midline",)
    assert "4.5 mm from the mid-sagittal plane" in far.warnings[0]
    assert "4.5 mm from the mid-sagittal plane" in far.summary()



@pytest.mark.parametrize(("source", "said"), [
    ("bodies", "4.5 mm from the mid-sagittal plane found through the vertebral bodies (more"),
    ("labels", "4.5 mm from the mid-sagittal plane found from the mask's labels (more"),
    ("canal", "4.5 mm from the mid-sagittal plane found at the canal (the vertebral bodies "
              "could not be followed across the slices, and a spine turned about its long "
              "axis puts the canal a few millimetres to one side of the plane through the "
              "bodies: check the slice on the QC figure) (more than 3 mm)"),
    (None, "4.5 mm from the mid-sagittal plane (more than 3 mm)"),
])
def test_the_slice_warning_says_how_the_plane_was_found(drawn, source, said):
    from dataclasses import replace

    series, roi_masks = drawn
    far = score_roi_masks(series, replace(roi_masks, midline_offset_mm=-4.5,
                                          midline_source=source))
    assert far.warning_codes == ("slice_off_midline",) and said in far.warnings[0]
    assert far.to_dict()["slice"].get("midline_source") == source
    how = {"bodies": " through the bodies", "labels": " from the labels",
           "canal": " at the canal", None: ""}[source]
    line = f"4.5 mm from the mid-sagittal plane{how})"
    assert far.slice_line().endswith(line) and line in far.summary()


def test_a_level_far_from_the_others_is_reported_unless_excluded():
    # L4 560 vs median(400, 410, 395) = 400: 40% > 30%
    values = {"L1": 400, "L2": 410, "L3": 395, "L4": 560, "CSF": 130}
    r = score_values(values)
    assert r.warning_codes == ("level_signal_outlier",)
    assert "L4's signal intensity 560 differs by 40%" in r.warnings[0]
    excluded = score_values(values, exclude={"L4": "fracture"})
    assert "level_signal_outlier" not in excluded.warning_codes
    # 30% exactly is allowed: 520 vs 400
    assert score_values({**values, "L4": 520}).warning_codes == ()


# --------------------------------------------------------------------------- every path


def test_the_clean_phantom_passes_every_gate_from_every_source(phantom):
    for kwargs in ({"rois": phantom.rois_path},
                   {"mask": phantom.mask_path, "labels": "totalspineseg"},
                   {"seeds": phantom.seeds_path}):
        res = vbq.score_series(phantom.series_dir, **kwargs)
        assert not NEW_CODES & set(res.warning_codes), (kwargs, res.warnings)


def test_from_values_refuses_row_by_row_and_forces_by_column_or_flag(tmp_path, capsys):
    table = tmp_path / "v.csv"
    table.write_text("id,L1,L2,L3,L4,CSF,force\n"
                     "ok,410,395,402,388,131,\n"
                     "bright,100,110,120,130,120,no\n"
                     "forced,100,110,120,130,120,yes\n")
    assert main(["from-values", str(table)]) == 1          # well formed, one row refused
    captured = capsys.readouterr()
    assert "row 2 (id bright), column CSF: the CSF signal intensity (120)" in captured.err
    rows = captured.out.splitlines()
    assert rows[1].startswith("ok,3.04") and rows[3].startswith("forced,0.958")
    assert "at or above the median marrow" in rows[3]      # the forced row's warning
    assert main(["from-values", str(table), "--force"]) == 0
    capsys.readouterr()
    table.write_text("id,L1,L2,L3,L4,CSF,force\nx,100,110,120,130,120,maybe\n")
    assert main(["from-values", str(table)]) == 2
    assert "column force: 'maybe' is not yes or no" in capsys.readouterr().err


def test_from_values_reads_the_field_strength(tmp_path, capsys):
    table = tmp_path / "v.csv"
    table.write_text("id,L1,L2,L3,L4,CSF,field_strength_t\na,140,140,140,140,100,3\n"
                     "b,140,140,140,140,100,1.5\n")
    assert main(["from-values", str(table), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "vbq_outside_published_range" not in out[0]["warning_codes"]
    assert "vbq_outside_published_range" in out[1]["warning_codes"]


# --------------------------------------------------------------------------- the QC figure


def test_the_qc_figure_lists_every_warning_not_only_their_count(drawn):
    from dataclasses import replace

    pytest.importorskip("matplotlib")
    series, roi_masks = drawn
    res = score_roi_masks(series, replace(roi_masks, midline_offset_mm=5.0,
                                          csf_reference=(60.0, 5.0)))
    assert len(res.warnings) == 2
    ax = res.plot_qc()
    text = " ".join(ax.xaxis.label.get_text().split())
    for code, warning in zip(res.warning_codes, res.warnings, strict=True):
        assert f"[{code}] {' '.join(warning.split())}" in text
    assert "2 warning(s):" in text
    clean = score_roi_masks(series, roi_masks).plot_qc()
    assert "no warnings" in clean.xaxis.label.get_text()
