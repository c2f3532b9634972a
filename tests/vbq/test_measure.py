"""ROI statistics against hand-computed values."""

import math

import numpy as np
import pytest

from vbq.errors import InputError
from vbq.measure import measure


def test_hand_computed_statistics():
    img = np.array([[1.0, 2.0, 9.0], [3.0, 4.0, 9.0]])
    mask = np.array([[True, True, False], [True, True, False]])
    m = measure(img, mask, (0.5, 0.8))
    assert m.n_pixels == 4
    assert m.area_mm2 == pytest.approx(4 * 0.4)
    assert m.mean == 2.5 and m.median == 2.5
    # sample SD of 1..4: sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3)
    assert m.sd == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    # type-7 quartiles of 1..4: 1.75 and 3.25
    assert m.iqr == pytest.approx(1.5, rel=1e-12)
    assert (m.min, m.max) == (1.0, 4.0)
    assert m.statistic("mean") == 2.5 and m.statistic("median") == 2.5


def test_single_pixel_sd_is_nan():
    m = measure(np.ones((2, 2)), np.eye(2, dtype=bool) & np.array([[1, 0], [0, 0]], bool),
                (1, 1))
    assert m.n_pixels == 1 and math.isnan(m.sd)


def test_empty_and_mismatched_masks_are_errors():
    with pytest.raises(InputError, match="no pixels"):
        measure(np.ones((2, 2)), np.zeros((2, 2), bool), (1, 1))
    with pytest.raises(InputError, match="does not match"):
        measure(np.ones((2, 2)), np.ones((3, 2), bool), (1, 1))
    with pytest.raises(InputError, match="unknown statistic"):
        measure(np.ones((2, 2)), np.ones((2, 2), bool), (1, 1)).statistic("mode")
