"""The fast deepest-pixel search of CSF proposals gives the whole-image answer.

Reference: the whole image's Euclidean distance map (scipy), first maximum.
"""

from __future__ import annotations

import numpy as np
import pytest

from vbq.roi.csfroi import _deepest


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
