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
