"""Turned ellipses and rectangles (``angle_deg``): hand-computed pixels and a brute-force rule.

References: the membership rule of :mod:`vbq.roi.shapes` ("counter-clockwise as
displayed": the row axis points along (cos a, sin a) in (row, column)); the
pixels below are worked out by hand from it, and the brute-force reference
rotates every pixel centre with Python's math module, independently of numpy.
"""

import json
import math

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.roi.rois import RoiFile
from vbq.roi.shapes import ellipse_mask, rectangle_mask


def _brute(shape, centre, radii, angle, rect=False):
    out = np.zeros(shape, dtype=bool)
    a = math.radians(angle)
    for r in range(shape[0]):
        for c in range(shape[1]):
            dr, dc = r - centre[0], c - centre[1]
            u = dr * math.cos(a) + dc * math.sin(a)
            v = -dr * math.sin(a) + dc * math.cos(a)
            if rect:
                out[r, c] = -radii[0] <= u < radii[0] and -radii[1] <= v < radii[1]
            else:
                out[r, c] = (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1.0
    return out


def test_angle_zero_and_ninety_by_hand():
    # 3 x 1 ellipse (ry=3 down the rows, rx=1): a vertical bar with a 3-pixel waist
    m0 = ellipse_mask((7, 7), (3, 3), (3, 1), 0.0)
    assert sorted(map(tuple, np.argwhere(m0))) == [
        (0, 3), (1, 3), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3), (5, 3), (6, 3)]
    # turned 90 degrees counter-clockwise as displayed: the long axis along the columns
    m90 = ellipse_mask((7, 7), (3, 3), (3, 1), 90.0)
    assert sorted(map(tuple, np.argwhere(m90))) == [
        (2, 3), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6), (4, 3)]
    np.testing.assert_array_equal(m90, m0.T)
    np.testing.assert_array_equal(ellipse_mask((7, 7), (3, 3), (3, 1), -90.0), m90)
    np.testing.assert_array_equal(ellipse_mask((7, 7), (3, 3), (3, 1), 180.0), m0)


def test_thirty_degrees_by_hand():
    # ry = 4, rx = 1 at 30 degrees: the row axis points down and to the right
    # (cos 30, sin 30) = (0.866, 0.5). Pixel (3, 2) from centre (0, 0): u = 3*0.866 + 2*0.5
    # = 3.598, v = -1.5 + 1.732 = 0.232 -> (3.598/4)^2 + 0.232^2 = 0.863 <= 1: inside.
    # (3, 0): u = 2.598, v = -1.5 -> 0.42 + 2.25 > 1: outside. (-3, -2) is (3, 2) mirrored.
    m = ellipse_mask((11, 11), (5, 5), (4, 1), 30.0)
    assert m[5 + 3, 5 + 2] and m[5 - 3, 5 - 2]
    assert not m[5 + 3, 5] and not m[5 - 3, 5]
    # down-left is outside, down-right inside: counter-clockwise as displayed
    assert not m[5 + 3, 5 - 2]


@pytest.mark.parametrize("angle", [0.0, 17.0, 30.0, 45.0, 90.0, 123.4, -60.0, 300.0])
def test_against_brute_force(angle):
    shape, centre = (23, 27), (11.3, 12.6)
    np.testing.assert_array_equal(ellipse_mask(shape, centre, (7.2, 3.1), angle),
                                  _brute(shape, centre, (7.2, 3.1), angle))
    # a rectangle turned about its centre: corner (5, 6), size (9, 5) -> centre (9.5, 8.5)
    got = rectangle_mask(shape, (5.0, 6.0), (9.0, 5.0), angle)
    want = _brute(shape, (9.5, 8.5), (4.5, 2.5), angle, rect=True)
    if angle == 0.0:
        np.testing.assert_array_equal(got, want)
    else:  # boundaries of a turned rectangle: only floating-point ties may differ
        assert (got != want).sum() <= 2


def test_rectangle_ninety_by_hand():
    # corner (2, 3), size (5, 3): centre (4.5, 4.5); turned 90 degrees it spans columns 2-6
    # (u = dc in [-2.5, 2.5)) and rows 4-6 (v = -dr in [-1.5, 1.5), i.e. dr in (-1.5, 1.5])
    m = rectangle_mask((9, 9), (2, 3), (5, 3), 90.0)
    assert sorted(map(tuple, np.argwhere(m))) == [(r, c) for r in (4, 5, 6) for c in range(2, 7)]


def test_rotated_scale_turns_in_millimetres():
    # 2 mm rows and 1 mm columns: a 6 x 2 mm ellipse turned 90 degrees spans 6 mm
    # (6 columns each side) and 2 mm (1 row each side)
    m = ellipse_mask((9, 15), (4, 7), (6.0, 2.0), 90.0, (2.0, 1.0))
    assert m[4].sum() == 13 and m[:, 7].sum() == 3


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("rot"), n_slices=7, distractors=())
    return info, load_series(info.series_dir).series


def test_roi_file_angle_zero_is_the_unrotated_file(phantom):
    info, series = phantom
    doc = json.loads(info.rois_path.read_text())
    plain = RoiFile.from_json(doc).masks(series)
    for roi in doc["rois"]:
        if roi["shape"] in ("ellipse", "rectangle"):
            roi["angle_deg"] = 0
    turned = RoiFile.from_json(doc).masks(series)
    for k in plain.masks:
        np.testing.assert_array_equal(plain.masks[k], turned.masks[k])


def test_pixel_and_patient_space_turn_the_same_way(phantom):
    info, series = phantom
    k = info.slice
    geom = series.slices[k].geometry
    sr, sc = (float(v) for v in geom.spacing)
    centre = (60.0, 70.0)
    px_doc = {"format": "vbq-rois/1", "space": "pixel", "slice": k, "rois": [
        {"label": "L1", "shape": "ellipse", "center": list(centre), "radii": [9.0, 3.0],
         "angle_deg": 30}]}
    xyz = geom.pixel_to_patient(np.array(centre))
    pt_doc = {"format": "vbq-rois/1", "space": "patient", "rois": [
        {"label": "L1", "shape": "ellipse", "center": [float(v) for v in np.ravel(xyz)],
         "radii": [9.0 * sr, 3.0 * sc], "angle_deg": 30}]}
    a = RoiFile.from_json(px_doc).masks(series).masks["L1"]
    b = RoiFile.from_json(pt_doc).masks(series).masks["L1"]
    assert a.sum() > 50
    assert (a != b).sum() <= 2   # the same pixels, but for ties of the converted centre
    np.testing.assert_array_equal(a, ellipse_mask(a.shape, centre, (9.0, 3.0), 30.0))


@pytest.mark.parametrize("shape,extra", [("circle", {"radius": 3}),
                                         ("polygon", {"points": [[1, 1], [1, 5], [5, 5]]})])
def test_angle_only_on_ellipses_and_rectangles(shape, extra):
    doc = {"format": "vbq-rois/1", "rois": [{"label": "L1", "shape": shape, "angle_deg": 10,
                                             **extra}]}
    with pytest.raises(InputError, match='unknown key "angle_deg"'):
        RoiFile.from_json(doc)


@pytest.mark.parametrize("bad", ["ten", None, float("inf"), [1]])
def test_angle_must_be_a_number(bad):
    doc = {"format": "vbq-rois/1", "rois": [{"label": "L1", "shape": "ellipse",
                                             "center": [5, 5], "radii": [2, 1],
                                             "angle_deg": bad}]}
    with pytest.raises(InputError, match="angle_deg"):
        RoiFile.from_json(doc)
