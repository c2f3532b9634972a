"""ROIs with shapes cut out of them (``minus``): membership, both spaces, errors, tracing.

Membership is checked on hand-computed grids; the traced outlines against the
mask they were traced from; patient space against pixel space.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes
from test_rois_support import make_series

from vbq.errors import InputError
from vbq.roi.rois import MAX_MINUS, MAX_MINUS_VERTICES, RoiFile
from vbq.roi.shapes import ellipse_mask, mask_rings, polygon_mask, rectangle_mask

DOC = {
    "format": "vbq-rois/1", "space": "pixel", "slice": 2,
    "rois": [
        {"label": "L1", "shape": "rectangle", "corner": [10, 8], "size": [6, 9],
         "minus": [{"shape": "circle", "center": [12, 10], "radius": 1},
                   {"shape": "polygon", "points": [[13.5, 13.5], [13.5, 16.5], [15.5, 16.5],
                                                   [15.5, 13.5]]}]},
        {"label": "L2", "shape": "ellipse", "center": [30.0, 18.0], "radii": [5.0, 7.0],
         "angle_deg": 20.0,
         "minus": [{"shape": "ellipse", "center": [31.0, 20.0], "radii": [2.0, 3.0],
                    "angle_deg": -30.0},
                   {"shape": "rectangle", "corner": [26, 12], "size": [2, 3]}]},
        {"label": "CSF", "level": "L2", "shape": "ellipse", "center": [30.0, 30.0],
         "radii": [4.0, 1.5]},
    ],
}


@pytest.fixture
def series():
    return make_series(np.zeros((5, 50, 36)), spacing=(0.8, 0.7), gap=4.0)


def doc(**changes):
    out = json.loads(json.dumps(DOC))
    out.update(changes)
    return out


def cells(mask):
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}


def test_a_rectangle_less_a_circle_and_a_square_by_hand(series):
    # rectangle rows 10-15, columns 8-16 (54 pixels); the unit circle at (12, 10) holds
    # its centre and 4 neighbours; the square's edges lie on half-pixels: rows 14-15,
    # columns 14-16 (6 pixels)
    rm = RoiFile.from_json(DOC).masks(series)
    want = {(r, c) for r in range(10, 16) for c in range(8, 17)}
    want -= {(12, 10), (11, 10), (13, 10), (12, 9), (12, 11)}
    want -= {(r, c) for r in (14, 15) for c in (14, 15, 16)}
    assert cells(rm.masks["L1"]) == want and len(want) == 54 - 5 - 6


def test_a_turned_ellipse_less_its_cut_outs_is_the_shapes_difference(series):
    rm = RoiFile.from_json(DOC).masks(series)
    shape = (50, 36)
    want = (ellipse_mask(shape, (30.0, 18.0), (5.0, 7.0), 20.0)
            & ~ellipse_mask(shape, (31.0, 20.0), (2.0, 3.0), -30.0)
            & ~rectangle_mask(shape, (26, 12), (2, 3)))
    np.testing.assert_array_equal(rm.masks["L2"], want)
    assert 0 < want.sum() < ellipse_mask(shape, (30.0, 18.0), (5.0, 7.0), 20.0).sum()
    # the outline drawn is the ROI's own shape
    assert rm.outlines["L2"].shape[1] == 2


def _to_patient(d, series):
    geom = series.slices[d["slice"]].geometry
    sr, sc = geom.spacing

    def shape(s):
        s = dict(s)
        for key in ("center", "corner"):
            if key in s:
                s[key] = geom.pixel_to_patient(s[key]).tolist()
        if "points" in s:
            s["points"] = geom.pixel_to_patient(np.array(s["points"], float)).tolist()
        if "radius" in s:                 # a circle is an ellipse in millimetres
            s["shape"], s["radii"] = "ellipse", [s["radius"] * sr, s.pop("radius") * sc]
        elif "radii" in s:
            s["radii"] = [s["radii"][0] * sr, s["radii"][1] * sc]
        if "size" in s:
            s["size"] = [s["size"][0] * sr, s["size"][1] * sc]
        if "minus" in s:
            s["minus"] = [shape(m) for m in s["minus"]]
        return s

    out = dict(d, space="patient", rois=[shape(r) for r in d["rois"]])
    del out["slice"]
    return out


def test_patient_space_cut_outs_select_the_same_pixels(series):
    # square pixels keep circles circles and turned shapes rigid in millimetres
    sq = make_series(np.zeros((5, 50, 36)), spacing=(0.8, 0.8), gap=4.0)
    px = RoiFile.from_json(DOC).masks(sq)
    pt = RoiFile.from_json(_to_patient(DOC, sq)).masks(sq)
    for label in px.masks:
        np.testing.assert_array_equal(px.masks[label], pt.masks[label], err_msg=label)


def test_the_workstation_export_to_patient_space_keeps_the_cut_outs():
    from vbq.serve.exports import rois_to_patient

    sq = make_series(np.zeros((5, 50, 36)), spacing=(0.8, 0.8), gap=4.0)
    out = rois_to_patient(DOC, sq)
    assert len(out["rois"][0]["minus"]) == 2 and "slice" not in out["rois"][0]["minus"][0]
    px = RoiFile.from_json(DOC).masks(sq)
    pt = RoiFile.from_json(out).masks(sq)
    for label in px.masks:
        np.testing.assert_array_equal(px.masks[label], pt.masks[label], err_msg=label)


@pytest.mark.parametrize("spacing", [1.09375, 0.9375, 0.78125, 0.5859375, 0.46875,
                                     (0.9375, 1.09375), (0.5859375, 0.46875)])
def test_the_export_keeps_boundary_pixels(spacing):
    """Quarter-pixel shapes, turned or not: edges through pixel centres survive the export.

    On pixels that are not square a turned ellipse has other axes in millimetres (found
    from ``M M^T``); those are written unrounded too.

    Positions and lengths are written unrounded (4.25 x 1.09375 = 4.6484375 mm); rounded
    to 6 decimals of a millimetre they moved a boundary pixel in about one turned
    rectangle in five on 1.09375 mm pixels, and in several per cent of shapes on finer
    pixels, where 1e-6 mm is more than the 1e-6 pixel the reader rounds to.
    """
    from vbq.serve.exports import rois_to_patient

    pair = spacing if isinstance(spacing, tuple) else (spacing, spacing)
    sq = make_series(np.zeros((5, 60, 60)), spacing=pair, gap=6.0)
    rng = np.random.default_rng(7)
    for i in range(120):
        angle = float(rng.choice([0.0, 90.0, 180.0, -90.0, 45.0]))
        size = [float(rng.integers(2, 40)) / 4, float(rng.integers(2, 40)) / 4]
        corner = [float(rng.integers(60, 160)) / 4, float(rng.integers(60, 160)) / 4]
        roi = ({"shape": "rectangle", "corner": corner, "size": size} if i % 2 else
               {"shape": "ellipse", "center": [corner[0] + 2, corner[1] + 2],
                "radii": [size[0] / 2 + 1, size[1] / 2 + 1]})
        d = {"format": "vbq-rois/1", "space": "pixel", "slice": 2, "rois": [
            {"label": "L1", "shape": "circle", "center": [30, 30], "radius": 20,
             "minus": [dict(roi, angle_deg=angle)]},
            {"label": "L2", **roi, "angle_deg": angle}]}
        try:
            px = RoiFile.from_json(d).masks(sq)
        except InputError:
            continue                                     # no pixel centre inside
        if pair[0] != pair[1] and "corner" in roi and angle % 180.0:
            # a turned rectangle on pixels that are not square is no rectangle in mm
            with pytest.raises(InputError, match="draw an ellipse"):
                rois_to_patient(d, sq)
            continue
        pt = RoiFile.from_json(rois_to_patient(d, sq)).masks(sq)
        for label in px.masks:
            np.testing.assert_array_equal(px.masks[label], pt.masks[label], err_msg=str(d))


def test_a_patient_space_cut_out_off_the_rois_slice_is_an_error(series):
    d = _to_patient(DOC, series)
    d["rois"][1]["minus"][0]["center"][0] += 4.0    # one slice gap along the normal (x)
    with pytest.raises(InputError, match=r"ROI 2 \(L2\): minus\[0\]: lies 4\.0 mm from the "
                       r"plane of slice 2, the ROI's slice"):
        RoiFile.from_json(d).masks(series)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rois"][0].update(minus={"shape": "circle"}),
         r"ROI 1 \(L1\): 'minus' must be a list of shapes"),
        (lambda d: d["rois"][0].update(minus=[3]),
         r"ROI 1 \(L1\): minus\[0\]: a shape must be a JSON object"),
        (lambda d: d["rois"][0]["minus"][0].update(label="L1"),
         r'ROI 1 \(L1\): minus\[0\]: unknown key "label"'),
        (lambda d: d["rois"][0]["minus"][1].update(minus=[]),
         r'ROI 1 \(L1\): minus\[1\]: unknown key "minus"'),
        (lambda d: d["rois"][0]["minus"][1].update(slice=2),
         r'ROI 1 \(L1\): minus\[1\]: unknown key "slice"'),
        (lambda d: d["rois"][0]["minus"][0].update(angle_deg=5),
         r'ROI 1 \(L1\): minus\[0\]: unknown key "angle_deg"'),
        (lambda d: d["rois"][0]["minus"][0].pop("radius"),
         r'ROI 1 \(L1\): minus\[0\]: missing key "radius" for a circle'),
        (lambda d: d["rois"][0]["minus"][1].update(points=[[1, 1], [2, 2]]),
         r"ROI 1 \(L1\): minus\[1\]: 'points' must be a list of at least 3 points"),
        (lambda d: d["rois"][0].update(minus=[{"shape": "circle", "center": [1, 1],
                                               "radius": 1}] * (MAX_MINUS + 1)),
         rf"ROI 1 \(L1\): 'minus' holds {MAX_MINUS + 1} shapes, more than the {MAX_MINUS}"),
        (lambda d: d["rois"][0].update(minus=[{"shape": "polygon", "points": [[9.0, 9.0]] * (
            MAX_MINUS_VERTICES // 10)}] * 11),
         rf"ROI 1 \(L1\): the 'minus' polygons have {MAX_MINUS_VERTICES * 11 // 10:,} vertices "
         rf"together, more than the {MAX_MINUS_VERTICES:,} a ROI may have; simplify them"),
    ],
)
def test_bad_cut_outs_name_the_roi_and_the_item(mutate, message):
    d = doc()
    mutate(d)
    with pytest.raises(InputError, match=message):
        RoiFile.from_json(d)


def test_a_roi_cut_out_entirely_is_an_error(series):
    d = doc()
    d["rois"][0]["minus"] = [{"shape": "rectangle", "corner": [9, 7], "size": [8, 11]}]
    with pytest.raises(InputError, match=r"ROI 1 \(L1\): has no pixel left once its 'minus' "
                       "shapes are cut out"):
        RoiFile.from_json(d).masks(series)


def test_an_empty_minus_list_changes_nothing(series):
    d = doc()
    d["rois"][1]["minus"] = []
    base = doc()
    del base["rois"][1]["minus"]
    np.testing.assert_array_equal(RoiFile.from_json(d).masks(series).masks["L2"],
                                  RoiFile.from_json(base).masks(series).masks["L2"])


# ----------------------------------------------------------------- tracing masks


def test_rings_of_a_two_by_two_block_by_hand():
    m = np.zeros((5, 5), dtype=bool)
    m[1:3, 2:4] = True
    (ring,) = mask_rings(m)
    # the block's edges are rows 0.5 and 2.5, columns 1.5 and 3.5; each corner is cut by a
    # quarter pixel, leaving an octagon
    want = {(0.5, 1.75), (0.5, 3.25), (0.75, 3.5), (2.25, 3.5), (2.5, 3.25), (2.5, 1.75),
            (2.25, 1.5), (0.75, 1.5)}
    assert {(float(r), float(c)) for r, c in ring} == want and len(ring) == 8
    np.testing.assert_array_equal(polygon_mask(m.shape, ring), m)


@pytest.mark.parametrize("seed", range(6))
def test_rings_select_the_mask_with_its_holes_filled(seed):
    rng = np.random.default_rng(seed)
    m = rng.random((24, 19)) < rng.uniform(0.15, 0.6)
    rings = mask_rings(m)
    union = np.zeros_like(m)
    for ring in rings:
        assert np.all(ring * 4 == np.round(ring * 4))      # quarter pixels: exact in JSON
        assert not np.array_equal(ring[0], ring[-1])
        union |= polygon_mask(m.shape, ring)
    assert np.all(union[m])
    assert not np.any(union & ~binary_fill_holes(m))
    assert mask_rings(np.zeros((4, 4), dtype=bool)) == []


def test_cut_out_outlines_are_carried_for_drawing(series):
    rm = RoiFile.from_json(DOC).masks(series)
    assert set(rm.cut_outlines) == {"L1", "L2"}
    assert len(rm.cut_outlines["L1"]) == 2 and rm.cut_outlines["L1"][1].shape[1] == 2


def test_the_cut_outs_vertex_limit_is_inclusive():
    """Exactly MAX_MINUS_VERTICES vertices over a ROI's cut-outs are read; one more is not."""
    def with_vertices(n):
        d = doc()
        d["rois"][0]["minus"] = [{"shape": "polygon", "points": [[9.0, 9.0]] * 10_000}] * (
            n // 10_000) + ([{"shape": "polygon", "points": [[9.0, 9.0]] * (n % 10_000)}]
                            if n % 10_000 else [])
        return d

    RoiFile.from_json(with_vertices(MAX_MINUS_VERTICES))
    with pytest.raises(InputError, match=f"{MAX_MINUS_VERTICES + 1:,} vertices together"):
        RoiFile.from_json(with_vertices(MAX_MINUS_VERTICES + 1))
