"""Seeds that are not at the body's centre: the score barely moves, a neighbour is never measured.

Truth by construction: ``expected.json["geometry"]`` of the realistic phantom
(:func:`vbq.phantom.make_phantom` with ``anatomy="realistic"``) gives each body's
centre and endplates and each disc's centre; ``mask.nii.gz`` gives the true
body labels on the written mid slice.

Requirement (stated before measuring): a click moved up to 4 mm inside its body
changes the VBQ by less than 3 %; a click on an endplate or in a disc is moved
into the body it belongs to with a ``seed_moved`` warning, or refused with a
sentence naming it, never measuring the neighbouring body.
"""

import json

import nibabel as nib
import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.seeds import rois_from_seeds
from vbq.score import score_roi_masks

LEVEL_LABEL = {"L1": 41, "L2": 42, "L3": 43, "L4": 44}
ANATOMIES = [(1, "random"), (5, "all")]


@pytest.fixture(scope="module", params=ANATOMIES, ids=lambda p: f"{p[1]}{p[0]}")
def spine(request, tmp_path_factory):
    seed, variants = request.param
    info = make_phantom(tmp_path_factory.mktemp(f"jitter{variants}{seed}"), anatomy="realistic",
                        seed=seed, variants=variants, rows=192, n_slices=7)
    series = load_series(info.series_dir).series
    labels = np.asarray(nib.load(info.mask_path).dataobj)[:, :, info.slice]
    seeds = json.loads(info.seeds_path.read_text())
    return info, series, labels, seeds


def _with_points(seeds, points):
    doc = json.loads(json.dumps(seeds))
    for s in doc["seeds"]:
        if s["label"] in points:
            s["point"] = [float(v) for v in points[s["label"]]]
    return doc


def test_clicks_moved_4_mm_inside_their_bodies_change_the_vbq_by_under_3_percent(spine):
    info, series, _, seeds = spine
    geo = info.expected["geometry"]
    px = np.asarray(geo["pixel_spacing_mm"], dtype=float)
    base = score_roi_masks(series, rois_from_seeds(series, seeds)).vbq
    rng = np.random.default_rng(20240611)
    for _trial in range(3):
        points = {}
        for level in LEVEL_LABEL:
            angle = rng.uniform(0.0, 2.0 * np.pi)
            offset_mm = 4.0 * np.array([np.sin(angle), np.cos(angle)])
            points[level] = np.asarray(geo["levels"][level]["centre"]) + offset_mm / px
        vbq = score_roi_masks(series, rois_from_seeds(series, _with_points(seeds, points))).vbq
        assert abs(vbq / base - 1.0) < 0.03, (points, vbq, base)


@pytest.mark.parametrize("where", ["upper endplate", "disc above"])
def test_an_endplate_or_disc_click_is_moved_into_its_body_or_refused(spine, where):
    info, series, labels, seeds = spine
    geo = info.expected["geometry"]
    px = float(geo["pixel_spacing_mm"][0])
    l3 = geo["levels"]["L3"]
    centre = np.asarray(l3["centre"], dtype=float)
    if where == "upper endplate":
        point = np.asarray(l3["superior_endplate"]["centre"], dtype=float)
    else:  # 1.5 mm from the disc's middle towards L3: the disc's L3 side
        disc = np.asarray(geo["discs"]["L2-L3"]["centre"], dtype=float)
        step = (centre - disc) / np.linalg.norm(centre - disc)
        point = disc + step * 1.5 / px
    doc = _with_points(seeds, {"L3": point})
    try:
        rm = rois_from_seeds(series, doc)
    except BodyNotFoundError as err:
        assert "L3" in str(err)  # refused with a sentence naming the click
        return
    roi = rm.masks["L3"]
    assert roi.sum() >= 40 and np.all(labels[roi] == LEVEL_LABEL["L3"])
    assert any(w.code == "seed_moved" and "(L3)" in str(w) for w in rm.warnings)
