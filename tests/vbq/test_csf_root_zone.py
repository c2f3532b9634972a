"""A zone of roots beside the slice, at the back of the sac, is left out of the CSF ROI.

References: profiles built by hand (the ROI's depths worked out from the parts'
edges, the sampling step and the margins), and a realistic phantom whose
reference CSF ROI is fixed by construction (cleared of roots on every plane of
its voxels).
"""

import json

import numpy as np
import pytest
from test_csf_roi import _profile

from vbq import score_series
from vbq.phantom import make_phantom
from vbq.roi import canal


def csf_from_clicks(tmp_path, seed: int):
    """Score the realistic phantom ``seed`` (every variant) from its body clicks alone.

    Returns the result, the CSF ROI's mean and the reference CSF ROI's mean.
    """
    out = tmp_path / "p"
    make_phantom(out, anatomy="realistic", seed=seed, variants="all")
    ref = json.loads((out / "expected.json").read_text())["reference"]["csf"]["mean"]
    seeds = json.loads((out / "seeds.json").read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    (out / "bodies.json").write_text(json.dumps(seeds))
    result = score_series(out / "series", seeds=out / "bodies.json")
    return result, float(result.image[result.masks["CSF"]].mean()), ref


def test_a_thick_brighter_zone_behind_the_csf_is_left_out():
    # CSF 1.0 from 4 to 10 mm, then a zone 1.12 from 10 to 15 mm (within ROOT_EXCESS, so
    # the walk goes through it), then fat. The zone starts at the sample at 10.0 mm: the
    # CSF's last sample is 9.5, its half-sample edge 9.75, in by the back margin
    depths, prof = _profile([(4.0, 10.0, 1.0), (10.0, 15.0, 1.12)])
    low, high, stripe, zone = canal._across(prof, depths, 4.0, 15.0, 1.0)
    assert low == pytest.approx(3.75 + canal.CSF_WALL_MARGIN_MM)
    assert high == pytest.approx(9.75 - canal.CSF_BACK_MARGIN_MM)
    assert zone and not stripe


@pytest.mark.parametrize(("parts", "why"), [
    ([(4.0, 10.0, 1.0), (10.0, 12.0, 1.12)], "zone 2 mm thick, under ROOT_ZONE_MM"),
    ([(4.0, 10.0, 1.0), (10.0, 15.0, 1.09)], "zone 9 % brighter, under ROOT_ZONE_EXCESS"),
])
def test_a_thin_or_faint_zone_is_kept(parts, why):
    depths, prof = _profile(parts)
    back = parts[-1][1]
    low, high, _, zone = canal._across(prof, depths, 4.0, back, 1.0)
    assert not zone, why
    assert high == pytest.approx(back - 0.25 - canal.CSF_BACK_MARGIN_MM), why


def test_a_narrow_csf_in_front_of_the_zone_keeps_the_narrowest_roi():
    # CSF 1.0 from 4 to 7.5 mm (3.5 mm: 1.75 mm between the margins), then the zone to
    # 12 mm: the ROI is the narrowest one from its front, not the whole range through
    # the zone
    depths, prof = _profile([(4.0, 7.5, 1.0), (7.5, 12.0, 1.12)])
    low, high, _, zone = canal._across(prof, depths, 4.0, 12.0, 1.0)
    assert zone
    assert low == pytest.approx(3.75 + canal.CSF_WALL_MARGIN_MM)
    assert high == pytest.approx(low + canal.CSF_MIN_WIDTH_MM)


def test_the_split_is_the_least_squares_step():
    # a ramp up to the zone and a bright last sample (a wall's blurred edge): the split
    # leaving the least squared deviation from the two parts' means, each at least
    # ROOT_ZONE_MM, by brute force
    q = np.r_[np.ones(10), 1.04, 1.08, np.full(8, 1.14), 1.4]
    k = int(round(canal.ROOT_ZONE_MM / canal._STEP_MM))

    def sse(j):
        return ((q[:j] - q[:j].mean()) ** 2).sum() + ((q[j:] - q[j:].mean()) ** 2).sum()

    best = min(range(k, q.size - k + 1), key=sse)
    assert canal._root_zone(q, 0, q.size - 1) == best
    # the same search on a part of the profile returns indices of the whole
    padded = np.r_[np.full(5, 3.0), q, np.full(4, 3.0)]
    assert canal._root_zone(padded, 5, 5 + q.size - 1) == 5 + best


def test_roots_beside_the_slice_at_l3_no_longer_lift_the_csf(tmp_path):
    """Truth by construction: the realistic phantom (seed 196, every variant), whose sac at
    L3 has clean CSF in front and, behind it, CSF lifted 7-20 % by roots of the cauda
    equina beside the slice. Its reference CSF ROI clears the roots on every plane of its
    voxels. The click-driven CSF ROI took in the posterior zone, 8.5 % above the
    reference's mean; it is now within 2 % of it (a bound well clear of both the old
    error and the reference's own pixel noise, 0.6 % of its mean)."""
    result, csf, ref = csf_from_clicks(tmp_path, 196)
    assert abs(csf / ref - 1.0) <= 0.02
    assert any("brighter zone of roots" in w for w in result.warnings)
