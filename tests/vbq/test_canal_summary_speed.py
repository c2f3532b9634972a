"""The fast pieces of the canal summary give the answers of the kept reference code.

References: :func:`vbq.roi.canal._refine_unsorted` (a mask of the candidates
and one :func:`numpy.median` per step), :func:`vbq.roi.canal._canal_reference_loop`
(one station at a time), the centroid of :func:`numpy.nonzero` over the whole
image, and hand-computed cases. The fast code takes the very same samples
(the middle one of an odd count, the mean of the same two of an even count;
whole-number indices summed exactly), so the answers are compared exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi import canal
from vbq.roi.canal import canal_reference, trace_canal
from vbq.roi.midline import level_centres
from vbq.roi.rois import RoiFile


def test_refine_hand_computed():
    cand = np.array([10.0, 11.0, 12.0, 13.0, 30.0, 31.0])
    # near 12 (9.6 .. 15): 10, 11, 12, 13 -> 11.5; near 11.5 (9.2 .. 14.375): the same
    assert canal._refine(np.sort(cand), 12.0) == 11.5
    # near 31 (24.8 .. 38.75): 30, 31 -> 30.5, and it stays there
    assert canal._refine(np.sort(cand), 31.0) == 30.5
    # nothing near 100: unchanged
    assert canal._refine(np.sort(cand), 100.0) == 100.0


@pytest.mark.parametrize("seed", range(8))
def test_refine_equals_the_masked_median(seed):
    rng = np.random.default_rng(seed)
    # integer-valued signal (many ties, as in DICOM) and smooth signal
    cand = np.concatenate([rng.integers(20, 400, 300).astype(float),
                           rng.gamma(4.0, 30.0, 200 + seed)])
    ordered = np.sort(cand)
    for start in np.linspace(15.0, 500.0, 40):
        assert canal._refine(ordered, float(start)) == canal._refine_unsorted(cand, float(start))


@pytest.mark.parametrize("seed", range(6))
def test_level_centres_equal_the_whole_image_centroid(seed):
    rng = np.random.default_rng(seed)
    masks = {}
    for lvl in ("L1", "L2", "L3", "L4"):
        m = np.zeros((64, 48), dtype=bool)
        r0, c0 = rng.integers(0, 60), rng.integers(0, 44)  # some touch the image's edges
        m[r0:r0 + rng.integers(1, 20), c0:c0 + rng.integers(1, 20)] = True
        m &= rng.random(m.shape) < 0.8
        m[r0, c0] = True
        masks[lvl] = m
    masks["L5"] = np.zeros((64, 48), dtype=bool)  # empty: left out
    masks["CSF"] = np.ones((64, 48), dtype=bool)  # not a vertebral level: left out
    got = level_centres(masks)
    assert set(got) == {"L1", "L2", "L3", "L4"}
    for lvl, (r, c) in got.items():
        rr, cc = np.nonzero(masks[lvl])
        assert (r, c) == (float(rr.mean()), float(cc.mean()))


def test_level_centres_hand_computed():
    m = np.zeros((5, 6), dtype=bool)
    m[1, 2] = m[3, 2] = m[3, 5] = True
    assert level_centres({"L2": m}) == {"L2": (7 / 3, 3.0)}


@pytest.mark.parametrize("anatomy", ["simple", "realistic"])
@pytest.mark.parametrize("seed", [0, 3])
def test_canal_reference_equals_the_station_by_station_reference(tmp_path, anatomy, seed):
    info = make_phantom(tmp_path / "ph", seed=seed, rows=256, n_slices=9, distractors="none",
                        anatomy=anatomy)
    series = load_series(info.series_dir).series
    rm = RoiFile.from_json(info.rois_path).masks(series)
    img = np.asarray(series.pixels(rm.slice_index), dtype=float)
    track = trace_canal(img, series.slices[rm.slice_index].geometry, level_centres(rm.masks))
    assert canal_reference(track) == canal._canal_reference_loop(track)
    other = np.asarray(series.pixels(rm.slice_index - 1), dtype=float)
    assert canal_reference(track, other) == canal._canal_reference_loop(track, other)
