"""The mid-sagittal plane from the sac: the fast search gives the answers of the plain one.

Reference: :func:`_reference_midline`, the method of :func:`vbq.roi.midline.midline_from_canal`
written out one slice and one station at a time (the whole track straightened on every
slice, the CSF run through each station's centre followed sample by sample). Both take the
very same samples and add the same numbers in the same order, so the planes are compared
exactly, on realistic phantoms (oblique and scoliotic spines among them, where the sac
shifts from slice to slice) and with a slice that cannot be read.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vbq.dicom.index import index_folder
from vbq.errors import AnalysisError, InputError
from vbq.phantom import make_phantom
from vbq.roi import midline
from vbq.roi.canal import CSF_WINDOW, CanalTrack, trace_canal


def _reference_midline(series, track, branches):
    """The plane of midline_from_canal, one slice and one station at a time."""
    positions = midline.slice_positions(series)
    arcs = list(track.level_arc.values())
    use = (track.arc_mm >= min(arcs)) & (track.arc_mm <= max(arcs)) & track.found
    stations = np.flatnonzero(use)
    if stations.size == 0:
        raise AnalysisError("no station")
    centre = track.centre_mm()[stations]
    lo, hi = CSF_WINDOW
    depth = np.zeros((len(series.slices), stations.size))
    step = float(track.depths_mm[1] - track.depths_mm[0])
    for k in range(len(series.slices)):
        try:
            pixels = np.asarray(series.pixels(k), dtype=float)
        except InputError:
            continue
        s = track.sample(pixels)[stations]
        like = (s >= lo * track.csf_level) & (s <= hi * track.csf_level)
        for j in range(stations.size):
            c = int(np.argmin(np.abs(track.depths_mm - centre[j])))
            if not like[j, c]:
                near = np.flatnonzero(like[j] & (np.abs(track.depths_mm - centre[j]) <= 3.0))
                if near.size == 0:
                    branches["none"] += 1
                    continue
                c = int(near[np.argmin(np.abs(near - c))])
                branches["shifted"] += 1
            else:
                branches["centre"] += 1
            a = c
            while a > 0 and like[j, a - 1]:
                a -= 1
            b = c
            while b < like.shape[1] - 1 and like[j, b + 1]:
                b += 1
            depth[k, j] = (b - a + 1) * step
    depth[depth < 3.0] = 0.0
    weight = depth.sum(axis=0)
    ok = weight > 0
    if not ok.any():
        raise AnalysisError("no slice")
    per_station = (positions[:, None] * depth[:, ok]).sum(axis=0) / weight[ok]
    return float(np.median(per_station))


def _cases(info, rng):
    """The series, and (slice, centres) pairs: the seeds' bodies, then jittered by ~3 px."""
    series = index_folder(info.series_dir).series[0]
    seeds = json.loads(info.seeds_path.read_text())
    index = int(seeds.get("slice", series.mid_slice))
    base = {s["label"]: s["point"] for s in seeds["seeds"] if s["label"] != "CSF"}
    out = [(index, base)]
    for shift in (-1, 1, 0, 0):
        out.append((index + shift, {k: (v[0] + rng.normal(0, 3), v[1] + rng.normal(0, 3))
                                    for k, v in base.items()}))
    return series, out


def _compare(series, cases, branches):
    n = 0
    for index, centres in cases:
        try:
            track = trace_canal(series.pixels(index), series.slices[index].geometry, centres)
        except AnalysisError:
            continue
        try:
            want = _reference_midline(series, track, branches)
        except AnalysisError:
            with pytest.raises(AnalysisError):
                midline.midline_from_canal(series, track)
            continue
        got = midline.midline_from_canal(series, track)
        assert got.position_mm == want, (index, centres)
        assert got.slice_index == int(np.argmin(np.abs(midline.slice_positions(series) - want)))
        n += 1
    return n


@pytest.mark.parametrize(("seed", "variants"), [(1, None), (3, "all"), (5, "all"), (14, "random")])
def test_canal_midline_equals_the_plain_search(tmp_path, seed, variants):
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=seed, rows=192,
                        variants=variants, distractors=())
    branches = {"centre": 0, "shifted": 0, "none": 0}
    series, cases = _cases(info, np.random.default_rng(seed))
    assert _compare(series, cases, branches) >= 3
    # every way a station is judged: CSF at the sac's centre, beside it, or none near
    assert min(branches.values()) > 0


def test_canal_midline_with_an_unreadable_slice_equals_the_plain_search(tmp_path):
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=7, rows=192,
                        variants="all", distractors=())
    folder = tmp_path / "copy"
    shutil.copytree(info.series_dir, folder)
    series = index_folder(folder).series[0]
    victim = series.slices[2].path   # away from the scored slice
    raw = victim.read_bytes()
    victim.write_bytes(raw[: len(raw) - 5000])  # pixel data cut short
    series = index_folder(folder).series[0]
    with pytest.raises(InputError):
        series.pixels(2)
    branches = {"centre": 0, "shifted": 0, "none": 0}
    _, cases = _cases(info, np.random.default_rng(7))
    assert _compare(series, cases, branches) >= 3


def test_only_the_stations_used_are_sampled(tmp_path, monkeypatch):
    """Each slice is straightened at the stations beside the scored levels, not the whole track."""
    from scipy import ndimage

    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=1, rows=192, distractors=())
    series, cases = _cases(info, np.random.default_rng(1))
    index, centres = cases[0]
    track = trace_canal(series.pixels(index), series.slices[index].geometry, centres)
    arcs = list(track.level_arc.values())
    used = int(((track.arc_mm >= min(arcs)) & (track.arc_mm <= max(arcs)) & track.found).sum())
    assert used < len(track.arc_mm)
    shapes: list[tuple[int, ...]] = []
    real = ndimage.map_coordinates
    monkeypatch.setattr(ndimage, "map_coordinates",
                        lambda image, coords, **k: shapes.append(coords.shape[1:])
                        or real(image, coords, **k))
    stacks: list[tuple[int, ...]] = []
    bilinear = midline._Bilinear.__call__
    monkeypatch.setattr(midline._Bilinear, "__call__",
                        lambda self, image: stacks.append(self.wr0.shape) or bilinear(self, image))
    midline.midline_from_canal(series, track)
    # the first slice by the track, then by the shortcut (checked against it), then the
    # other slices all at once by the shortcut, at the depths around each station's centre
    # (and a run reaching their ends on its whole profile): always the stations used only
    assert shapes == [(used, len(track.depths_mm))]
    assert stacks[:2] == [(used, len(track.depths_mm)), (used, 2 * midline._RUN_HALF + 1)]
    assert all(shape[0] <= used and shape[1] == len(track.depths_mm) for shape in stacks[2:])


def test_a_track_sampled_otherwise_is_followed(tmp_path, monkeypatch):
    """Were the track's straightening to change, the search would take its samples still."""
    from scipy import ndimage

    def nearest(self, image):  # another rule than the linear one the shortcut assumes
        pts = (self.points[:, None, :]
               + self.depths_mm[None, :, None] * self.normals[:, None, :])
        coords = np.stack([pts[..., 0] / self.spacing[0], pts[..., 1] / self.spacing[1]])
        return ndimage.map_coordinates(np.asarray(image, dtype=float), coords, order=0,
                                       mode="nearest")

    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=3, rows=192,
                        variants="all", distractors=())
    series, cases = _cases(info, np.random.default_rng(3))
    monkeypatch.setattr(CanalTrack, "sample", nearest)
    branches = {"centre": 0, "shifted": 0, "none": 0}
    assert _compare(series, cases, branches) >= 3
