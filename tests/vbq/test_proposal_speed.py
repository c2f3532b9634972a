"""The fast inscribed-ellipse search of proposals gives the brute-force answer.

Reference: :func:`vbq.roi.proposal._clear_scale_brute`, the distance matrix of
every candidate centre to every disallowed pixel in the ellipse's scaled metric
(the formula proposals used before), and hand-computed cases. Both compute the
same distance formula for the nearest pixel, so they agree to rounding: 1e-12
is a thousand times the double-precision error of a sum of two squares of
numbers below 1e3, and far below the 1e-4 pixel the ROI file keeps.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi import proposal
from vbq.roi.csfroi import _deepest
from vbq.roi.proposal import _clear_scale, _clear_scale_brute, propose

TOL = 1e-12


def test_hand_computed_scales():
    # one bad pixel 3 mm along u of a centre, semi-axes 2 (u) and 1 (v): scale 3 / 2;
    # a second one 1.2 mm along v: 1.2 / 1 is nearer in the scaled metric
    cu, cv = np.array([0.0, 10.0]), np.array([0.0, 0.0])
    bad_u, bad_v = np.array([3.0, 10.0]), np.array([0.0, 1.2])
    got = _clear_scale(cu, cv, bad_u, bad_v, 2.0, 1.0)
    # the other pixel is farther in each case: hypot(10 / 2, 1.2 / 1) = 5.14 > 1.5 and
    # 7 / 2 = 3.5 > 1.2
    assert got == pytest.approx([1.5, 1.2], abs=TOL)
    # a turned grid needs no special case: the scaled metric is a plain Euclidean one
    got = _clear_scale(np.array([0.0]), np.array([0.0]), np.array([3.0, -2.0]),
                       np.array([4.0, -2.0]), 1.0, 1.0)
    assert got == pytest.approx([math.sqrt(8.0)], abs=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_the_distance_matrix_on_turned_anisotropic_grids(seed):
    rng = np.random.default_rng(seed)
    ang = rng.uniform(-0.6, 0.6)
    sr, sc = rng.uniform(0.3, 1.2, size=2)
    rows, cols = np.mgrid[0:70, 0:90]
    dr, dc = (rows - 35.0) * sr, (cols - 45.0) * sc
    u = dr * math.cos(ang) + dc * math.sin(ang)
    v = -dr * math.sin(ang) + dc * math.cos(ang)
    ok = rng.random(u.shape) > rng.uniform(0.02, 0.5)
    ru0, rv0 = rng.uniform(2.0, 15.0, size=2)
    got = _clear_scale(u[ok], v[ok], u[~ok], v[~ok], ru0, rv0)
    ref = _clear_scale_brute(u[ok], v[ok], u[~ok], v[~ok], ru0, rv0)
    assert np.max(np.abs(got - ref)) <= TOL


def test_no_candidates_by_pixels_matrix():
    # 20,000 candidates against 80,000 pixels: the matrix would take 12.8 GB per array
    rng = np.random.default_rng(3)
    cu, cv = rng.uniform(-50, 50, size=(2, 20_000))
    bu, bv = rng.uniform(-50, 50, size=(2, 80_000))
    got = _clear_scale(cu, cv, bu, bv, 8.0, 5.0)
    some = slice(0, 200)
    assert np.max(np.abs(got[some] - _clear_scale_brute(cu[some], cv[some], bu, bv, 8.0, 5.0))
                  ) <= TOL


@pytest.mark.parametrize("seed", range(8))
def test_deepest_pixel_equals_the_whole_image_distance_map(seed):
    # reference: the whole image's distance map (image border outside), first maximum
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    spacing = (float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0)))
    mask = np.zeros((120, 100), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        r0, c0 = rng.integers(0, 120), rng.integers(0, 100)
        rr, cc = np.ogrid[0:120, 0:100]
        ry, rx = rng.uniform(2.0, 30.0, size=2)
        mask |= ((rr - r0) / ry) ** 2 + ((cc - c0) / rx) ** 2 <= 1.0
    mask &= rng.random(mask.shape) > 0.03           # pinholes: many nearby outside pixels
    edt = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1]
    ref = np.unravel_index(int(np.argmax(edt)), edt.shape)
    assert _deepest(mask, spacing) == (float(ref[0]), float(ref[1]))


def _bodies(series, seeds):
    prop = propose(series, seeds)
    return prop, {lv: (b.ellipse_centre, b.radii_mm, b.angle_deg)
                  for lv, b in prop.bodies.items()}


@pytest.mark.parametrize("case", [("simple", 0, None), ("realistic", 10, "random"),
                                  ("realistic", 11, "all"), ("realistic", 12, "random")])
def test_proposals_equal_the_brute_force_ones(tmp_path, monkeypatch, case):
    anatomy, seed, variants = case
    kw = {} if variants is None else {"variants": variants}
    info = make_phantom(tmp_path / "p", anatomy=anatomy, seed=seed, rows=192, n_slices=7,
                        distractors=(), **kw)
    series = load_series(info.series_dir).series
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    fast, got = _bodies(series, seeds)
    monkeypatch.setattr(proposal, "_clear_scale", _clear_scale_brute)
    slow, ref = _bodies(series, seeds)
    assert got.keys() == ref.keys() and len(got) >= 4
    for lv in ref:
        (c1, r1, a1), (c2, r2, a2) = got[lv], ref[lv]
        assert np.max(np.abs(np.subtract(c1, c2))) <= TOL, lv
        assert np.max(np.abs(np.subtract(r1, r2))) <= TOL, lv
        assert abs(a1 - a2) <= TOL, lv
    assert fast.rois == slow.rois and fast.notes == slow.notes
