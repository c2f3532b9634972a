"""A body found low for the spacing of the other bodies is looked for again, or warned about.

:func:`vbq.roi.proposal.propose` compares each body's inner height with the pitch
of the other bodies found on its slice (the distance between the centres of the
first and last of them over the levels between): under
:data:`~vbq.roi.proposal.LOW_BODY_FRACTION` of it, the body is a disc or an
endplate zone taken for it, or a crushed body, and the QC figure must be looked at.

References by construction: hand-built columns of bodies (1 mm pixels, rows
inferior, columns posterior; each body's marrow a rectangle of known rows inside a
2 mm cortex, so the inner heights and the pitch are known exactly), and a realistic
phantom whose true body heights are in its ``expected.json``.
"""

import json

import numpy as np
import pytest
from test_proposal_moved_clicks import _check_body, _column, _seeds
from test_rois_support import make_series

from vbq import score_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import LOW_BODY_FRACTION, propose

MARROW, CORTEX, SOFT = 100.0, 30.0, 40.0


def _stack(heights: dict[str, int], depth: int = 36, disc: int = 8
           ) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Bodies (the keys of ``heights``, top down) from row 15 down, each
    ``heights[level]`` mm of marrow (100) inside a 2 mm cortex (30), ``disc`` mm discs
    (40) between them; the marrow centres."""
    img = np.full((260, depth + 70), SOFT)
    col0, r = 30, 15
    centres = {}
    for level, h in heights.items():
        img[r:r + h + 4, col0 - 2:col0 + depth + 2] = CORTEX
        img[r + 2:r + 2 + h, col0:col0 + depth] = MARROW
        centres[level] = (r + 2 + 0.5 * (h - 1), col0 + 0.5 * (depth - 1))
        r += h + 4 + disc
    assert r < img.shape[0]
    return img, centres


def _low(prop) -> list[str]:
    return [w for w, c in zip(prop.warnings, prop.warning_codes, strict=True) if c == "body_low"]


@pytest.mark.parametrize(("l2", "warned"), [(12, True), (13, True), (14, False), (26, False)])
def test_a_crushed_body_is_found_as_it_is_and_warned_about(l2, warned):
    """L1, L3 and L4 26 mm high, L2 ``l2`` mm, 8 mm discs: found exactly (a fractured body
    is measured as drawn). The pitch of the others runs from L1's centre to L4's over
    three levels, across the crushed one: (3 x 38 - (26 - l2)) / 3 mm (33.3 for 12 mm,
    34.0 for 14 mm), 0.4 of which is 13.3-13.6 mm; L2 is warned about below it."""
    img, centres = _stack({"L1": 26, "L2": l2, "L3": 26, "L4": 26})
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(centres), find_csf=False)
    for level in centres:
        _check_body(prop, level, centres[level], 26.0 if level != "L2" else float(l2), 36.0)
    pitch = (3 * 38.0 - (26 - l2)) / 3.0
    assert (l2 < LOW_BODY_FRACTION * pitch) == warned
    low = _low(prop)
    if warned:
        assert len(low) == 1 and "(L2)" in low[0], low
        assert f"body found {l2:.1f} mm high, under 0.4 of the " in low[0]
        # the centres found are pinned to half a pixel: the pitch to 1/3 mm
        said = float(low[0].split("under 0.4 of the ")[1].split(" mm")[0])
        assert said == pytest.approx(pitch, abs=1.0 / 3.0 + 0.05)
        assert "crushed body" in low[0] and "QC figure" in low[0]
    else:
        assert low == []


def test_a_crushed_body_under_a_body_not_clicked_stays():
    """T12 (not clicked) 26 mm high above a crushed L1 of 12 mm, L2-L4 26 mm, 8 mm discs.
    Moving the L1 click up would find T12, a whole body and no other click's; but T12
    lies two pitches from L2 where L1 should lie one (the crushed body: 7 mm short of
    it), so L1 stays as found, and is warned about."""
    img, centres = _stack({"T12": 26, "L1": 12, "L2": 26, "L3": 26, "L4": 26})
    clicks = {lv: c for lv, c in centres.items() if lv != "T12"}
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(clicks), find_csf=False)
    for level in clicks:
        _check_body(prop, level, centres[level], 12.0 if level == "L1" else 26.0, 36.0)
    assert "seed_moved" not in prop.warning_codes
    low = _low(prop)
    assert len(low) == 1 and "(L1)" in low[0], low


def test_a_disc_taken_for_the_body_is_found_again_one_pitch_from_its_neighbours():
    """Bodies 26 mm high with 12 mm discs of 0.8 x the marrow (42 mm apart); the L3 click
    lies in the L3-L4 disc, 1 mm below its middle (nearer L4, another click's body). The
    disc, 12 mm between the endplates beside it, was taken for L3 (under 0.4 of the
    42 mm pitch of L1, L2 and L4, half a pitch from L2 and L4); L3 itself (26 x 36 mm,
    centre known) lies one pitch from both and is taken, with a note."""
    img, centres, disc_mid = _column(26, 36, {lv: (12, 80.0) for lv in ("L1", "L2", "L3", "L4")},
                                     300)
    series = make_series(img[None], spacing=(1.0, 1.0))
    clicks = {lv: centres[lv] for lv in ("L1", "L2", "L4")}
    clicks["L3"] = (disc_mid["L3"] + 1.0, centres["L3"][1])
    prop = propose(series, _seeds(clicks), find_csf=False)
    _check_body(prop, "L3", centres["L3"], 26.0, 36.0)
    assert _low(prop) == []
    moved = [w for w, c in zip(prop.warnings, prop.warning_codes, strict=True)
             if c == "seed_moved"]
    assert len(moved) == 1 and "(L3)" in moved[0] and "one pitch from its neighbours" in moved[0]


def test_a_body_found_short_on_a_realistic_spine_is_warned_in_the_score(tmp_path):
    """Truth by construction: the realistic phantom, seed 196, every variant. From its
    clicks, L2 is found 12.8 mm high where its true inner height (height less the two
    cortices, from ``expected.json``) is 19.5 mm, under 0.4 of the other bodies' pitch;
    the score carries ``body_low`` naming L2, and no other body is warned about."""
    out = tmp_path / "p"
    make_phantom(out, anatomy="realistic", seed=196, variants="all")
    geo = json.loads((out / "expected.json").read_text())["geometry"]["levels"]
    seeds = json.loads((out / "seeds.json").read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    (out / "bodies.json").write_text(json.dumps(seeds))
    result = score_series(out / "series", seeds=out / "bodies.json")
    low = [w for w, c in zip(result.warnings, result.warning_codes, strict=True)
           if c == "body_low"]
    assert len(low) == 1 and "(L2)" in low[0], low
    found = float(low[0].split("body found ")[1].split(" mm")[0])
    true_inner = geo["L2"]["height_mm"] - 2.0 * geo["L2"]["cortex_mm"]
    assert found < 0.75 * true_inner


def _uneven(prop) -> list[str]:
    return [w for w, c in zip(prop.warnings, prop.warning_codes, strict=True)
            if c == "level_spacing_uneven"]


def test_a_level_skipped_in_the_labels_is_warned_about_and_blames_no_body():
    """Five bodies 26 mm high, 38 mm apart; the L1-L3 clicks on the first three and the
    L4 click on the fifth (L4 skipped in the labels): L3 to "L4" is 76 mm, twice the
    38 mm of the others. Each body is found as drawn, none is called low or moved, and
    the result says a level may be skipped."""
    img, centres = _stack({"A": 26, "B": 26, "C": 26, "D": 26, "E": 26})
    clicks = {"L1": centres["A"], "L2": centres["B"], "L3": centres["C"], "L4": centres["E"]}
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(clicks), find_csf=False)
    for level, c in clicks.items():
        _check_body(prop, level, c, 26.0, 36.0)
    assert _low(prop) == [] and "seed_moved" not in prop.warning_codes
    uneven = _uneven(prop)
    assert len(uneven) == 1, prop.warnings
    assert "for L3 and L4 are 76.0 mm apart per level, 2.0 times the 38.0 mm" in uneven[0]


@pytest.mark.parametrize("l2", [26, 12])
def test_an_evenly_spaced_spine_and_a_crushed_body_are_not_uneven(l2):
    """L1-L4 38 mm apart, or with L2 crushed to 12 mm (its two gaps 31 mm, 0.82 of the
    third): under 1.5 times the shortest, no warning of uneven spacing."""
    img, centres = _stack({"L1": 26, "L2": l2, "L3": 26, "L4": 26})
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(centres), find_csf=False)
    assert _uneven(prop) == []


def _shifted_stack(shift: dict[str, int], depth: int = 36) -> tuple[np.ndarray, dict]:
    """L1-L4 of :func:`_stack` (26 mm high, 8 mm discs), each moved ``shift[level]`` columns
    (mm, posterior positive) as a slipped vertebra is; the marrow centres."""
    img = np.full((260, depth + 140), SOFT)
    r, centres = 15, {}
    for level in ("L1", "L2", "L3", "L4"):
        c0 = 50 + shift.get(level, 0)
        img[r:r + 30, c0 - 2:c0 + depth + 2] = CORTEX
        img[r + 2:r + 28, c0:c0 + depth] = MARROW
        centres[level] = (r + 14.5, c0 + 0.5 * (depth - 1))
        r += 38
    return img, centres


def test_a_slipped_vertebra_is_kept():
    """L3 slipped 14 mm forward over L4 (40 % of the 36 mm depth, a grade 2 slip) with L1
    and L2 in line with L4: 14 mm from the line through the others, under 0.8 of their
    depth; found as drawn."""
    img, centres = _shifted_stack({"L3": -14})
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(centres), find_csf=False)
    for level in centres:      # centres to a pixel (L4's top cortex half under L3's disc)
        assert prop.bodies[level].centre == pytest.approx(centres[level], abs=1.0), level


def test_a_click_on_a_block_of_marrow_behind_the_bodies_is_refused():
    """A 26 x 20 mm block of marrow (a spinous process) 40 mm behind L3, clicked as L3:
    its centre lies 40 mm behind the line through L1, L2 and L4 (1.1 of their 36 mm
    depth); refused, naming the seed and the distance."""
    img, centres = _shifted_stack({})
    r0, c0 = int(centres["L3"][0]) - 13, int(centres["L3"][1]) + 40 - 10
    img[r0 - 2:r0 + 28, c0 - 2:c0 + 22] = CORTEX
    img[r0:r0 + 26, c0:c0 + 20] = MARROW
    clicks = dict(centres, L3=(centres["L3"][0], c0 + 9.5))
    series = make_series(img[None], spacing=(1.0, 1.0))
    with pytest.raises(BodyNotFoundError) as err:
        propose(series, _seeds(clicks), find_csf=False)
    msg = str(err.value)
    assert "(L3): the body found from the click at" in msg
    said = float(msg.split("lies ")[1].split(" mm behind")[0])
    assert said == pytest.approx(40.0, abs=1.0)
    depth = float(msg.split("depth (")[1].split(" mm")[0])
    assert depth == pytest.approx(36.0, abs=0.5)


def test_a_click_on_a_level_the_protocol_does_not_score_is_said_not_used():
    """T12 (not a level of the lumbar protocol) clicked with L1-L4: its click is not used,
    and the proposal's notes say so, naming the seed (a note: seed files may click the
    neighbours of the levels scored, as the phantom's do)."""
    img, centres = _stack({"T12": 26, "L1": 26, "L2": 26, "L3": 26, "L4": 26})
    series = make_series(img[None], spacing=(1.0, 1.0))
    prop = propose(series, _seeds(centres), find_csf=False)
    assert "T12" not in prop.bodies and prop.warnings == ()
    said = [n for n in prop.notes if "not a level" in n]
    assert said == ["seeds: seed 1 (T12): T12 is not a level of protocol lumbar; its click "
                    "was not used"], prop.notes
