"""Body ROIs from clicks on realistic phantoms: the ellipse less focal structures.

Every number is checked against the phantom's truth by construction: the
reference body ROIs (``reference_rois.npz``: each body on the true mid-sagittal
plane eroded 3 mm, less the vein and focal lesions) and the body geometry
(``expected.json["geometry"]``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi import proposal
from vbq.roi.proposal import AXIS_FRACTION, CLEARANCE_MM, propose
from vbq.roi.rois import RoiFile
from vbq.roi.shapes import ellipse_mask

#: Anatomies with every variant (vein, Modic zones, fat islands, haemangiomas, ...),
#: seeds no constant of the engine was chosen on.
SEEDS = range(120, 130)
BODIES = ("L1", "L2", "L3", "L4")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    out = []
    for seed in SEEDS:
        info = make_phantom(tmp_path_factory.mktemp(f"all{seed}"), anatomy="realistic",
                            seed=seed, variants="all")
        series = load_series(info.series_dir).series
        seeds = json.loads(info.seeds_path.read_text())
        seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
        out.append((info, series, seeds, propose(series, seeds, find_csf=False)))
    return out


def test_the_document_selects_exactly_the_proposed_pixels(phantoms):
    """The written ellipse less its ``minus`` polygons is the body's mask, pixel for pixel."""
    cut_any = 0
    for info, series, _, prop in phantoms:
        rm = RoiFile.from_json(prop.rois).masks(series)
        for lv in BODIES:
            body = prop.bodies[lv]
            np.testing.assert_array_equal(rm.masks[lv], body.mask,
                                          err_msg=f"{info.out_dir.name} {lv}")
            entry = next(r for r in prop.rois["rois"] if r["label"] == lv)
            assert ("minus" in entry) == (body.cut_pixels > 0)
            cut_any += body.cut_pixels > 0
    assert cut_any >= len(phantoms)       # anatomies with every variant have focal structures


def test_the_borders_found_are_the_true_bodies(phantoms):
    """Centre, inner height (at the centre) and inner depth against the true bodies.

    ``expected.json["geometry"]``: the endplates' centres and the cortex give the
    true inner height through the centre, the depth less two cortices the inner
    depth. On the 960 levels of seeds 0-119 the centre found was within 3 mm in
    99.5 %, the inner height within 4 mm in 95.5 % and the inner depth within
    3 mm in 99.5 %; asserted on these 40 levels: those shares less two binomial
    standard errors over 40 (97 %, 89 %, 97 %): at least 39, 36 and 39.
    """
    near = tall = deep = n = 0
    for info, _, _, prop in phantoms:
        geo = info.expected["geometry"]
        sp = np.array(geo["pixel_spacing_mm"])
        for lv in BODIES:
            g, b = geo["levels"][lv], prop.bodies[lv]
            up, down = (np.array(g[k]["centre"]) for k in ("superior_endplate",
                                                            "inferior_endplate"))
            inner_h = float(np.hypot(*((up - down) * sp))) - 2 * g["cortex_mm"]
            inner_d = g["depth_mm"] - 2 * g["cortex_mm"]
            near += float(np.hypot(*((np.array(b.centre) - g["centre"]) * sp))) <= 3.0
            tall += abs(b.height_mm - inner_h) <= 4.0
            deep += abs(b.depth_mm - inner_d) <= 3.0
            n += 1
    assert n == 40 and near >= 39 and tall >= 36 and deep >= 39, (near, tall, deep)


def test_the_ellipse_semi_axes_are_40_percent_of_the_borders_2_mm_inside_them(phantoms):
    for _, series, _, prop in phantoms:
        for lv in BODIES:
            b = prop.bodies[lv]
            half_h, half_d = b.height_mm / 2, b.depth_mm / 2
            want = (min(2 * AXIS_FRACTION * half_h, half_h - CLEARANCE_MM),
                    min(2 * AXIS_FRACTION * half_d, half_d - CLEARANCE_MM))
            assert b.radii_mm == pytest.approx(want, abs=1e-12)
            assert b.ellipse_centre == b.centre
            # what is cut out lies inside the ellipse
            spacing = tuple(series.slices[0].geometry.spacing)
            whole = ellipse_mask(b.mask.shape, b.ellipse_centre, b.radii_mm, b.angle_deg,
                                 spacing)
            assert not np.any(b.mask & ~whole)
            assert int(whole.sum() - b.mask.sum()) == b.cut_pixels


def test_body_signal_matches_the_reference_bodies(phantoms):
    """The median of the L1-L4 ROI means is within 3 % of the reference's on most anatomies.

    ``benchmarks/roi_agreement.py`` on 240 anatomies (seeds 0-119 of both kinds): the
    body part of the clicks' VBQ (median body mean over the reference CSF) was within
    3 % of the reference in 236 (98 %); the share asserted on these ten is that less
    two binomial standard errors over ten (90 %): at least 9. The largest error was
    4.4 %: none here may exceed 5 %. Ellipses shrunk to clear the focal structures,
    as the engine drew them before, were within 3 % in 151 of the first 160.
    """
    errors = []
    for info, series, _, prop in phantoms:
        ref = info.expected["reference"]
        image = series.pixels(info.slice).astype(float)
        ours = np.median([image[prop.bodies[lv].mask].mean() for lv in BODIES])
        theirs = np.median([ref["levels"][lv]["mean"] for lv in BODIES])
        errors.append(abs(ours / theirs - 1.0))
    errors = np.array(errors)
    assert np.max(errors) < 0.05, errors
    assert np.sum(errors < 0.03) >= 9, errors


def test_focal_structures_filling_the_ellipse_refuse_the_body(phantoms, monkeypatch):
    _, series, seeds, _ = phantoms[0]
    # every pixel off the marrow plane is "focal"
    monkeypatch.setattr(proposal, "LESION_SPREADS", 0.0)
    monkeypatch.setattr(proposal, "LESION_BRIGHT", 1.0)
    monkeypatch.setattr(proposal, "LESION_DARK", 1.0)
    with pytest.raises(BodyNotFoundError, match=r"focal structures \(the basivertebral vein, "
                       r"Modic zones, fat\) fill \d+ of the \d+ pixels of the body's ellipse; "
                       "draw its ROI by hand or exclude the level"):
        propose(series, seeds, find_csf=False)


def test_notes_say_how_much_was_cut_out(phantoms):
    for _, _, _, prop in phantoms:
        for lv in BODIES:
            n = prop.bodies[lv].cut_pixels
            note = next(x for x in prop.notes if x.startswith(f"{lv}: body "))
            assert (f"{n} pixels of focal structures" in note) == (n > 0)


def test_the_qc_figure_hatches_what_was_cut_out(phantoms):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vbq import score_series
    from vbq.qc import plot_qc

    info, _, seeds, prop = phantoms[0]
    r = score_series(info.series_dir, seeds=seeds)
    want = {lv: len(prop.bodies[lv].minus) for lv in BODIES if prop.bodies[lv].minus}
    csf = next(e for e in propose(phantoms[0][1], seeds).rois["rois"] if e["label"] == "CSF")
    if csf.get("minus"):       # roots cut out of the CSF ROI
        want["CSF"] = len(csf["minus"])
    assert {lv: len(v) for lv, v in (r.cut_outlines or {}).items()} == want
    ax = plot_qc(r)
    hatched = [p for p in ax.patches if p.get_hatch() == "////"]
    assert len(hatched) == sum(want.values()) > 0
    # each hatch is clipped to its ROI's outline: a cut-out reaching beyond it (over
    # another ROI or the canal) is drawn only where it takes pixels from this one
    assert all(p.get_clip_path() is not None for p in hatched)
    plt.close(ax.figure)


def test_cut_outs_do_not_move_the_sac_or_the_midline(phantoms):
    """The sac is traced through the shapes' centres, whatever is cut out of them."""
    import copy

    for _, series, _, prop in phantoms[:3]:
        stripped = copy.deepcopy(prop.rois)
        for roi in stripped["rois"]:
            roi.pop("minus", None)
        a = RoiFile.from_json(prop.rois).masks(series)
        b = RoiFile.from_json(stripped).masks(series)
        assert a.midline_offset_mm == b.midline_offset_mm
        assert a.midline_source == b.midline_source
        assert a.csf_reference == b.csf_reference and a.csf_reference is not None
