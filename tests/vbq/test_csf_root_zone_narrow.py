"""The zone rule must not trade a CSF ROI near the reference for a narrower, darker one.

Truth by construction: the realistic phantom (seed 515, every variant, 256 x 256 x
15, the default distractor series, which share the noise stream), whose reference
CSF ROI at L3 clears the roots on every plane of its voxels. Across its sac the
CSF rises from 22.5 at the front to 28 and then 34 at the back (medians over the
level's rows).
"""

import pytest
from test_csf_root_zone import csf_from_clicks


@pytest.mark.xfail(strict=True, reason="the zone rule keeps the narrowest ROI at the front of "
                   "the sac (2.2 mm, 27 pixels), 2.7% under the reference CSF; the ROI before "
                   "it (6.2 mm, 39 pixels) was 1.2% under")
def test_the_csf_roi_in_front_of_a_zone_stays_near_the_reference(tmp_path):
    result, csf, ref = csf_from_clicks(tmp_path, 515)
    assert any("brighter zone of roots" in w for w in result.warnings)
    assert abs(csf / ref - 1.0) <= 0.02, csf / ref - 1.0
