"""The fast canal tracer gives the answers of the kept reference implementation.

Reference: :func:`vbq.roi.canal._trace` with ``fast=False``, the tracer as it
was before it was made fast (the marrow from the distance of every pixel of
the image, the whole straightened image median-filtered, the runs of CSF
found one station at a time, one :func:`numpy.median` per sample of the
running median), its pieces (``_marrow_full``, ``_smooth_full``,
``_walls_loop``, ``_running_median_loop``) and hand-computed cases. The fast
code picks or averages the very same samples (medians of odd counts are one
of them, of even counts the mean of the same two), so the answers are
identical; 1e-12 only allows for the last bit of a mean of two numbers below
1e3.
"""

from __future__ import annotations

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi import canal
from vbq.roi.canal import canal_reference, place_csf, trace_canal
from vbq.roi.midline import level_centres
from vbq.roi.rois import RoiFile

TOL = 1e-12


def test_running_median_hand_computed():
    x = np.array([1.0, np.nan, 5.0, 2.0, 8.0, np.nan])
    # width 3: [1], NaN kept, [5, 2] -> 3.5, [5, 2, 8] -> 5, [2, 8] -> 5, NaN kept
    got = canal._running_median(x, 3)
    assert np.array_equal(np.isnan(got), [False, True, False, False, False, True])
    assert got[[0, 2, 3, 4]] == pytest.approx([1.0, 3.5, 5.0, 5.0], abs=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_running_median_equals_one_median_per_sample(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 3.0, size=int(rng.integers(1, 300)))
    x[rng.random(x.size) < rng.uniform(0.0, 0.7)] = np.nan
    for width in (1, 3, 9, 10):
        got = canal._running_median(x, width)
        ref = canal._running_median_loop(x, width)
        assert np.array_equal(np.isnan(got), np.isnan(ref))
        assert np.nanmax(np.abs(got - ref), initial=0.0) <= TOL


def test_walls_hand_computed():
    # samples 0.5 mm apart; runs [1, 4) and [6, 12) (gap 2 <= bridge 6, length >= 2): joined
    depths = np.arange(20) * 0.5
    like = np.zeros((2, 20), dtype=bool)
    like[0, 1:4] = True
    like[0, 6:12] = True
    sac = np.zeros_like(like)
    sac[0, 7] = True
    like[1, 2:4] = True      # no sample of the sac: not found
    front, back = canal._walls(like, sac, depths)
    assert front[0] == pytest.approx(0.5 - 0.25, abs=TOL)
    assert back[0] == pytest.approx(5.5 + 0.25, abs=TOL)
    assert np.isnan(front[1]) and np.isnan(back[1])


@pytest.mark.parametrize("seed", range(8))
def test_walls_equal_the_station_by_station_runs(seed):
    rng = np.random.default_rng(seed)
    n, m = 120, 93
    like = rng.random((n, m)) < rng.uniform(0.2, 0.9)
    like[rng.random(n) < 0.1] = False
    sac = like & (rng.random((n, m)) < rng.uniform(0.05, 0.6))
    depths = np.arange(m) * 0.5 + 2.0
    got = canal._walls(like, sac, depths)
    ref = canal._walls_loop(like, sac, depths)
    for g, r in zip(got, ref, strict=True):
        assert np.array_equal(np.isnan(g), np.isnan(r))
        assert np.nanmax(np.abs(g - r), initial=0.0) <= TOL


@pytest.mark.parametrize("seed", range(4))
def test_marrow_box_equals_the_whole_image(seed):
    rng = np.random.default_rng(seed)
    img = rng.random((60, 50)) * 100
    spacing = (float(rng.uniform(0.3, 1.5)), float(rng.uniform(0.3, 1.5)))
    # centres inside, on the border and just off the image
    known = [("L1", np.array([rng.uniform(0, 59), rng.uniform(0, 49)])),
             ("L2", np.array([0.0, 49.0])), ("L3", np.array([-2.0, 25.3])),
             ("L4", np.array([30.5, 51.0]))]
    assert canal._marrow(img, known, spacing) == canal._marrow_full(img, known, spacing)


def test_smoothing_on_the_band_equals_the_whole_image():
    rng = np.random.default_rng(0)
    straight = rng.random((80, 129)) * 100
    depths = np.arange(-4.0, 60.0 + 1e-9, 0.5)
    band = (depths >= 2.0) & (depths <= 48.0)
    got = canal._smooth_band(straight, band)
    ref = canal._smooth_full(straight, band)
    assert np.array_equal(got[:, band], ref[:, band])
    assert np.isnan(got[:, ~band]).all()


def _same_track(a, b):
    for name in ("points", "tangents", "normals", "arc_mm", "depths_mm", "straight",
                 "front_mm", "back_mm"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        assert np.nanmax(np.abs(x - y), initial=0.0) <= TOL, name
    assert a.csf_level == pytest.approx(b.csf_level, abs=TOL)
    assert a.marrow == pytest.approx(b.marrow, abs=TOL)
    assert a.level_arc == b.level_arc


CASES = [("simple", 0, None), ("realistic", 3, "random"), ("realistic", 7, "all"),
         ("realistic", 12, "random")]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}{c[1]}{c[2] or ''}")
def anatomy(request, tmp_path_factory):
    kind, seed, variants = request.param
    info = make_phantom(tmp_path_factory.mktemp(f"{kind}{seed}"), anatomy=kind, seed=seed,
                        variants=variants, distractors=None)
    series = load_series(info.series_dir).series
    # the body centres of the drawn ROI file, as scoring it traces the canal
    rois = RoiFile.from_json(info.series_dir.parent / "rois.json").masks(series)
    centres = level_centres(rois.masks)
    index = rois.slice_index
    image = np.asarray(series.pixels(index), dtype=float)
    return image, series.slices[index].geometry, centres


def test_trace_equals_the_reference_tracer(anatomy):
    image, geometry, centres = anatomy
    assert len(centres) >= 2
    shifted = {k: (v[0] - 5.0, v[1] + 3.0) for k, v in centres.items()}
    for c in (centres, shifted):
        fast = trace_canal(image, geometry, c)
        ref = canal._trace(image, geometry, c, fast=False)
        _same_track(fast, ref)
        assert canal_reference(fast) == pytest.approx(canal_reference(ref), abs=TOL)
        # the CSF ROI placed on either track is the same ROI
        p_fast = place_csf(image, geometry, c, track=fast)
        p_ref = place_csf(image, geometry, c, track=ref)
        assert np.array_equal(p_fast.mask, p_ref.mask)
        assert p_fast.note == p_ref.note
        assert p_fast.centre == pytest.approx(p_ref.centre, abs=TOL)
        assert p_fast.half_depth_mm == pytest.approx(p_ref.half_depth_mm, abs=TOL)

