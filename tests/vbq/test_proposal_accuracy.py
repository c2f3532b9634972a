"""Accuracy of click-to-ellipse proposals on realistic phantoms, against their reference.

Reference: ``expected.json["reference"]`` of :func:`vbq.phantom.make_phantom` with
``anatomy="realistic"``: each level's true body on the written mid slice eroded by
3 mm, less the basivertebral vein and focal lesions (fixed by construction, before
the engine). Seeds are the phantom's ``seeds.json`` (the true body centres).

Measured on 40 anatomies (seeds 0-19 x variants ``random`` and ``all``, 192 rows,
7 slices): the median of the L1-L4 ROI means was within 3 % of the reference median
in 35/40 (88 %, binomial standard error 5.2 %), none refused. The share asserted
below is the measured 88 % less two standard errors (77 %) on the six anatomies
checked here: at least 4 of 6. (At the benchmark's 256 rows and 15 slices,
``benchmarks/roi_agreement.py``, 151/160 with seeds 0-79; coarser pixels blur the
focal structures the ellipse must avoid.)
"""

import json

import nibabel as nib
import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose
from vbq.roi.rois import RoiFile

LEVEL_LABEL = {"L1": 41, "L2": 42, "L3": 43, "L4": 44}
CASES = [(seed, variants) for seed in (10, 11, 12) for variants in ("random", "all")]


def _measure(tmp_path, seed, variants):
    info = make_phantom(tmp_path / f"{variants}{seed}", anatomy="realistic", seed=seed,
                        variants=variants, rows=192, n_slices=7)
    series = load_series(info.series_dir).series
    labels = np.asarray(nib.load(info.mask_path).dataobj)[:, :, info.slice]
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    ref = np.median([info.expected["reference"]["levels"][lv]["mean"] for lv in LEVEL_LABEL])
    try:
        prop = propose(series, seeds, find_csf=False)
    except BodyNotFoundError:
        return None, True
    img = series.pixels(info.slice).astype(float)
    rm = RoiFile.from_json(prop.rois).masks(series)
    inside = all(np.all(labels[rm.masks[lv]] == lab) for lv, lab in LEVEL_LABEL.items())
    got = np.median([img[rm.masks[lv]].mean() for lv in LEVEL_LABEL])
    return got / ref - 1.0, inside


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("accuracy")
    return {case: _measure(root, *case) for case in CASES}


def test_share_within_three_percent_of_the_reference(measured):
    within = [err is not None and abs(err) < 0.03 for err, _ in measured.values()]
    assert sum(within) >= 4, measured


def test_no_anatomy_is_refused(measured):
    """None of the 40 measured anatomies was refused: clicks at the true centres always fit."""
    assert all(err is not None for err, _ in measured.values()), measured


def test_every_ellipse_lies_in_its_own_body(measured):
    for case, (err, inside) in measured.items():
        assert err is None or inside, case


def test_borders_are_the_cortex_and_endplates_not_marrow_texture(tmp_path):
    """Seed 6, every variant: heterogeneous marrow and Modic zones once cut L3 to 12 mm.

    Truth: ``expected.json["geometry"]`` height and depth less twice the cortex (the
    inner edges). An edge found at the blurred step of a cortex may lie up to two
    pixels inside it on each side, never outside.
    """
    info = make_phantom(tmp_path, anatomy="realistic", seed=6, variants="all", rows=192,
                        n_slices=7)
    series = load_series(info.series_dir).series
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    prop = propose(series, seeds, find_csf=False)
    geo = info.expected["geometry"]
    px = geo["pixel_spacing_mm"][0]
    for level in LEVEL_LABEL:
        g, body = geo["levels"][level], prop.bodies[level]
        for found, true in ((body.height_mm, g["height_mm"]), (body.depth_mm, g["depth_mm"])):
            inner = true - 2.0 * g["cortex_mm"]
            assert inner - 4.0 * px <= found <= inner + px, (level, found, inner)
