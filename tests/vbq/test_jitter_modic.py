"""Bodies with fatty (Modic type 2) marrow along their endplates, clicked off centre.

Truth by construction: the realistic phantom with seed 7 and ``variants="random"``
(256 x 256 x 15) has Modic zones, dark cortex, a basivertebral vein and 8-bit, low
resolution pixels; ``expected.json["geometry"]`` gives each body's centre, height,
cortex and axes. A bright band along an endplate lies inside the body (a disc, not
fat, lies beyond an endplate), so the body's borders are its endplates: its inner
height is the outer height less two cortices, each endplate's edge found within
1.5 pixels (1.6 mm; the edge of a dark band blurred by partial volume and the
point-spread function). Taking the fatty bands for the body's end made some bodies
7.5 and 12 mm high instead of 20.
Requirement: a click moved 4 mm along either body axis changes the VBQ by under 3 %.
"""

import json

import pytest

import vbq
from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose

BODIES = ("L1", "L2", "L3", "L4")


@pytest.fixture(scope="module")
def modic(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("modic"), anatomy="realistic", seed=7,
                        variants="random")
    assert info.expected["variants"]["modic"]
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    return info, seeds


def test_the_borders_are_the_endplates_beyond_the_fatty_bands(modic):
    info, seeds = modic
    prop = propose(load_series(info.series_dir).series, seeds)
    geo = info.expected["geometry"]["levels"]
    pixel = max(info.expected["geometry"]["pixel_spacing_mm"][:2])
    for level in BODIES:
        inner = geo[level]["height_mm"] - 2.0 * geo[level]["cortex_mm"]
        assert prop.bodies[level].height_mm == pytest.approx(inner, abs=2 * 1.5 * pixel), level
        tilt = abs(prop.bodies[level].angle_deg - geo[level]["tilt_deg"])
        assert tilt < 5.0, level


def test_a_click_moved_4_mm_barely_moves_the_score(modic, tmp_path):
    info, seeds = modic
    base = vbq.score_series(info.series_dir, seeds=seeds).vbq
    geo = info.expected["geometry"]
    sr, sc = geo["pixel_spacing_mm"][:2]
    for level in BODIES:
        for axis in ("axis_direction", "ap_direction"):
            for sign in (1.0, -1.0):
                dr, dc = (sign * 4.0 * x for x in geo["levels"][level][axis])
                moved = [dict(s) for s in seeds["seeds"]]
                for s in moved:
                    if s["label"] == level:
                        s["point"] = [s["point"][0] + dr / sr, s["point"][1] + dc / sc]
                got = vbq.score_series(info.series_dir, seeds=dict(seeds, seeds=moved)).vbq
                assert abs(got / base - 1.0) < 0.03, (level, axis, sign)
