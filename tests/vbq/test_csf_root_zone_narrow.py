"""The zone rule must not trade a CSF ROI near the reference for a narrower, darker one.

Truth by construction: the realistic phantom (seed 515, every variant, 256 x 256 x
15, the default distractor series, which share the noise stream), whose reference
CSF ROI at L3 clears the roots on every plane of its voxels. Across its sac the
CSF rises from 22.5 at the front to 28 and then 34 at the back (medians over the
level's rows).
"""

import json

import pytest

from vbq import score_series
from vbq.phantom import make_phantom


@pytest.mark.xfail(strict=True, reason="the zone rule keeps the narrowest ROI at the front of "
                   "the sac (2.2 mm, 27 pixels), 2.7% under the reference CSF; the ROI before "
                   "it (6.2 mm, 39 pixels) was 1.2% under")
def test_the_csf_roi_in_front_of_a_zone_stays_near_the_reference(tmp_path):
    out = tmp_path / "p"
    make_phantom(out, anatomy="realistic", seed=515, variants="all")
    ref = json.loads((out / "expected.json").read_text())["reference"]["csf"]["mean"]
    seeds = json.loads((out / "seeds.json").read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    (out / "bodies.json").write_text(json.dumps(seeds))
    result = score_series(out / "series", seeds=out / "bodies.json")
    assert any("brighter zone of roots" in w for w in result.warnings)
    csf = float(result.image[result.masks["CSF"]].mean())
    assert abs(csf / ref - 1.0) <= 0.02, csf / ref - 1.0
