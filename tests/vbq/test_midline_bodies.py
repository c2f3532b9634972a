"""The mid-sagittal plane from clicks follows the bodies' sides, not only the canal.

Reference: the realistic phantom's true mid-sagittal plane at the L1-L4 centroid
(``expected.json["geometry"]["mid_sagittal"]["offset_mm"]``), fixed by
construction. On these two anatomies (yaw 2-3 degrees, scoliosis) the sac's
centre, 3-4 cm behind the bodies, put the plane 2.3 and 4.3 mm from the truth
(the score's gate (d) warns at 3 mm); the bodies' left-right extent, followed at
their centres through the stack, puts it within 0.6 mm.
"""

import json

import pytest

from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose


@pytest.mark.parametrize(("seed", "variants"), [(3, "random"), (6, "all")])
def test_midline_offset_from_the_bodies(tmp_path, seed, variants):
    info = make_phantom(tmp_path, anatomy="realistic", seed=seed, variants=variants)
    series = load_series(info.series_dir).series
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    truth = info.expected["geometry"]["mid_sagittal"]["offset_mm"]
    # a quarter of the 4.4-6 mm slice spacing: the slice choice never rests on the error
    assert propose(series, seeds).midline_offset_mm == pytest.approx(truth, abs=1.1)
