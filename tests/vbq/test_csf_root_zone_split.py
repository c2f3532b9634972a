"""The zone of roots beside the slice starts at the least-squares step of the profile.

Reference: a profile built by hand in two steps, on which the least-squares split
(brute force) and the split with the largest difference of the two parts' means lie
3 mm apart, so that the rule :func:`vbq.roi.canal._root_zone` documents is told
from a plausible other one.
"""

import numpy as np
import pytest

from vbq.roi import canal


def test_the_zone_starts_at_the_least_squares_step_not_the_largest_difference():
    # CSF 1.0 over 6 mm, then 1.10 over 3 mm, then 1.20 over 3 mm (0.5 mm samples)
    q = np.r_[np.ones(12), np.full(6, 1.10), np.full(6, 1.20)]
    k = int(round(canal.ROOT_ZONE_MM / canal._STEP_MM))
    splits = range(k, q.size - k + 1)

    def sse(j):
        return ((q[:j] - q[:j].mean()) ** 2).sum() + ((q[j:] - q[j:].mean()) ** 2).sum()

    least = min(splits, key=sse)
    widest = max(splits, key=lambda j: q[j:].mean() - q[:j].mean())
    assert (least, widest) == (12, 18)
    assert canal._root_zone(q, 0, q.size - 1) == least


def test_the_csf_roi_ends_in_front_of_the_first_step():
    # the same profile on depths 4-16 mm, fat (3.0) around it: the ROI ends at the first
    # step (10 mm: the last CSF sample 9.5, its half-sample edge 9.75, in by the margin)
    depths = np.arange(0.0, 20.0, 0.5)
    prof = np.full(depths.shape, 3.0)
    for a, b, v in ((4.0, 10.0, 1.0), (10.0, 13.0, 1.10), (13.0, 16.0, 1.20)):
        prof[(depths >= a) & (depths < b)] = v
    low, high, stripe, zone = canal._across(prof, depths, 4.0, 16.0, 1.0)
    assert zone and not stripe
    assert high == pytest.approx(9.75 - canal.CSF_BACK_MARGIN_MM)
