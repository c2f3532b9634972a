"""A click must not give a body that is not its vertebral body, nor a body with a disc in it.

References by construction: realistic phantoms without variants, whose true body
centres, directions, heights and cortices are in ``expected.json["geometry"]``.
"""

import json
import math

import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose


def _realistic(tmp_path, seed, rows=256):
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=seed, variants="none",
                        rows=rows, n_slices=15, distractors=None)
    seeds = json.loads(info.seeds_path.read_text())
    points = {s["label"]: s["point"] for s in seeds["seeds"]}
    return (load_series(info.series_dir).series, seeds, points,
            info.expected["geometry"])


def test_a_click_behind_the_canal_is_not_moved_into_the_posterior_elements(tmp_path):
    """Seed 3, no variants: the L1 click 44 mm behind L1's true centre along its
    antero-posterior direction (in the paraspinal muscle, behind the canal), the other
    clicks at their true centres. The ROI must be L1's body or the click refused; it was
    an ellipse on the posterior elements, 14.6 x 17.3 mm, not low enough for body_low,
    and is now refused: its centre lies behind the line through the other bodies'
    centres by more than 0.8 of their depth."""
    series, seeds, points, geo = _realistic(tmp_path, 3)
    sp = geo["pixel_spacing_mm"][0]
    lv = geo["levels"]["L1"]
    click = [c + 44.0 / sp * d for c, d in zip(lv["centre"], lv["ap_direction"], strict=True)]
    doc = dict(seeds, seeds=[{"label": "L1", "point": click}]
               + [{"label": k, "point": points[k]} for k in ("L2", "L3", "L4")])
    try:
        prop = propose(series, doc, find_csf=False)
    except BodyNotFoundError as err:
        msg = str(err)
        assert "(L1): the body found from the click at" in msg, msg
        assert "behind the line through the centres of L2, L3, L4" in msg
        assert "posterior elements" in msg and "click inside the body" in msg
        return
    off = math.dist(prop.bodies["L1"].centre, lv["centre"]) * sp
    assert off < 10.0, off


@pytest.mark.xfail(strict=True, reason="L1 is found 31 mm high where its height less its "
                   "cortices is 22 mm: its lower endplate shows no dark line on this slice, so "
                   "the step down to the L1-L2 disc and L2's endplate beyond it make one dark "
                   "band, whose edge is taken half-way down to L2's endplate, across the disc; "
                   "the ellipse runs into the disc, unwarned")
def test_a_body_is_not_found_much_higher_than_it_is(tmp_path):
    """Seed 20, no variants, 192 x 192 x 15, clicks at the true centres: every body is
    found within 20 % of its true inner height (height less its two cortices), or the
    result carries a warning about that body."""
    series, seeds, _, geo = _realistic(tmp_path, 20, rows=192)
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    prop = propose(series, seeds, find_csf=False)
    wrong = []
    for level, body in prop.bodies.items():
        g = geo["levels"][level]
        inner = g["height_mm"] - 2.0 * g["cortex_mm"]
        if abs(body.height_mm / inner - 1.0) > 0.2 and not any(
                f"({level})" in w for w in prop.warnings):
            wrong.append((level, round(body.height_mm, 1), round(inner, 1)))
    assert not wrong
