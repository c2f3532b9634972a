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
