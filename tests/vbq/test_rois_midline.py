"""A drawn ROI file is checked against the mid-sagittal plane like every other ROI mode.

Reference: the realistic phantom's true mid-sagittal slice (``expected.json``
``reference.slice``) and the slice spacing (4.4 mm), fixed by construction: the
reader's ellipses moved two slices to the side lie 8.8 mm from the plane, past
gate (d)'s 3 mm.
"""

import json

import vbq
from vbq.phantom import make_phantom


def _rois_on(info, tmp_path, index):
    doc = json.loads(info.rois_path.read_text())
    doc["slice"] = index
    path = tmp_path / f"rois_{index}.json"
    path.write_text(json.dumps(doc))
    return path


def test_drawn_rois_two_slices_off_the_midline_are_warned(tmp_path):
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=1, rows=160, n_slices=9)
    mid = info.expected["reference"]["slice"]
    on = vbq.score_series(info.series_dir, rois=_rois_on(info, tmp_path, mid))
    off = vbq.score_series(info.series_dir, rois=_rois_on(info, tmp_path, mid + 2),
                           force=True)
    assert "slice_off_midline" not in on.warning_codes
    assert abs(on.to_dict()["slice"]["midline_offset_mm"]) < 3.0
    assert "slice_off_midline" in off.warning_codes
    assert abs(off.to_dict()["slice"]["midline_offset_mm"]) > 3.0


def _l4_one_slice_off(info, tmp_path, key: str) -> tuple[dict, object, int]:
    """The phantom's ROI (``key`` "rois") or seed (``key`` "seeds") file with L4 moved one
    slice off the true mid-sagittal slice; returns the document, its path and that slice."""
    mid = info.expected["reference"]["slice"]
    doc = json.loads((info.rois_path if key == "rois" else info.seeds_path).read_text())
    doc["slice"] = mid
    for e in doc[key]:
        if e["label"] == "L4":
            e["slice"] = mid + 1
    path = tmp_path / f"l4_off_{key}.json"
    path.write_text(json.dumps(doc))
    return doc, path, mid + 1


def _off_midline(res) -> list[str]:
    return [w for w, c in zip(res.warnings, res.warning_codes, strict=True)
            if c == "slice_off_midline"]


def test_one_roi_on_another_slice_is_warned_by_name(tmp_path):
    """L4 one slice off (4.4 mm from the plane, past 3 mm) while the others are on the
    mid-sagittal slice: warned by name, with its distance; the main slice is not."""
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=1, rows=160, n_slices=9)
    spacing = info.expected["geometry"]["slice_spacing_mm"]
    doc, path, off = _l4_one_slice_off(info, tmp_path, "rois")
    res = vbq.score_series(info.series_dir, rois=path)
    said = _off_midline(res)
    assert len(said) == 1 and said[0].startswith(
        "L4 is measured on another slice than the other ROIs, ")
    shown = float(said[0].split(", ")[1].split(" mm")[0])
    # the plane is found from the anatomy: within half a slice of the true one
    assert abs(shown - spacing) < 0.5 * spacing
    assert res.levels["L4"].slice_index == off
    # excluded, L4's slice no longer matters
    doc["exclude"] = {"L4": "other"}
    path.write_text(json.dumps(doc))
    again = vbq.score_series(info.series_dir, rois=path)
    assert "slice_off_midline" not in again.warning_codes


def test_a_seed_on_another_slice_is_warned_by_name(tmp_path):
    """The same through a seed with its own slice: the proposal puts L4 on that slice."""
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=1, rows=160, n_slices=9)
    _, path, off = _l4_one_slice_off(info, tmp_path, "seeds")
    res = vbq.score_series(info.series_dir, seeds=path)
    said = _off_midline(res)
    assert len(said) == 1 and said[0].startswith("L4 is measured on another slice")
    assert res.levels["L4"].slice_index == off
