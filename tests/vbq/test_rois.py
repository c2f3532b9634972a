"""ROI files (vbq-rois/1): membership rules on hand-computed grids, parsing, placement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_rois_support import make_series

from vbq.errors import InputError
from vbq.roi.rois import RoiFile
from vbq.roi.shapes import ellipse_mask, polygon_mask, rectangle_mask


def cells(mask: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}


# ----------------------------------------------------------------- membership, by hand


def test_circle_boundary_pixels_are_included():
    # centre + 4 neighbours lie at distance <= 1 (the 4 neighbours exactly on it)
    m = ellipse_mask((5, 5), (2, 2), (1, 1))
    assert cells(m) == {(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)}


def test_ellipse_radii_are_rows_then_columns():
    # ry = 2 along rows, rx = 1 along columns: (dr/2)^2 + dc^2 <= 1
    m = ellipse_mask((5, 5), (2, 2), (2, 1))
    assert cells(m) == {(0, 2), (1, 2), (2, 2), (3, 2), (4, 2), (2, 1), (2, 3)}


def test_circle_radius_5_has_81_lattice_points():
    # Gauss circle problem: N(5) = 81 integer points with x^2 + y^2 <= 25,
    # including (3, 4) and (5, 0) exactly on the boundary
    m = ellipse_mask((11, 11), (5, 5), (5, 5))
    assert m.sum() == 81
    assert m[8, 9] and m[5, 10] and not m[9, 9]


def test_half_integer_circle_centre():
    m = ellipse_mask((4, 4), (1.5, 1.5), (1, 1))
    assert cells(m) == {(1, 1), (1, 2), (2, 1), (2, 2)}


def test_rectangle_is_half_open():
    m = rectangle_mask((5, 5), (1, 1), (2, 3))
    assert cells(m) == {(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)}
    m = rectangle_mask((5, 5), (0.5, 0.5), (1, 1))
    assert cells(m) == {(1, 1)}


def test_axis_aligned_polygon_selects_what_the_rectangle_does():
    pts = np.array([[1, 1], [1, 3], [3, 3], [3, 1]], float)
    assert cells(polygon_mask((5, 5), pts)) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    np.testing.assert_array_equal(polygon_mask((5, 5), pts),
                                  rectangle_mask((5, 5), (1, 1), (2, 2)))


def test_triangle_even_odd():
    tri = np.array([[0, 0], [0, 4], [4, 0]], float)
    want = {(r, c) for r in range(5) for c in range(5) if r + c < 4}
    assert cells(polygon_mask((5, 5), tri)) == want


def test_polygon_wound_twice_is_empty_by_even_odd():
    twice = np.array([[1, 1], [1, 3], [3, 3], [3, 1]] * 2, float)
    assert not polygon_mask((5, 5), twice).any()


def test_concave_polygon():
    # an L: 4x4 square minus its top-right 2x2 quadrant
    ell = np.array([[0, 0], [0, 2], [2, 2], [2, 4], [4, 4], [4, 0]], float)
    want = {(r, c) for r in range(4) for c in range(4) if not (r < 2 and c >= 2)}
    assert cells(polygon_mask((6, 6), ell)) == want


# ----------------------------------------------------------------- the file

BASE = {
    "format": "vbq-rois/1",
    "space": "pixel",
    "slice": 2,
    "rois": [
        {"label": "L1", "shape": "ellipse", "center": [10.0, 12.5], "radii": [3.0, 4.0]},
        {"label": "L2", "shape": "polygon", "points": [[18, 8], [18, 16], [24, 16], [24, 8]]},
        {"label": "L3", "shape": "circle", "center": [30.0, 12.0], "radius": 3.5},
        {"label": "L4", "shape": "rectangle", "corner": [38, 8], "size": [6, 9]},
        {"label": "CSF", "level": "L3", "shape": "ellipse", "center": [30.0, 28.0],
         "radii": [4.0, 1.5]},
    ],
    "exclude": {"L2": "fracture"},
}


@pytest.fixture
def series():
    return make_series(np.zeros((5, 50, 36)), spacing=(0.8, 0.7), gap=4.0)


def edit(**changes):
    doc = json.loads(json.dumps(BASE))
    doc.update(changes)
    return doc


def test_masks_pixel_space(series):
    rm = RoiFile.from_json(BASE).masks(series)
    assert rm.slice_index == 2 and rm.csf_level == "L3" and rm.excluded == {"L2": "fracture"}
    np.testing.assert_array_equal(rm.masks["L4"], rectangle_mask((50, 36), (38, 8), (6, 9)))
    assert rm.masks["L4"].sum() == 54
    assert set(rm.outlines) == {"L1", "L2", "L3", "L4", "CSF"}


def to_patient(doc, series):
    geom = series.slices[doc["slice"]].geometry
    sr, sc = geom.spacing
    out = json.loads(json.dumps(doc))
    out["space"] = "patient"
    del out["slice"]
    for roi in out["rois"]:
        for key in ("center", "corner"):
            if key in roi:
                roi[key] = geom.pixel_to_patient(roi[key]).tolist()
        if "points" in roi:
            roi["points"] = geom.pixel_to_patient(np.array(roi["points"], float)).tolist()
        if "radii" in roi:
            roi["radii"] = [roi["radii"][0] * sr, roi["radii"][1] * sc]
        if "size" in roi:
            roi["size"] = [roi["size"][0] * sr, roi["size"][1] * sc]
    return out


def test_patient_space_selects_the_same_pixels(series):
    # a circle only stays a circle in patient space when the spacing is isotropic
    doc = edit()
    doc["rois"][2] = {"label": "L3", "shape": "ellipse", "center": [30.0, 12.0],
                      "radii": [3.5, 3.5]}
    px = RoiFile.from_json(doc).masks(series)
    pt = RoiFile.from_json(to_patient(doc, series)).masks(series)
    assert pt.slice_index == 2
    for label in px.masks:
        np.testing.assert_array_equal(px.masks[label], pt.masks[label], err_msg=label)


def test_patient_space_point_between_slices_is_an_error(series):
    doc = to_patient(BASE, series)
    doc["rois"][0]["center"][0] += 50.0  # far off the stack along x (the normal)
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): lies outside the image stack"):
        RoiFile.from_json(doc).masks(series)


def test_patient_space_polygon_off_the_slice_plane_is_an_error(series):
    # the mean of the vertices lies on slice 2, but the vertices alternate 3 mm either
    # side of its plane (the slices are 4 mm apart): the polygon is on no single slice,
    # and projecting it onto slice 2 would silently measure another region
    doc = to_patient(BASE, series)
    pts = doc["rois"][1]["points"]
    for i, p in enumerate(pts):
        p[0] += 3.0 if i % 2 else -3.0
    with pytest.raises(InputError, match=r"ROI 2 \(L2\): points\[0\] lies 3\.0 mm from the "
                       r"plane of slice 2"):
        RoiFile.from_json(doc).masks(series)
    for i, p in enumerate(pts):  # within half the slice gap of the plane: still accepted
        p[0] -= 1.5 if i % 2 else -1.5
    rm = RoiFile.from_json(doc).masks(series)
    assert rm.slice_of("L2") == 2


def test_slice_by_sop_instance_uid_and_per_roi_slice(series):
    doc = edit(slice={"sop_instance_uid": "1.2.3.3"})
    doc["rois"][0]["slice"] = 1
    rm = RoiFile.from_json(doc).masks(series)
    assert rm.slice_index == 3 and rm.slice_of("L1") == 1 and rm.slice_of("L2") == 3


def test_user_slice_overrides_file_default(series):
    rm = RoiFile.from_json(BASE).masks(series, slice=4)
    assert rm.slice_index == 4


def test_default_slice_is_mid_sagittal(series):
    doc = edit()
    del doc["slice"]
    assert RoiFile.from_json(doc).masks(series).slice_index == series.mid_slice


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rois"][3].update(radius2=3), r'rois: ROI 4 \(L4\): unknown key "radius2"'),
        (lambda d: d.update(comment="x"), r'rois: unknown key "comment"'),
        (lambda d: d["rois"][0].update(label="L9"), r"ROI 1: unknown label 'L9'"),
        (lambda d: d["rois"][0].update(shape="blob"), r"ROI 1 \(L1\): unknown shape 'blob'"),
        (lambda d: d["rois"][4].pop("level"), r'ROI 5 \(CSF\): missing key "level"'),
        (lambda d: d["rois"][0].update(level="L3"), r'ROI 1 \(L1\): key "level" is only'),
        (lambda d: d["rois"][1].update(label="L1"), r"ROI 2 \(L1\): label L1 already used"),
        (lambda d: d["rois"][2].update(radius=-1), r"ROI 3 \(L3\): 'radius' must be positive"),
        (lambda d: d["rois"][0].update(center=[1, 2, 3]), r"'center' must be a list of 2"),
        (lambda d: d.update(format="vbq-rois/2"), r'"format" must be "vbq-rois/1"'),
        (lambda d: d.update(exclude={"L2": "broken"}), r"unknown exclusion reason 'broken'"),
        (lambda d: d.update(slice=-1), r"slice must be a 0-based index"),
        (lambda d: d.update(space="voxel"), r'"space" must be "pixel" or "patient"'),
    ],
)
def test_bad_files_name_the_key_and_roi(mutate, message):
    doc = edit()
    mutate(doc)
    with pytest.raises(InputError, match=message):
        RoiFile.from_json(doc)


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "rois.json"
    path.write_text('{\n  "format": "vbq-rois/1",\n  "rois": [\n    {"label": "L1",,}\n]}\n')
    with pytest.raises(InputError, match=r"rois\.json: malformed JSON at line 4"):
        RoiFile.from_json(path)


def test_duplicate_key_is_an_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"format": "vbq-rois/1", "format": "vbq-rois/1", "rois": []}')
    with pytest.raises(InputError, match='key "format" appears twice'):
        RoiFile.from_json(path)


def test_roi_outside_the_image(series):
    doc = edit()
    doc["rois"][0]["center"] = [200.0, 12.0]
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): lies outside the image"):
        RoiFile.from_json(doc).masks(series)


def test_roi_extending_beyond_the_image(series):
    doc = edit()
    doc["rois"][0]["center"] = [1.0, 12.0]  # radius 3 along rows reaches row -2
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): extends beyond the image"):
        RoiFile.from_json(doc).masks(series)


def test_roi_with_no_pixel_centre(series):
    doc = edit()
    doc["rois"][2] = {"label": "L3", "shape": "circle", "center": [30.5, 12.5], "radius": 0.4}
    with pytest.raises(InputError, match=r"ROI 3 \(L3\): contains no pixel centre"):
        RoiFile.from_json(doc).masks(series)


def test_slice_outside_the_series(series):
    with pytest.raises(InputError, match=r"slice 9 is outside the series"):
        RoiFile.from_json(edit(slice=9)).masks(series)


def test_patient_space_slice_must_agree(series):
    doc = to_patient(BASE, series)
    with pytest.raises(InputError, match=r"lies on slice 2, not on the slice 3 asked for"):
        RoiFile.from_json(doc).masks(series, slice=3)
    doc["rois"][0]["slice"] = 1
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): lies on slice 2, not on the slice 1 "
                                         r"named in the file"):
        RoiFile.from_json(doc).masks(series)


def test_huge_coordinates_are_rejected():
    doc = edit()
    doc["rois"][0]["center"] = [1e300, 5.0]
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): 'center' must be a list of 2 numbers"):
        RoiFile.from_json(doc)
