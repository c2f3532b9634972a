"""A click on an endplate or in a disc is moved into its body with the bodies' marrow and pitch.

:func:`vbq.roi.proposal.propose` fits the clicks inside their bodies first; a click
that is not in marrow is then moved into the body it belongs to, judged against the
marrow level of the bodies found (the median of their marrow, not of the clicks'
neighbourhoods) and with the body's inner height bounded by their pitch (the distance
between the centres of the first and last of them over the levels between,
:data:`~vbq.roi.proposal.HEIGHT_TO_PITCH`), not by the clicks'.

References by construction: hand-built sagittal slices (1 mm pixels, rows inferior,
columns posterior) of five bodies L1-L5 in a column, each body's marrow a rectangle
of known rows and columns inside a 2 mm cortex, so its centre, inner height and depth
are known exactly.
"""

import numpy as np
import pytest
from test_rois_support import make_series

from vbq.roi.proposal import propose

MARROW, CORTEX, SOFT = 100.0, 30.0, 40.0
LEVELS = ("L1", "L2", "L3", "L4", "L5")


def _column(height: int, depth: int, discs: dict[str, tuple[int, float]], rows: int,
            faint_top: dict[str, float] | None = None, fat: tuple[str, ...] = ()
            ) -> tuple[np.ndarray, dict[str, tuple[float, float]], dict[str, float]]:
    """Bodies L1-L5 from row 15 down: a 2 mm cortex (30) around ``height`` x ``depth`` mm
    of marrow (100), the disc below each level ``discs[level]`` = (height mm, signal)
    between the cortices, soft tissue (40) in front and behind.

    ``faint_top[level]``: that body's superior cortex has this signal instead (a thin
    endplate blurred into its neighbours). ``fat``: levels with a spot of fat (170,
    2.5 mm in radius) at the body's centre.

    Returns the image, each body's marrow centre ``(row, column)`` and the middle row of
    the disc below each level.
    """
    img = np.full((rows, depth + 70), SOFT)
    col0 = 30
    rr, cc = np.mgrid[0:rows, 0:img.shape[1]]
    centres: dict[str, tuple[float, float]] = {}
    disc_mid: dict[str, float] = {}
    r = 15
    for level in LEVELS:
        img[r:r + height + 4, col0 - 2:col0 + depth + 2] = CORTEX
        if faint_top and level in faint_top:
            img[r:r + 2, col0 - 2:col0 + depth + 2] = faint_top[level]
        img[r + 2:r + 2 + height, col0:col0 + depth] = MARROW
        centres[level] = (r + 2 + 0.5 * (height - 1), col0 + 0.5 * (depth - 1))
        if level in fat:
            c = centres[level]
            img[(rr - c[0]) ** 2 + (cc - c[1]) ** 2 <= 2.5 ** 2] = 170.0
        r += height + 4
        if level in discs:
            d, signal = discs[level]
            img[r:r + d, col0:col0 + depth] = signal
            disc_mid[level] = r + 0.5 * (d - 1)
            r += d
    assert r < rows
    return img, centres, disc_mid


def _seeds(clicks: dict[str, tuple[float, float]]) -> dict:
    return {"format": "vbq-seeds/1", "space": "pixel", "slice": 0,
            "seeds": [{"label": lv, "point": list(p)} for lv, p in clicks.items()]}


def _check_body(prop, level: str, centre: tuple[float, float], height: float, depth: float):
    """The marrow's edges are steps on whole pixels: height and depth exact to a pixel,
    the centre to half a pixel."""
    body = prop.bodies[level]
    assert body.centre == pytest.approx(centre, abs=0.5), (level, body.centre, body.height_mm)
    assert body.height_mm == pytest.approx(height, abs=1.0), (level, body.height_mm)
    assert body.depth_mm == pytest.approx(depth, abs=1.0), (level, body.depth_mm)


def test_a_disc_click_is_judged_against_the_bodies_marrow_not_the_clicks():
    """The L1, L2 and L4 clicks lie on a spot of fat at their bodies' centres (170, 1.7 x
    the marrow), so the median of the clicks' 3 mm neighbourhoods is the fat's (170),
    while the marrow of the bodies found from them is 100. The L3 click lies in the
    L3-L4 disc (12 mm high, signal 70 between the cortices), 3 mm above its middle.

    Against the bodies' marrow the click is dark (70 < 0.75 x 100) and is moved up into
    L3 (26 x 36 mm, centre known); against the clicks' level the disc, 12 mm high
    between its endplates, was taken for L3's body.
    """
    img, centres, disc_mid = _column(26, 36, {lv: (12, 70.0) for lv in LEVELS[:4]}, 300,
                                     fat=("L1", "L2", "L4"))
    series = make_series(img[None], spacing=(1.0, 1.0))
    clicks = {lv: centres[lv] for lv in ("L1", "L2", "L4")}
    clicks["L3"] = (disc_mid["L3"] - 3.0, centres["L3"][1])
    prop = propose(series, _seeds(clicks), find_csf=False)
    _check_body(prop, "L3", centres["L3"], 26.0, 36.0)
    moved = [n for n in prop.notes if "not in marrow" in n]
    assert len(moved) == 1 and "(L3)" in moved[0] and " up into the body" in moved[0], moved


def test_a_moved_click_s_body_height_is_bounded_by_the_bodies_pitch():
    """Bodies 20 mm high (marrow) with 2 mm cortices and 6 mm discs (40) are 30 mm apart;
    the L3-L4 disc (7 mm) is as bright as the marrow and L4's superior endplate is faint
    (70, passable as marrow texture). The L4 click lies in the L4-L5 disc, 2 mm above
    its middle, and is moved up into L4.

    Upwards from the move, the darkest pair of borders is L4's inferior endplate with
    L3's, 29 mm apart, within the 14-31 mm of any lumbar body; with the pitch of the
    bodies found from the L1-L3 clicks (30 mm), the inner height is at most 27 mm and
    L4 is found between its own endplates (20 mm). The clicks' pitch, from L1's click
    to L4's in the disc (34.7 mm), would allow 31 mm, as would no pitch.
    """
    discs = {"L1": (6, SOFT), "L2": (6, SOFT), "L3": (7, MARROW), "L4": (6, SOFT)}
    img, centres, disc_mid = _column(20, 38, discs, 220, faint_top={"L4": 70.0})
    series = make_series(img[None], spacing=(1.0, 1.0))
    clicks = {lv: centres[lv] for lv in ("L1", "L2", "L3")}
    clicks["L4"] = (disc_mid["L4"] - 2.0, centres["L4"][1])
    prop = propose(series, _seeds(clicks), find_csf=False)
    for level in ("L1", "L2", "L3", "L4"):
        _check_body(prop, level, centres[level], 20.0, 38.0)
    moved = [n for n in prop.notes if "not in marrow" in n]
    assert len(moved) == 1 and "(L4)" in moved[0] and " up into the body" in moved[0], moved


def test_a_click_in_a_high_disc_nearly_as_bright_as_marrow_is_moved_into_its_body():
    """Bodies 26 mm high with 2 mm cortices and 12 mm discs of 80 (0.8 x the marrow, above
    :data:`~vbq.roi.proposal.DARK_FRACTION`); the L3 click lies in the L3-L4 disc, 2.5 mm
    above its middle, the others at their bodies' centres.

    The disc between its endplates is 12 mm high, above :data:`MIN_HEIGHT_MM` (10) but
    below the 14 mm at which :data:`HEIGHT_RANGE_MM` starts and below
    :data:`LOW_BODY_FRACTION` of the bodies' pitch (0.4 x 42 mm); the body the click
    belongs to is L3 (26 x 36 mm, centre known). The disc was taken for L3's body; it
    is now found again as a moved click is, and L3 lies one pitch from L2 and L4.
    """
    img, centres, disc_mid = _column(26, 36, {lv: (12, 80.0) for lv in LEVELS[:4]}, 300)
    series = make_series(img[None], spacing=(1.0, 1.0))
    clicks = {lv: centres[lv] for lv in ("L1", "L2", "L4")}
    clicks["L3"] = (disc_mid["L3"] - 2.5, centres["L3"][1])
    prop = propose(series, _seeds(clicks), find_csf=False)
    _check_body(prop, "L3", centres["L3"], 26.0, 36.0)
    moved = [n for n in prop.notes if "one pitch from its neighbours" in n]
    assert len(moved) == 1 and "(L3)" in moved[0] and "was 12.0 mm high" in moved[0], prop.notes
    assert "body_low" not in prop.warning_codes
