"""The fast mid-sagittal plane and canal tracer give the whole pipeline's old answers.

References (kept here, private): the plane searches as they were before their
speed work, reading every slice whole (:func:`_bodies_whole_slices`,
:func:`_canal_whole_slices`: the sac's runs found by running maxima of their
starts and minima of their ends), and the canal tracer's kept reference pieces
(:func:`vbq.roi.canal._median3_sorted`, a selection of the middle of each 3 x 3
window; :func:`vbq.roi.canal._band_of_full`, the regions labelled on the whole
image and their stations counted one by one). With those put in their place,
``score_series`` gives the same result JSON, exactly, with a ROI file, a label
mask and seed points, on simple and realistic phantoms: the speed work reads
fewer bytes and does less arithmetic, and never changes a number. The pieces
are also compared alone, with :func:`scipy.ndimage.median_filter` and on random
images full of ties.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

import vbq
from vbq.dicom.series import SeriesInfo
from vbq.errors import AnalysisError, InputError
from vbq.phantom import make_phantom
from vbq.roi import canal, labelmask, midline
from vbq.roi.canal import CSF_WINDOW, CanalTrack


def _bodies_whole_slices(series: SeriesInfo, index: int,
                         centres: Mapping[str, Sequence[float]]) -> midline.Midline:
    """midline_from_bodies reading every slice whole, the contrast on all of them (reference)."""
    positions = midline.slice_positions(series)
    n = len(series.slices)
    img0 = np.asarray(series.pixels(index), dtype=float)
    sr, sc = (float(v) for v in series.slices[index].geometry.spacing)
    bands = midline._bands(centres, (sr, sc), img0.shape)
    if len(bands) < 2:
        raise AnalysisError("fewer than two body centres to follow across the slices")
    contrast = np.full((len(bands), n), np.nan)
    for k in range(n):
        try:
            img = np.asarray(series.pixels(k), dtype=float)
        except InputError:
            continue
        contrast[:, k] = bands.contrast(img[bands.box])
    frac = midline.ENDPLATE_FRACTION
    centres_mm = []
    for row in contrast:
        if not (np.isfinite(row[index]) and row[index] > 0):
            continue
        a = midline._run_end(row, int(index), -1, frac * row[index])
        b = midline._run_end(row, int(index), 1, frac * row[index])
        if a == 0 or b == n - 1 or not np.isfinite(row[a - 1:b + 2]).all():
            continue
        centres_mm.append(midline._middle(row, positions, a, b))
    if len(centres_mm) < 2:
        raise AnalysisError("fewer than two bodies could be followed from side to side "
                            "across the slices")
    return midline._make(float(np.mean(centres_mm)), positions, "bodies")


def _canal_whole_slices(series: SeriesInfo, track: CanalTrack,
                        arc_range: tuple[float, float] | None = None) -> midline.Midline:
    """midline_from_canal straightening every slice whole (reference)."""
    positions = midline.slice_positions(series)
    if arc_range is None:
        arcs = list(track.level_arc.values())
        arc_range = (min(arcs), max(arcs))
    use = (track.arc_mm >= arc_range[0]) & (track.arc_mm <= arc_range[1]) & track.found
    stations = np.flatnonzero(use)
    if stations.size == 0:
        raise AnalysisError("the sac was not found beside the scored levels, so the "
                            "mid-sagittal plane cannot be found; choose the slice with --slice")
    centre = track.centre_mm()[stations]
    lo, hi = CSF_WINDOW
    depths = track.depths_mm
    step = float(depths[1] - depths[0])
    sub = replace(track, points=track.points[stations], normals=track.normals[stations])
    idx = np.arange(depths.size)
    away = np.abs(depths[None, :] - centre[:, None])
    c0 = np.argmin(away, axis=1)
    reach = (away <= 3.0) | (idx[None, :] == c0[:, None])
    gap = np.abs(idx[None, :] - c0[:, None])
    samples = np.full((len(series.slices), stations.size, depths.size), np.nan)
    for k in range(len(series.slices)):
        try:
            samples[k] = sub.sample(np.asarray(series.pixels(k), dtype=float))
        except InputError:
            continue
    like = (samples >= lo * track.csf_level) & (samples <= hi * track.csf_level)
    dist = np.where(like & reach, gap, depths.size)
    c = np.argmin(dist, axis=2)[..., None]
    hit = np.take_along_axis(dist, c, axis=2)[..., 0] < depths.size
    starts = like.copy()
    starts[..., 1:] &= ~like[..., :-1]
    ends = like.copy()
    ends[..., :-1] &= ~like[..., 1:]
    first = np.maximum.accumulate(np.where(starts, idx, 0), axis=2)
    last = np.minimum.accumulate(np.where(ends, idx, depths.size)[..., ::-1], axis=2)[..., ::-1]
    a = np.take_along_axis(first, c, axis=2)[..., 0]
    b = np.take_along_axis(last, c, axis=2)[..., 0]
    depth = np.where(hit, (b - a + 1) * step, 0.0)
    depth[depth < 3.0] = 0.0
    weight = depth.sum(axis=0)
    ok = weight > 0
    if not ok.any():
        raise AnalysisError("the sac was found on no slice, so the mid-sagittal plane cannot be "
                            "found; choose the slice with --slice")
    per_station = (positions[:, None] * depth[:, ok]).sum(axis=0) / weight[ok]
    return midline._make(float(np.median(per_station)), positions, "canal")


def _use_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(midline, "midline_from_bodies", _bodies_whole_slices)
    monkeypatch.setattr(midline, "midline_from_canal", _canal_whole_slices)
    monkeypatch.setattr(labelmask, "midline_from_canal", _canal_whole_slices)
    monkeypatch.setattr(canal, "_median3", canal._median3_sorted)
    monkeypatch.setattr(canal, "_band_of", canal._band_of_full)
    monkeypatch.setattr(SeriesInfo, "pixel_boxes",
                        lambda self, k, boxes: [self.pixels(k)[b] for b in boxes])


def _results(info) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, kwargs in (("rois", {"rois": info.rois_path}),
                         ("mask", {"mask": info.mask_path, "labels": "totalspineseg"}),
                         ("seeds", {"seeds": info.seeds_path})):
        try:
            out[name] = vbq.score_series(info.series_dir, **kwargs).to_dict()
        except vbq.VBQError as err:  # the same refusal, in the same words
            out[name] = f"{type(err).__name__}: {err}"
    return json.loads(json.dumps(out))


CASES = [
    {"anatomy": "simple", "seed": 0, "rows": 256, "n_slices": 11},
    {"anatomy": "simple", "seed": 5, "rows": 160, "n_slices": 9, "compress": "rle"},
    {"anatomy": "realistic", "seed": 1, "rows": 256, "n_slices": 11, "variants": "all"},
    {"anatomy": "realistic", "seed": 6, "rows": 256, "n_slices": 13, "variants": "random"},
    {"anatomy": "realistic", "seed": 9, "rows": 192, "n_slices": 11, "variants": "random"},
    {"anatomy": "simple", "seed": 12, "rows": 256, "n_slices": 9, "enhanced": True,
     "rescale_slope": 0.25, "rescale_intercept": 7.0},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_score_json_equals_the_whole_slice_references(tmp_path, monkeypatch, case):
    info = make_phantom(tmp_path / "ph", distractors="none", **case)
    fast = _results(info)
    with monkeypatch.context() as m:
        _use_references(m)
        ref = _results(info)
    for name in ("rois", "mask", "seeds"):
        assert fast[name] == ref[name], name
    assert isinstance(fast["rois"], dict) and fast["rois"]["slice"]["midline_offset_mm"] is not None


@pytest.mark.parametrize("seed", range(12))
def test_median3_equals_the_selection_and_scipy(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
    a = [rng.integers(0, 4, shape).astype(float),            # many ties
         rng.normal(100.0, 30.0, shape),
         np.round(rng.gamma(2.0, 50.0, shape), 1)][seed % 3]
    got = canal._median3(a)
    assert np.array_equal(got, canal._median3_sorted(a))
    assert np.array_equal(got, ndimage.median_filter(a, size=3, mode="nearest"))


def test_median3_hand_computed():
    a = np.array([[1.0, 9.0, 2.0], [8.0, 3.0, 7.0], [4.0, 6.0, 5.0]])
    # the centre's window is all nine: 1..9 -> 5; the corner (0, 0) sees 1 1 9 / 1 1 9 / 8 8 3
    got = canal._median3(a)
    assert got[1, 1] == 5.0 and got[0, 0] == 3.0


@pytest.mark.parametrize("seed", range(16))
def test_band_of_equals_the_whole_image_labelling(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 80)), int(rng.integers(8, 60))
    smooth = np.where(rng.random((n, d)) < rng.uniform(0.3, 0.8), 100.0, 300.0)
    smooth += rng.normal(0.0, 3.0, (n, d))
    band = np.zeros(d, dtype=bool)
    band[int(rng.integers(0, d // 3)):int(rng.integers(d // 2, d + 1))] = True
    smooth[:, ~band] = np.nan   # as the smoothed band is: NaN outside it
    for level in (100.0, 90.0, 300.0, 1000.0):
        got, ref = canal._band_of(smooth, band, level), canal._band_of_full(smooth, band, level)
        assert np.array_equal(got[0], ref[0]) and got[1:] == ref[1:]
    empty = np.zeros(d, dtype=bool)
    got, ref = canal._band_of(smooth, empty, 100.0), canal._band_of_full(smooth, empty, 100.0)
    assert np.array_equal(got[0], ref[0]) and got[1:] == ref[1:]


@pytest.mark.parametrize("seed", range(10))
def test_bilinear_equals_scipy_linear_interpolation(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    stack = rng.normal(100.0, 30.0, (3, h, w))
    stack[1] = np.round(stack[1])
    coords = np.stack([rng.uniform(-3.0, h + 2.0, (17, 11)), rng.uniform(-3.0, w + 2.0, (17, 11))])
    coords[:, :4] = np.round(coords[:, :4])          # whole pixels
    coords[0, 4, :] = h - 1                          # the last row and column exactly
    coords[1, 5, :] = w - 1
    sampler = midline._Bilinear(coords, (h, w))
    together = sampler(stack)
    for k in range(3):
        want = ndimage.map_coordinates(stack[k], coords, order=1, mode="nearest")
        assert np.array_equal(sampler(stack[k]), want)
        assert np.array_equal(together[k], want)


def test_bilinear_hand_computed():
    image = np.array([[0.0, 10.0], [20.0, 30.0]])
    sampler = midline._Bilinear(np.array([[0.5, 0.0, 1.0, -5.0], [0.5, 0.25, 1.0, 9.0]]), (2, 2))
    # the middle: 15; a quarter along the top row: 2.5; the corner; beyond the edges: clamped
    assert sampler(image).tolist() == [15.0, 2.5, 30.0, 10.0]
    with pytest.raises(ValueError, match="shape"):
        sampler(np.zeros((3, 2)))


@pytest.mark.parametrize("seed", [1, 4])
def test_plane_from_the_sac_equals_the_whole_slices_whatever_the_depth_window(tmp_path,
                                                                               monkeypatch, seed):
    """Narrow windows make most runs reach their ends: those are followed on whole profiles."""
    from vbq.dicom import load_series
    from vbq.roi.canal import trace_canal
    from vbq.roi.rois import RoiFile

    info = make_phantom(tmp_path / "ph", rows=192, n_slices=11, distractors="none",
                        anatomy="realistic", seed=seed, variants="random")
    series = load_series(info.series_dir).series
    rm = RoiFile.from_json(info.rois_path).masks(series)
    k = rm.slices["CSF"]
    track = trace_canal(series.pixels(k), series.slices[k].geometry,
                        midline.level_centres({lvl: m for lvl, m in rm.masks.items()
                                               if rm.slices[lvl] == k}))
    want = _canal_whole_slices(series, track)
    # a slice that cannot be read is left out alike
    bad = series.slices[(k + 3) % len(series)].path
    data = bad.read_bytes()
    followed: list[int] = []
    real = midline._run_lengths
    monkeypatch.setattr(midline, "_run_lengths",
                        lambda like, c: followed.append(like.ndim) or real(like, c))
    for half in (8, 12, 24, 64, 200):
        monkeypatch.setattr(midline, "_RUN_HALF", half)
        followed.clear()
        assert midline.midline_from_canal(load_series(info.series_dir).series, track) == want
        if half == 8:
            assert followed == [3, 2]  # some runs were followed on their whole profile
    bad.write_bytes(data[:-500])
    try:
        cut = load_series(info.series_dir).series
        want_cut = _canal_whole_slices(cut, track)
        for half in (8, 24):
            monkeypatch.setattr(midline, "_RUN_HALF", half)
            assert midline.midline_from_canal(load_series(info.series_dir).series,
                                              track) == want_cut
    finally:
        bad.write_bytes(data)
