"""An excluded level whose click leads off the line of the other bodies is left out.

A surgeon excludes a fractured level; its click may then be anywhere. A body found
from it off the spine (the posterior elements) refuses the clicks when the level is
scored, and is only left out, with a note, when it is excluded.

Reference by construction: the column of :func:`test_proposal_low_body._shifted_stack`
(L1-L4 26 mm high, 36 mm deep, 38 mm apart, in line) with a 26 x 20 mm block of
marrow 40 mm behind L3, clicked as L3.
"""

import pytest
from test_proposal_low_body import CORTEX, MARROW, _shifted_stack
from test_proposal_moved_clicks import _seeds
from test_rois_support import make_series

from vbq.errors import BodyNotFoundError
from vbq.roi.proposal import propose


def _block_behind_l3():
    img, centres = _shifted_stack({})
    r0, c0 = int(centres["L3"][0]) - 13, int(centres["L3"][1]) + 40 - 10
    img[r0 - 2:r0 + 28, c0 - 2:c0 + 22] = CORTEX
    img[r0:r0 + 26, c0:c0 + 20] = MARROW
    clicks = dict(centres, L3=(centres["L3"][0], c0 + 9.5))
    return make_series(img[None], spacing=(1.0, 1.0)), centres, clicks


@pytest.mark.parametrize("how", ["argument", "seed file"])
def test_an_excluded_click_off_the_spine_is_left_out_with_a_note(how):
    """L3 excluded (by ``exclude`` or by the seed file): L1, L2 and L4 are found where drawn,
    L3 is left out, and a note says why; no error, no warning. (The
    centres to a pixel: L4's top cortex lies half under L3's disc.)"""
    series, centres, clicks = _block_behind_l3()
    with pytest.raises(BodyNotFoundError, match=r"\(L3\): the body found from the click"):
        propose(series, _seeds(clicks), find_csf=False)
    if how == "argument":
        prop = propose(series, _seeds(clicks), find_csf=False, exclude=["L3"])
    else:
        prop = propose(series, dict(_seeds(clicks), exclude={"L3": "fracture"}), find_csf=False)
    assert set(prop.bodies) == {"L1", "L2", "L4"}
    for level in ("L1", "L2", "L4"):
        assert prop.bodies[level].centre == pytest.approx(centres[level], abs=1.0), level
    left = [n for n in prop.notes if n.startswith("L3 is excluded")]
    assert len(left) == 1, prop.notes
    assert "behind the line through the centres of L1, L2, L4" in left[0]
    assert left[0].endswith("it is left out")
    assert prop.warnings == ()
