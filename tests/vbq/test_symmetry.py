"""The mid-sagittal slice from the stack's symmetry: stacks whose plane is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from vbq.roi.symmetry import block_means, symmetry_midline


def _balls(centre: float, n: int = 15, noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """Sections of two balls centred ``centre`` slices deep (6 px between slices), plus noise."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:96, 0:96]
    out = []
    for k in range(n):
        z = (k - centre) * 6.0
        big = (r - 48) ** 2 + (c - 40) ** 2 <= 30 ** 2 - z ** 2
        small = (r - 48) ** 2 / 4 + (c - 80) ** 2 <= 10 ** 2 - (z / 2) ** 2
        img = 100.0 + 100.0 * big + 50.0 * small
        out.append(img + rng.normal(scale=noise, size=img.shape) if noise else img)
    return out


@pytest.mark.parametrize("centre", [5.0, 6.5, 7.0, 7.25, 8.75])
def test_plane_of_mirror_symmetric_stacks(centre):
    # noise-free: the plane is found to the discretisation of the balls' edges (a tenth of
    # a slice); the slice is the nearest one
    m = symmetry_midline(_balls(centre))
    assert m.position == pytest.approx(centre, abs=0.1)
    assert m.slice_index == int(np.floor(centre + 0.5))


@pytest.mark.parametrize("seed", range(5))
def test_noise_and_shading_do_not_move_it(seed):
    # noise of 20% of the balls' contrast and a strong ramp across the image
    ramp = np.linspace(0.0, 80.0, 96)[None, :]
    stack = [s + ramp for s in _balls(6.5, noise=20.0, seed=seed)]
    m = symmetry_midline(stack)
    assert m.slice_index in (6, 7) and m.position == pytest.approx(6.5, abs=0.25)


def test_featureless_ends_do_not_attract_it():
    # three blank slices at each end (identical to each other) are not a symmetric plane
    stack = _balls(4.0, n=9)
    blank = np.full_like(stack[0], 100.0)
    m = symmetry_midline([blank] * 3 + stack + [blank] * 3)
    assert m.slice_index == 7 and m.position == pytest.approx(7.0, abs=0.1)


def test_small_and_bad_stacks():
    assert symmetry_midline([np.ones((8, 8))] * 2).slice_index == 0
    assert symmetry_midline([np.ones((8, 8))] * 5).slice_index == 2  # nothing to see: middle
    with pytest.raises(ValueError, match="no slice"):
        symmetry_midline([])
    with pytest.raises(ValueError, match="differ in shape"):
        symmetry_midline([np.ones((8, 8)), np.ones((8, 9)), np.ones((8, 8))])


def test_block_means_by_hand():
    a = np.arange(20.0).reshape(4, 5)
    assert block_means(a, 2).tolist() == [[3.0, 5.0], [13.0, 15.0]]


def test_realistic_phantom_without_obliquity(tmp_path):
    from vbq.dicom import load_series
    from vbq.phantom import make_phantom

    info = make_phantom(tmp_path, anatomy="realistic", seed=2, rows=128, n_slices=11)
    series = load_series(info.series_dir).series
    truth = info.expected["geometry"]["mid_sagittal"]
    m = symmetry_midline([series.pixels(k) for k in range(len(series))])
    assert m.slice_index == truth["slice"]


def _canal_and_trunk(canal_at: float, trunk_at: float, n: int = 15) -> list[np.ndarray]:
    """A trunk (bright ball) symmetric about ``trunk_at`` and a dark canal about ``canal_at``.

    The canal is a CSF-dark column (20 against tissue 100) running the image's whole height,
    20 px deep where the slice cuts its centre and shallower off it (an elliptic section
    of half-width 1.6 slices), so slices ``canal_at - 1``, ``canal_at`` and ``canal_at + 1``
    show it; the trunk is larger than the canal, and pulls the symmetric plane to itself.
    """
    r, c = np.mgrid[0:128, 0:128]
    out = []
    for k in range(n):
        z = (k - trunk_at) * 4.0
        img = 100.0 + 60.0 * ((r - 64) ** 2 + (c - 36) ** 2 <= 34 ** 2 - z ** 2)
        half = 1.0 - ((k - canal_at) / 1.6) ** 2
        if half > 0:
            depth = 10.0 * np.sqrt(half)
            img[:, 90 - int(round(depth)):90 + int(round(depth))] = 20.0
        out.append(img)
    return out


def test_canal_column_moves_the_symmetric_plane_to_the_canal():
    # by construction the canal's section is symmetric about slice 7, so its amount-weighted
    # centre is slice 7 exactly; the trunk alone would put the plane at 5.5
    m = symmetry_midline(_canal_and_trunk(7.0, 5.5))
    assert m.slice_index == 7 and m.position == pytest.approx(7.0, abs=1e-9)
    assert m.symmetric is not None and abs(m.symmetric - 7.0) >= 0.5
    assert [k for k, a in enumerate(m.canal) if a > 0] == [6, 7, 8]


def test_canal_column_amounts_by_hand():
    from vbq.roi.symmetry import canal_column_amounts

    s = np.full((4, 64, 64), 100.0)
    s[1, :, 30:34] = 20.0            # 4 blocks wide, the whole height: 64 x 4 blocks
    s[2, :10, 30:34] = 20.0          # too short (a tenth of the height)
    s[3, :, 30] = 20.0               # one block wide (a cortex line): not a column
    s[0, :, 0:4] = 0.0               # air, however long, is not CSF
    assert canal_column_amounts(s, grid=64).tolist() == [0.0, 256.0, 0.0, 0.0]


@pytest.mark.parametrize("variants", ["all", "random"])
def test_oblique_scoliotic_phantom_opens_within_a_slice(tmp_path, variants):
    # seed 14: yawed 5.6 deg, rolled 3 deg and scoliotic; the symmetric plane alone was
    # 10.6 mm (1.8 slices) from the true plane; the opening plane must be within one slice
    # spacing of it at the centre, and its slice within one slice of the true one
    from vbq.dicom import load_series
    from vbq.phantom import make_phantom
    from vbq.roi.midline import slice_positions

    info = make_phantom(tmp_path, anatomy="realistic", seed=14, variants=variants,
                        distractors="none")
    series = load_series(info.series_dir).series
    geo = info.expected["geometry"]
    truth = geo["mid_sagittal"]
    m = symmetry_midline([series.pixels(k) for k in range(len(series))])
    positions = slice_positions(series)
    offsets = np.asarray(truth["slice_offsets_mm"])
    sign = 1.0 if np.ptp(positions + offsets) < np.ptp(positions - offsets) else -1.0
    true_plane = float(np.mean(positions + sign * offsets))
    assert abs(m.position_mm(positions) - true_plane) <= geo["slice_spacing_mm"]
    assert abs(m.slice_index - truth["slice"]) <= 1
