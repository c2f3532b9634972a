"""A level the score leaves out does not sink the clicks of the others.

A surgeon excludes a fractured level; its click may then be anywhere (on the
crushed body, or left where it was). Reference: the same score from the other
clicks alone with the same level excluded (a click whose body is not found is
left out, so the two VBQs must be equal).
"""

import json

import pytest

from vbq import score_series
from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("excl") / "p", n_slices=7, distractors=())
    seeds = json.loads(info.seeds_path.read_text())
    bad = dict(seeds, seeds=[dict(s, point=[5.0, 5.0]) if s["label"] == "L2" else s
                             for s in seeds["seeds"]])
    return info, seeds, bad


def test_an_excluded_level_whose_body_is_not_found_is_left_out(phantom):
    info, _, bad = phantom
    series = load_series(info.series_dir).series
    with pytest.raises(BodyNotFoundError, match=r"seed 2 \(L2\).*in air"):
        propose(series, bad, find_csf=False)
    for prop in (propose(series, bad, find_csf=False, exclude=["L2"]),
                 propose(series, dict(bad, exclude={"L2": "fracture"}), find_csf=False)):
        assert set(prop.bodies) == {"L1", "L3", "L4"}
        left = [n for n in prop.notes if n.startswith("L2 is excluded")]
        assert len(left) == 1 and "in air" in left[0] and left[0].endswith("it is left out")


def test_the_score_with_a_lost_excluded_click_is_the_score_without_that_level(phantom):
    """The reference: the same clicks without L2's, L2 excluded. The click in air takes
    no part in the marrow level the other clicks are judged against."""
    info, seeds, bad = phantom
    without = dict(seeds, seeds=[s for s in seeds["seeds"] if s["label"] != "L2"])
    want = score_series(info.series_dir, seeds=without, exclude={"L2": "fracture"})
    got = score_series(info.series_dir, seeds=bad, exclude={"L2": "fracture"})
    assert got.used_levels == want.used_levels == ("L1", "L3", "L4")
    assert got.vbq == pytest.approx(want.vbq, rel=1e-12)
    assert "levels_excluded" in got.warning_codes


def test_a_lost_excluded_click_beside_a_click_to_move_is_no_error():
    """L2 excluded with its click in the soft tissue far from the spine, while L3's click
    lies on its lower endplate, to be moved into L3 with the other bodies' pitch. L2's
    click takes no part in the spine or the pitch: every body is found as drawn (26 x
    36 mm, hand-built column); L1 had been refitted square to a spine running towards
    L2's click (36 mm high, turned 60 degrees)."""
    from test_proposal_low_body import _stack
    from test_proposal_moved_clicks import _check_body, _seeds
    from test_rois_support import make_series

    img, centres = _stack({"L1": 26, "L2": 26, "L3": 26, "L4": 26})
    clicks = dict(centres, L2=(5.0, 5.0), L3=(centres["L3"][0] + 14.5, centres["L3"][1]))
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(clicks), find_csf=False, exclude=["L2"])
    assert set(prop.bodies) == {"L1", "L3", "L4"}
    for level in ("L1", "L3", "L4"):
        _check_body(prop, level, centres[level], 26.0, 36.0)
    assert "seed_moved" in prop.warning_codes
