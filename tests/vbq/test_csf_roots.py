"""The CSF ROI keeps clear of nerve roots, and the phantom's reference does too.

References by construction: a synthetic sac whose root stripe is placed by hand
(the ROI that should remain is worked out from the stripe's columns), and the
realistic phantom's anatomy, sampled again on every plane its renderer averages.
"""

import itertools

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
from vbq.roi.canal import ROOT_MARGIN_MM, _clear_of_roots, _largest_rectangle


def _brute_largest(free: np.ndarray) -> int:
    best = 0
    n_r, n_c = free.shape
    for r0, r1 in itertools.combinations(range(n_r + 1), 2):
        for c0, c1 in itertools.combinations(range(n_c + 1), 2):
            if free[r0:r1, c0:c1].all():
                best = max(best, (r1 - r0) * (c1 - c0))
    return best


def test_largest_rectangle_by_hand():
    free = np.array([[1, 1, 0, 1],
                     [1, 1, 0, 1],
                     [1, 1, 1, 1]], dtype=bool)
    assert _largest_rectangle(free) == (0, 3, 0, 2)
    assert _largest_rectangle(np.zeros((3, 3), dtype=bool)) is None
    assert _largest_rectangle(np.ones((2, 5), dtype=bool)) == (0, 2, 0, 5)


@pytest.mark.parametrize("seed", range(30))
def test_largest_rectangle_against_every_rectangle(seed):
    rng = np.random.default_rng(seed)
    free = rng.random((rng.integers(1, 7), rng.integers(1, 7))) < 0.7
    box = _largest_rectangle(free)
    best = _brute_largest(free)
    if best == 0:
        assert box is None
        return
    r0, r1, c0, c1 = box
    assert free[r0:r1, c0:c1].all()
    assert (r1 - r0) * (c1 - c0) == best


def _sac(root_cols, root_signal=150.0, seed=0):
    """A 1 mm grid, CSF 100 with noise SD 3, a root stripe along the sac's length."""
    rng = np.random.default_rng(seed)
    img = 100.0 + 3.0 * rng.standard_normal((80, 60))
    img[:, root_cols] = root_signal
    mask = np.zeros(img.shape, dtype=bool)
    mask[20:60, 30:46] = True                # rows along the sac, columns across it
    return img, mask


def test_root_stripe_leaves_the_wider_side():
    img, mask = _sac([40, 41])
    got = _clear_of_roots(img, mask, (39.5, 37.5), np.array([1.0, 0.0]),
                          np.array([0.0, 1.0]), (1.0, 1.0))
    assert got is not None
    du, dw, hl, hd, n_roots = got
    # blocked: the stripe (40-41) and ROOT_MARGIN_MM around it (39-42); left: 30-38 and 43-45
    margin = int(np.ceil(ROOT_MARGIN_MM))
    first, last = 30, 40 - margin - 1
    assert n_roots == 2 * 40
    assert hl == pytest.approx(20.0)
    assert hd == pytest.approx(0.5 * (last - first + 1))
    assert 37.5 + dw == pytest.approx(0.5 * (first + last))
    assert 39.5 + du == pytest.approx(39.5)


def test_no_root_no_change_and_noise_is_no_root():
    img, mask = _sac([], seed=3)
    assert _clear_of_roots(img, mask, (39.5, 37.5), np.array([1.0, 0.0]),
                           np.array([0.0, 1.0]), (1.0, 1.0)) is None


def test_root_within_noise_floor_is_kept():
    # 8 % above the CSF: below ROOT_FLOOR, read as CSF (a root far beside the slice)
    img, mask = _sac([40, 41], root_signal=108.0)
    assert _clear_of_roots(img, mask, (39.5, 37.5), np.array([1.0, 0.0]),
                           np.array([0.0, 1.0]), (1.0, 1.0)) is None


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
