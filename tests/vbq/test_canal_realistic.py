"""The sac, the automatic CSF ROI and the mid-sagittal plane on realistic phantoms.

Every number is checked against the phantom's truth by construction: the
reference CSF ROI (``reference_rois.npz["CSF"]``) and the true mid-sagittal
plane (``expected.json["geometry"]["mid_sagittal"]``).
"""

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import CsfNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.canal import place_csf, trace_canal
from vbq.roi.labelmask import rois_from_mask
from vbq.roi.midline import midline_from_canal
from vbq.score import score_roi_masks

SEEDS = [(s, "random") for s in range(1, 9)] + [(s, "all") for s in (1, 5)]


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    out = []
    for seed, variants in SEEDS:
        info = make_phantom(tmp_path_factory.mktemp(f"{variants}{seed}"), anatomy="realistic",
                            seed=seed, variants=variants)
        series = load_series(info.series_dir).series
        out.append((info, series))
    return out


def _centres(info, levels=("T12", "L1", "L2", "L3", "L4", "L5")):
    geo = info.expected["geometry"]["levels"]
    return {lvl: geo[lvl]["centre"] for lvl in levels}


def test_csf_roi_mean_matches_the_reference_sac(phantoms):
    """Within 3 % of the reference CSF mean on most anatomies, never in fat or cord.

    ``benchmarks/roi_agreement.py`` on 240 anatomies (seeds 0-119 of both kinds):
    the clicks' CSF ROI mean was within 3 % of the reference in 236 (98 %); the
    share asserted on these ten is that less two binomial standard errors over
    ten (90 %): at least 9. The two largest errors there, 15.5 % and 10.5 %, were
    CSF ROIs moved to L2 (the sac at L3 too narrow, ``csf_fallback``); the next,
    3.9 %: no error here may exceed 8 %.
    """
    errors = []
    for info, series in phantoms:
        k = info.slice
        image = series.pixels(k).astype(float)
        placed = place_csf(image, series.slices[k].geometry, _centres(info))
        ref = info.expected["reference"]["csf"]["mean"]
        errors.append(float(image[placed.mask].mean()) / ref - 1.0)
        assert placed.level == "L3"
        # the reference sampled along the canal is the sac's CSF, not fat or cord
        assert abs(placed.reference[0] / ref - 1.0) < 0.10
        assert "thecal sac at L3, between its endplates" in placed.note
    errors = np.abs(errors)
    assert np.max(errors) < 0.08, errors
    assert np.sum(errors < 0.03) >= 9, errors


def test_midline_slice_is_the_true_one_or_its_neighbour(phantoms):
    found = []
    for info, series in phantoms:
        k = info.slice
        geo = info.expected["geometry"]
        track = trace_canal(series.pixels(k).astype(float), series.slices[k].geometry,
                            _centres(info, ("L1", "L2", "L3", "L4")))
        mid = midline_from_canal(series, track)
        offsets = geo["mid_sagittal"]["slice_offsets_mm"]
        found.append(abs(offsets[mid.slice_index]) < geo["slice_spacing_mm"])
        if mid.slice_index == k:
            assert abs(mid.offset_mm(k) - geo["mid_sagittal"]["offset_mm"]) < 3.0
    assert np.mean(found) >= 0.8, found


def test_mask_mode_fills_bodies_midline_and_csf_reference(phantoms):
    info, series = phantoms[0]
    rm = rois_from_mask(series, info.mask_path, labels="totalspineseg")
    assert rm.slice_index == info.slice
    assert set(rm.body_masks) >= {"L1", "L2", "L3", "L4"}
    for lvl in ("L1", "L2", "L3", "L4"):
        assert not (rm.masks[lvl] & ~rm.body_masks[lvl]).any()
    assert abs(rm.midline_offset_mm) < 3.0
    ref = info.expected["reference"]
    # the canal's median takes in the roots lying in the sac's middle third; the
    # reference CSF keeps every voxel 1 mm clear of them, so the median may sit above it
    assert -0.05 < rm.csf_reference[0] / ref["csf"]["mean"] - 1.0 < 0.15
    result = score_roi_masks(series, rm)
    assert abs(result.vbq / ref["vbq"] - 1.0) < 0.05


def test_no_bodies_no_canal_says_what_to_try(phantoms):
    info, series = phantoms[0]
    k = info.slice
    with pytest.raises(CsfNotFoundError, match="two or more levels"):
        place_csf(series.pixels(k).astype(float), series.slices[k].geometry,
                  _centres(info, ("L3",)))
