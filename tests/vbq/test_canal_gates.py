"""Drawn ROIs are checked against the sac traced along the canal.

The ``csf_in_fat`` phantom's ``rois.json`` puts the CSF ROI in the anterior
epidural fat (a fooled reader). Scored as drawn, it must be refused (gate (a):
CSF at or above marrow) or, when forced, carry gate (b) and gate (c) (the CSF
ROI brighter than the sac's CSF sampled along the canal): never a clean VBQ.
The same ROI files without the variant score cleanly, with the canal
reference equal to the phantom's CSF (truth by construction).
"""

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import ImplausibleScoreError
from vbq.phantom import make_phantom
from vbq.roi.rois import RoiFile
from vbq.score import score_roi_masks

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module", params=SEEDS)
def pair(request, tmp_path_factory):
    seed = request.param
    out = {}
    for variants in ("random", "random,csf_in_fat"):
        info = make_phantom(tmp_path_factory.mktemp(f"gate{seed}"), anatomy="realistic",
                            seed=seed, variants=variants)
        out[variants] = (info, load_series(info.series_dir).series)
    return out


def _masks(info, series):
    return RoiFile.from_json(info.series_dir.parent / "rois.json").masks(series)


def test_drawn_rois_carry_the_canal_reference(pair):
    info, series = pair["random"]
    rm = _masks(info, series)
    ref = info.expected["reference"]["csf"]["mean"]
    assert rm.csf_reference is not None
    assert abs(rm.csf_reference[0] / ref - 1.0) < 0.10
    # a drawn file names its slice, which is checked against the plane found from the anatomy
    truth = info.expected["geometry"]["mid_sagittal"]["offset_mm"]
    assert rm.midline_offset_mm == pytest.approx(truth, abs=0.25 * 4.4)
    result = score_roi_masks(series, rm)
    assert result.vbq == pytest.approx(info.expected["vbq"], rel=1e-9)
    assert "csf_roi_brighter_than_canal" not in result.warning_codes


def test_csf_in_epidural_fat_is_never_a_clean_vbq(pair):
    info, series = pair["random,csf_in_fat"]
    rm = _masks(info, series)
    with pytest.raises(ImplausibleScoreError, match="CSF ROI lies in the CSF"):
        score_roi_masks(series, rm)
    forced = score_roi_masks(series, rm, force=True)
    assert "csf_roi_brighter_than_canal" in forced.warning_codes
    assert "vbq_outside_published_range" in forced.warning_codes
    # the reference is the sac's CSF, not the fat the ROI was put in
    image = series.pixels(rm.slice_of("CSF")).astype(float)
    assert rm.csf_reference[0] < 0.5 * float(np.mean(image[rm.masks["CSF"]]))


def test_seeds_without_csf_seed_use_the_traced_sac(pair):
    from vbq.roi.seeds import rois_from_seeds

    info, series = pair["random"]
    geo = info.expected["geometry"]
    seeds = {"format": "vbq-seeds/1", "space": "pixel", "slice": info.slice,
             "seeds": [{"label": lvl, "point": geo["levels"][lvl]["centre"]}
                       for lvl in ("L1", "L2", "L3", "L4")]}
    rm = rois_from_seeds(series, seeds)
    assert rm.csf_level == "L3"
    assert any(w.code == "csf_from_image" and "thecal sac at L3, between its endplates" in str(w)
               for w in rm.warnings)
    ref = info.expected["reference"]["csf"]["mean"]
    assert abs(rm.csf_reference[0] / ref - 1.0) < 0.10
    image = series.pixels(rm.slice_of("CSF")).astype(float)
    # inside the reference sac's signal, not the cortex or fat beside it
    assert abs(float(image[rm.masks["CSF"]].mean()) / ref - 1.0) < 0.10
    assert abs(rm.midline_offset_mm - geo["mid_sagittal"]["offset_mm"]) \
        < geo["slice_spacing_mm"]
