"""The CSF ROI keeps clear of nerve roots, and the phantom's reference does too.

References by construction: a synthetic sac whose root stripe is placed by hand
(the ROI that should remain is worked out from the stripe's columns), and the
realistic phantom's anatomy, sampled again on every plane its renderer averages.
"""

import numpy as np
import pytest
from scipy import ndimage

from vbq.phantom.realistic import (
    CSF_EROSION_MM,
    _fine_codes,
    _make_scan,
    _reference_masks,
    _slab_offsets,
)
from vbq.phantom.spine import CODES, draw_anatomy, parse_variants
from vbq.roi.canal import (
    ROOT_MARGIN_MM,
    ROOT_SMOOTH_MM,
    CanalTrack,
    _less_roots,
    _root_blocks,
)


def _track(root_depths=(), root_signal=150.0, root_stations=slice(None), seed=0):
    """A straight sac along the rows: stations 1 mm apart, depths 0-20 mm every 0.5 mm.

    CSF 100 with noise SD 2; a root stripe at ``root_depths`` (mm) over ``root_stations``.
    """
    rng = np.random.default_rng(seed)
    n = 40
    depths = np.arange(0.0, 20.01, 0.5)
    straight = 100.0 + 2.0 * rng.standard_normal((n, depths.size))
    cols = np.isin(depths, root_depths)
    block = straight[root_stations]
    block[:, cols] = root_signal
    straight[root_stations] = block
    points = np.column_stack([np.arange(n, dtype=float) + 20.0, np.full(n, 30.0)])
    return CanalTrack(points=points, tangents=np.tile([1.0, 0.0], (n, 1)),
                      normals=np.tile([0.0, 1.0], (n, 1)), arc_mm=np.arange(n, dtype=float),
                      depths_mm=depths, straight=straight, front_mm=np.full(n, 1.0),
                      back_mm=np.full(n, 15.0), csf_level=100.0, marrow=300.0,
                      level_arc={"L3": 20.0}, spacing=(1.0, 1.0))


SPAN = np.arange(40)


def _rectangle_px(low: float, high: float) -> np.ndarray:
    """The pixels (1 mm) of the synthetic track's stations SPAN and depths low-high (mm).

    Station ``i`` lies on row ``20 + i`` and depth ``d`` on column ``30 + d``.
    """
    mask = np.zeros((80, 60), dtype=bool)
    mask[20:60, 30 + int(np.ceil(low)):30 + int(np.floor(high)) + 1] = True
    return mask


def _blocked_depths(blocks, station: int) -> tuple[float, float] | None:
    """First and last depth (mm) blocked at one station, or None."""
    i = int(np.flatnonzero(blocks.stations == station)[0])
    d = np.arange(0.0, 20.01, 0.5)[blocks.cols[blocks.blocked[i]]]
    return (float(d[0]), float(d[-1])) if d.size else None


def test_root_stripe_leaves_the_wider_side():
    track = _track(root_depths=(8.0, 8.5, 9.0))
    blocks = _root_blocks(track, SPAN, 2.0, 14.0, 100.0)
    assert blocks is not None
    # averaged over 3 depth samples, the stripe's excess (50) reaches one sample either
    # side at a third (16.7 > ROOT_FLOOR x 100): bright 7.5-9.5 mm; ROOT_MARGIN_MM blocks
    # 2 samples more each side (6.5-10.5) at every station
    assert ROOT_MARGIN_MM == 1.0 and ROOT_SMOOTH_MM[1] == 1.5
    assert blocks.n_roots == 40 * 5
    assert all(_blocked_depths(blocks, i) == (6.5, 10.5) for i in SPAN)
    # on the pixels: depths 7-10 mm are cut, leaving 2-6 mm (5 columns) and 11-14 mm (4);
    # the smaller piece goes too, so the cut-outs are depths 7-14 mm
    mask = _rectangle_px(2.0, 14.0)
    kept, rings = _less_roots(track, mask, blocks)
    assert (kept == _rectangle_px(2.0, 6.0)).all()
    assert len(rings) == 1
    # the ring runs along the pixel edges of columns 37-44, corners cut by a quarter pixel
    assert rings[0][:, 1].min() == 36.5 and rings[0][:, 1].max() == 44.5


def test_root_over_part_of_the_level_cuts_out_its_stations_only():
    # a root beside the slice along the upper 15 stations only, 35 above the CSF at
    # depths 5-8 mm: smoothed over 3 depth samples the excess reaches 4.5 and 8.5 mm at a
    # third (11.7 > 10), so 4.5-8.5 mm is bright to station 13 and 3.5-9.5 mm blocked to
    # station 14. Station 14 keeps two thirds of the excess along the sac: bright 5-8 mm
    # (4.5 mm gets 2/9 of it, 7.8 < 10), blocking 4-9 mm at station 15; station 15 keeps a
    # third: bright 5.5-7.5 mm, blocking 4.5-8.5 mm at station 16, nothing beyond
    track = _track(root_depths=(5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0), root_signal=135.0,
                   root_stations=slice(0, 15))
    blocks = _root_blocks(track, SPAN, 2.0, 14.0, 100.0)
    assert blocks is not None
    assert _blocked_depths(blocks, 5) == _blocked_depths(blocks, 14) == (3.5, 9.5)
    assert _blocked_depths(blocks, 15) == (4.0, 9.0)
    assert _blocked_depths(blocks, 16) == (4.5, 8.5) and _blocked_depths(blocks, 17) is None
    mask = _rectangle_px(2.0, 14.0)
    kept, rings = _less_roots(track, mask, blocks)
    cut = np.zeros_like(mask)
    cut[20:36, 34:40] = True          # stations 0-15, whole millimetres 4-9
    cut[36, 35:39] = True             # station 16, 5-8 mm
    assert (kept == (mask & ~cut)).all() and len(rings) == 1


def test_no_root_no_change_and_noise_is_no_root():
    assert _root_blocks(_track(seed=3), SPAN, 2.0, 14.0, 100.0) is None


def test_faint_excess_below_the_floor_is_kept():
    # 8 % above the CSF: below ROOT_FLOOR, read as CSF
    assert _root_blocks(_track(root_depths=(8.0, 8.5, 9.0), root_signal=108.0),
                        SPAN, 2.0, 14.0, 100.0) is None


@pytest.mark.parametrize("seed", [3, 16])
def test_reference_csf_voxels_clear_roots_on_every_rendered_plane(seed):
    """With partial volume, no plane of a reference CSF voxel lies within 1 mm of a root."""
    on = parse_variants("all", seed)
    assert on["partial_volume"] and on["cauda_equina"]
    an = draw_anatomy(seed, on, None, 1.5)
    scan = _make_scan(an, 15, 256, 256, on["low_res"])
    csf = _reference_masks(an, scan, slab=True)["CSF"]
    flat = _reference_masks(an, scan, slab=False)["CSF"]
    assert csf.sum() >= 30
    assert not (csf & ~flat).any()           # the slab only takes pixels away
    fine = (scan.grid.spacing[0] / 2.0, scan.grid.spacing[1] / 2.0)
    near_flat = 0
    for s in (0.0, *_slab_offsets(scan)):
        code = _fine_codes(an, scan, False, s)[0]
        away = ndimage.distance_transform_edt(code != CODES["root"], sampling=fine)
        rr, cc = np.nonzero(csf)
        assert away[2 * rr, 2 * cc].min() >= CSF_EROSION_MM
        rr, cc = np.nonzero(flat)
        near_flat += int((away[2 * rr, 2 * cc] < CSF_EROSION_MM).sum())
    # the centre plane alone would have kept voxels whose side planes hold roots
    assert near_flat > 0


def test_roots_over_most_of_the_roi_are_found_against_the_csf_beside_them():
    # roots 25 % above the CSF over 8 of the 12 mm: the ROI's own median is root signal,
    # the CSF level given (from the sac's darker profile) still tells them apart
    deep = tuple(np.arange(6.0, 14.01, 0.5))
    track = _track(root_depths=deep, root_signal=125.0)
    blocks = _root_blocks(track, SPAN, 2.0, 14.0, 100.0)
    assert blocks is not None
    # smoothing lifts 5.5 mm by a third (8.3 < 10: kept); margin blocks 5.0-5.5
    assert _blocked_depths(blocks, 20) == (5.0, 14.0)
    kept, _ = _less_roots(track, _rectangle_px(2.0, 14.0), blocks)
    assert (kept == _rectangle_px(2.0, 4.0)).all()


def test_a_sac_crowded_with_roots_falls_back_to_the_centre_plane(tmp_path):
    """Seed 58 leaves no CSF voxel clear of roots on every plane at L3: the phantom
    is still written, its CSF reference clearing the centre plane only, and says so."""
    from vbq.phantom import make_phantom

    on = parse_variants("all", 58)
    an = draw_anatomy(58, on, None, 1.5)
    scan = _make_scan(an, 15, 256, 256, on["low_res"])
    assert _reference_masks(an, scan, slab=True)["CSF"].sum() < 20
    info = make_phantom(tmp_path / "crowded", anatomy="realistic", seed=58, variants="all")
    csf = info.expected["reference"]["csf"]
    assert csf["whole_voxel"] is False and csf["n_pixels"] >= 20
    info = make_phantom(tmp_path / "usual", anatomy="realistic", seed=3, variants="all",
                        rows=192, n_slices=9)
    assert info.expected["reference"]["csf"]["whole_voxel"] is True
    # without partial volume the centre plane is the voxel: nothing to say
    info = make_phantom(tmp_path / "plain", anatomy="realistic", seed=3, variants="none",
                        rows=160, n_slices=7)
    assert info.expected["reference"]["csf"]["whole_voxel"] is None


def test_roots_filling_the_whole_roi_leave_nothing():
    track = _track(root_depths=tuple(np.arange(0.0, 20.01, 0.5)))
    blocks = _root_blocks(track, SPAN, 2.0, 14.0, 100.0)
    assert blocks is not None and blocks.n_roots == 40 * 25
    kept, _ = _less_roots(track, _rectangle_px(2.0, 14.0), blocks)
    assert not kept.any()


def test_most_continuous_prefers_a_thick_region():
    from vbq.roi.canal import _THICK_MM, _most_continuous

    thick_samples = _THICK_MM / 0.5
    spans = np.array([-1.0, 100.0, 95.0, 30.0])
    areas = np.array([0.0, 900.0, 800.0, 2000.0])
    thick = {1: 4.0, 2: thick_samples + 2, 3: 40.0}
    # region 1 spans most but is thin (a dark cortex joined through dark discs)
    assert _most_continuous(spans, areas, thick.__getitem__, 100) == 2
    # none thick among those spanning half the canal: the most continuous
    thick[2] = 3.0
    assert _most_continuous(spans, areas, thick.__getitem__, 100) == 1


def _traced(folder, seed: int, variants: str):
    """A realistic phantom, the sac traced on its mid slice through the true body centres,
    and its reference CSF mean."""
    from vbq.dicom import load_series
    from vbq.phantom import make_phantom
    from vbq.roi.canal import trace_canal

    info = make_phantom(folder, anatomy="realistic", seed=seed, variants=variants)
    series = load_series(info.series_dir).series
    k = info.slice
    geo = info.expected["geometry"]["levels"]
    track = trace_canal(series.pixels(k).astype(float), series.slices[k].geometry,
                        {lv: geo[lv]["centre"] for lv in ("L1", "L2", "L3", "L4")})
    return info, track, info.expected["reference"]["csf"]["mean"]


def test_sac_found_behind_a_dark_cortex_joined_through_dark_discs(tmp_path):
    """Seed 50, every variant: dark cortex and degenerated discs at the CSF's signal form
    one thin region along the whole canal; the sac (roots in it) is the thick one."""
    _, track, csf = _traced(tmp_path / "p", 50, "all")
    assert abs(track.csf_level / csf - 1.0) < 0.10        # not the muscle at about 2x


def test_csf_seed_in_a_sac_too_narrow_says_so():
    from vbq.errors import AnalysisError
    from vbq.roi.growing import grow_csf

    img = np.full((60, 60), 300.0)
    img[:, 28:30] = 100.0           # a sac 2 mm wide: nothing is left after the opening
    with pytest.raises(AnalysisError, match="too narrow; move it onto the dark CSF"):
        grow_csf(img, (30.0, 28.0), (1.0, 1.0))
    img[:, 24:34] = 100.0           # 10 mm wide: a region
    assert grow_csf(img, (30.0, 28.0), (1.0, 1.0)).sum() >= 20


@pytest.mark.parametrize("seed", [1, 15, 17])
def test_placed_csf_roi_keeps_its_margin_from_every_root_found(tmp_path, seed):
    """On the image, every pixel of the placed ROI lies ROOT_MARGIN_MM from each root
    sample found, less half a sample across the sac (the grid the margin is counted on),
    including behind a lordotic curve, where stations lie closer than on the axis."""
    from vbq.dicom import load_series
    from vbq.phantom import make_phantom
    from vbq.roi import canal

    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=seed, variants="all")
    series = load_series(info.series_dir).series
    k = info.slice
    image = series.pixels(k).astype(float)
    geo = info.expected["geometry"]["levels"]
    centres = {lv: geo[lv]["centre"] for lv in ("T12", "L1", "L2", "L3", "L4", "L5")}
    track = canal.trace_canal(image, series.slices[k].geometry, centres)
    found = []
    real = canal._root_samples

    def spy(track, stations, cols, base, inner, size):
        bright = real(track, stations, cols, base, inner, size)
        i, j = np.nonzero(bright)
        found.append(track.points[stations[i]]
                     + track.depths_mm[cols[j]][:, None] * track.normals[stations[i]])
        return bright

    canal._root_samples = spy
    try:
        placed = canal.place_csf(image, series.slices[k].geometry, centres, track=track)
    finally:
        canal._root_samples = real
    assert "less the roots found" in placed.note and placed.minus
    roots = np.concatenate(found)
    rr, cc = np.nonzero(placed.mask)
    pix = np.column_stack([rr * track.spacing[0], cc * track.spacing[1]])
    gap = np.hypot(pix[:, None, 0] - roots[None, :, 0], pix[:, None, 1] - roots[None, :, 1])
    assert gap.min() >= ROOT_MARGIN_MM - 0.25


@pytest.mark.parametrize("seed", range(5))
def test_bridged_by_running_indices_equals_the_closing(seed):
    from vbq.roi.canal import _bridged, _bridged_closing

    rng = np.random.default_rng(seed)
    for _ in range(300):
        inside = rng.random((rng.integers(1, 8), rng.integers(1, 40))) < rng.uniform(0.1, 0.9)
        bright = rng.random(inside.shape) < rng.uniform(0.1, 0.9)
        np.testing.assert_array_equal(_bridged(inside, bright), _bridged_closing(inside, bright))
    # by hand: a 6-sample bright gap (3 mm) is bridged, a 7-sample one is not
    row = np.array([[1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]], dtype=bool)
    got = _bridged(row, np.ones_like(row))
    assert got[0, :8].all() and not got[0, 8:15].any()



def _straight_with_ligament(ligament_mm: float, rng: np.random.Generator):
    """Straightened canal: marrow, a dark band, the sac (CSF 200), fat, muscle.

    Depths in 0.5 mm samples from -4 mm as the tracer takes them; 2 % noise. The dark
    band is 150 (a ligament at 0.75 of the CSF) and ``ligament_mm`` thick.
    """
    depths = np.arange(-4.0, 60.0 + 1e-9, 0.5)
    front = 12.0
    profile = np.full(depths.size, 300.0)                         # muscle behind
    profile[depths < front] = 500.0                                # marrow and cortex
    dark = (depths >= front) & (depths < front + ligament_mm)
    sac = (depths >= front + ligament_mm) & (depths < front + ligament_mm + 11.0)
    profile[dark] = 150.0
    profile[sac] = 200.0
    profile[(depths >= front + ligament_mm + 11.0) & (depths < front + ligament_mm + 15.0)] = 450.0
    smooth = profile[None, :] * (1.0 + 0.02 * rng.standard_normal((150, depths.size)))
    band = (depths >= 2.0) & (depths <= 48.0)
    region = smooth[:, band]
    cand = region[(region < 0.8 * 500.0) & (region > 0.05 * 500.0)]
    return smooth, cand, band, depths, dark, sac


@pytest.mark.parametrize("seed", range(3))
def test_level_of_a_thin_dark_band_moves_to_the_sac_beside_it(seed):
    """The ligament's level (its window taking in the sac) for a region holding both: the
    samples near it are 2 mm thick, those near the CSF 11 mm, so the level moves to the
    CSF (200 by construction) and the region to the sac."""
    from vbq.roi.canal import _recentred

    smooth, cand, band, depths, dark, sac = _straight_with_ligament(
        2.0, np.random.default_rng(seed))
    both = np.zeros(smooth.shape, dtype=bool)
    both[:, dark | sac] = True
    for fast in (True, False):
        region, level = _recentred(smooth, np.sort(cand), band, both, 150.0, fast=fast)
        assert abs(level / 200.0 - 1.0) < 0.02, (fast, level)
        assert region[:, sac].mean() > 0.9 and not region[:, dark].any(), fast


@pytest.mark.parametrize("seed", range(3))
def test_level_of_a_thick_dark_band_stays(seed):
    """A 6 mm dark band (CSF at 150) in front of 11 mm of brighter signal in its window
    (roots, the cord): the darker band is thick, so it is the sac; level and region stay,
    through the whole search too."""
    from vbq.roi.canal import _recentred, _sac_region

    smooth, cand, band, depths, dark, sac = _straight_with_ligament(
        6.0, np.random.default_rng(seed))
    both = np.zeros(smooth.shape, dtype=bool)
    both[:, dark | sac] = True
    region, level = _recentred(smooth, np.sort(cand), band, both, 150.0)
    assert level == 150.0 and region is both
    for fast in (True, False):
        _, level = _sac_region(smooth, cand, band, depths, fast=fast)
        assert abs(level / 150.0 - 1.0) < 0.05, (fast, level)


def test_sac_found_behind_a_dark_ligament_whose_window_takes_in_the_sac(tmp_path):
    """Seed 150, variants drawn at random (dark cortex and ligament, no epidural fat, little
    noise): the ligament along the sac's front (0.75 of the CSF) is the darkest signal and
    its window held the sac, so the CSF ROI went into the ligament (25 % below the
    reference CSF). The level is the reference CSF's, and so is the CSF ROI's signal."""
    import json

    from vbq import score_series

    info, track, csf = _traced(tmp_path / "p", 150, "random")
    assert abs(track.csf_level / csf - 1.0) < 0.10
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    (tmp_path / "clicks.json").write_text(json.dumps(seeds))
    result = score_series(info.series_dir, seeds=tmp_path / "clicks.json")
    assert result.csf.level == "L3"
    assert abs(result.csf.si / csf - 1.0) < 0.03


def test_calm_band_thickness_by_hand():
    """Samples within CSF_CALM (8 %) of the level, counted between each station's first and
    last region sample (holes in the region count), median over the stations, x 0.5 mm."""
    from vbq.roi.canal import _calm_mm

    smooth = np.array([[50, 100, 104, 100, 97, 109, 50, 50],     # 4 calm (109 is 9 % off)
                       [50, 100, 100, 100, 100, 100, 100, 50],   # 6 calm
                       [50, 50, 100, 300, 50, 50, 50, 50]],      # 1 calm (300 is a root)
                      dtype=float)
    region = np.zeros(smooth.shape, dtype=bool)
    region[0, [1, 2, 4, 5]] = True     # a hole at column 3, between the ends: counted
    region[1, 1:7] = True
    region[2, 2:4] = True
    assert _calm_mm(smooth, region, 100.0) == 0.5 * 4
    assert _calm_mm(smooth, np.zeros_like(region), 100.0) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_level_of_a_4_mm_dark_band_stays(seed):
    """4 mm is thicker than a ligament (under 3 mm): the band is taken as the CSF."""
    from vbq.roi.canal import _recentred

    smooth, cand, band, _, dark, sac = _straight_with_ligament(4.0, np.random.default_rng(seed))
    both = np.zeros(smooth.shape, dtype=bool)
    both[:, dark | sac] = True
    region, level = _recentred(smooth, np.sort(cand), band, both, 150.0)
    assert level == 150.0 and region is both


def test_a_csf_point_between_coarse_pixels_grows_from_the_nearest_ones():
    """On 3 mm pixels no pixel centre lies within 1.5 mm of a point between four of them:
    the seed's signal is then read on the nearest pixels (before: the median of no pixel,
    nan, and numpy warnings)."""
    import warnings

    from vbq.roi.growing import grow_csf

    img = np.full((40, 40), 300.0)
    img[5:35, 18:24] = 100.0                      # a sac 18 mm wide, 90 mm long
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        roi = grow_csf(img, (20.5, 20.5), (3.0, 3.0), erosion_mm=0.0)
    assert roi.sum() >= 20 and (img[roi] == 100.0).all()


def test_a_root_just_beyond_the_roi_cuts_its_margin_only_and_says_so():
    # a root stripe over stations 31-39, beyond the ROI's stations 10-29: averaged over
    # 3 stations, station 30 gets a third of its excess (16.7 > 10) and is bright; 29 is
    # not, but lies within 1 mm (one station) of 30, so it is blocked
    from vbq.roi.canal import _roots_note

    track = _track(root_depths=tuple(np.arange(0.0, 20.01, 0.5)), root_stations=slice(31, 40))
    span = np.arange(10, 30)
    blocks = _root_blocks(track, span, 2.0, 14.0, 100.0)
    assert blocks is not None and blocks.n_roots == 0
    i29, i28 = (int(np.flatnonzero(blocks.stations == k)[0]) for k in (29, 28))
    assert blocks.blocked[i29].all() and not blocks.blocked[i28].any()
    assert _roots_note(blocks, 0.0, 13) == (", less the 1 mm around roots found just beyond "
                                            "its ends (13 pixels cut out)")
    inside = _root_blocks(_track(root_depths=(8.0, 8.5, 9.0)), SPAN, 2.0, 14.0, 100.0)
    assert _roots_note(inside, 100.0, 9) == (", less the roots found over 100.0 mm2 of the sac "
                                             "there and 1 mm around them (9 pixels cut out)")


def test_a_pixel_takes_the_nearest_sample_across_the_sac():
    """A pixel 10.6 mm deep takes the sample at 10.5 mm, one 10.8 mm deep the one at 11.0.

    The synthetic track (stations 1 mm apart along the rows, depths every 0.5 mm along
    the columns, depth 0 at column 30) has its axis moved 0.4 mm and 0.2 mm along the
    columns, so the pixel of column 41 lies 10.6 mm and 10.8 mm deep; only the sample at
    10.5 mm is blocked.
    """
    from dataclasses import replace

    from vbq.roi.canal import _cut_roots, _RootBlocks

    depths = np.arange(0.0, 20.01, 0.5)
    blocked = np.zeros((40, depths.size), dtype=bool)
    blocked[:, int(np.flatnonzero(depths == 10.5)[0])] = True
    blocks = _RootBlocks(np.arange(40), np.arange(depths.size), blocked, 40)
    mask = np.zeros((80, 60), dtype=bool)
    mask[30, 41] = True
    for shift, cut in ((0.4, True), (0.2, False)):
        base = _track()
        track = replace(base, points=base.points + np.array([0.0, shift]))
        assert bool(_cut_roots(track, mask, blocks)[30, 41]) is cut, shift
