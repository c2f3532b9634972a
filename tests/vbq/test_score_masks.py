"""score_roi_masks on in-memory series: warnings, derived ROIs, per-ROI slices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rois_support import make_series

from vbq.errors import InputError
from vbq.roi import RoiMasks
from vbq.roi.shapes import ellipse_mask, rectangle_mask
from vbq.score import score_roi_masks

SHAPE = (60, 40)


def image_stack():
    img = np.full((3, *SHAPE), 50.0)
    img[1, 5:15, 5:15] = 400.0   # L1
    img[1, 20:30, 5:15] = 300.0  # L2
    img[1, 35:45, 5:15] = 500.0  # L3
    img[1, 48:58, 5:15] = 200.0  # L4
    img[1, 30:45, 25:30] = 100.0  # CSF
    return img


def masks(**extra):
    base = {
        "L1": rectangle_mask(SHAPE, (6, 6), (8, 8)),
        "L2": rectangle_mask(SHAPE, (21, 6), (8, 8)),
        "L3": rectangle_mask(SHAPE, (36, 6), (8, 8)),
        "L4": rectangle_mask(SHAPE, (49, 6), (8, 8)),
        "CSF": rectangle_mask(SHAPE, (32, 26), (10, 3)),
    }
    base.update(extra)
    return base


def test_derived_masks_score_and_draw(tmp_path):
    s = make_series(image_stack())
    rm = RoiMasks(slice_index=1, masks=masks(), csf_level="L3", source="mask")
    r = score_roi_masks(s, rm)
    # median(400, 300, 500, 200) = 350; CSF 100
    assert r.vbq == pytest.approx(3.5, rel=1e-12)
    assert r.roi_source == "mask" and r.outlines is None
    ax = r.plot_qc()
    assert len(ax.collections) >= 5  # one contour set per ROI
    for suffix in (".png", ".pdf", ".svg"):
        path = r.save_qc(tmp_path / f"qc{suffix}")
        assert path.stat().st_size > 1000


def test_warnings_small_roi_edge_fallback_and_other_level():
    s = make_series(image_stack())
    m = masks(L1=ellipse_mask(SHAPE, (10, 10), (1.5, 1.5)),
              L5=rectangle_mask(SHAPE, (57, 20), (3, 3)))   # below L4, at the bottom edge
    r = score_roi_masks(s, RoiMasks(1, m, csf_level="L2"), extra_warnings=("from the series",))
    assert len(r.warning_codes) == len(r.warnings)
    w = list(zip(r.warning_codes, r.warnings, strict=True))
    assert w[0] == ("other", "from the series")
    assert ("roi_small", "ROI L1 has only 9 pixels (fewer than 20)") in w
    assert ("roi_small", "ROI L5 has only 9 pixels (fewer than 20)") in w
    assert ("roi_at_edge", "ROI L5 touches the image edge") in w
    assert ("csf_fallback", "CSF measured at L2, a fallback: protocol lumbar prefers L3") in w
    assert ("not_a_protocol_level",
            "ROI L5 is not a level of protocol lumbar; measured but not used") in w
    assert "L5" in r.other_rois and "L5" not in r.levels


def test_exclusions_from_file_and_caller_merge():
    s = make_series(image_stack())
    rm = RoiMasks(1, masks(), csf_level="L3", excluded={"L1": "fracture"})
    r = score_roi_masks(s, rm, exclude={"L4": "instrumentation"})
    assert r.excluded == {"L1": "fracture", "L4": "instrumentation"}
    assert r.vbq == pytest.approx(400.0 / 100.0)  # median(300, 500)


def test_roi_on_another_slice_is_measured_there():
    img = image_stack()
    img[2, 5:15, 5:15] = 1000.0
    s = make_series(img)
    rm = RoiMasks(1, masks(), csf_level="L3", slices={"L1": 2})
    r = score_roi_masks(s, rm)
    assert r.levels["L1"].si == 1000.0 and r.levels["L1"].slice_index == 2
    assert r.vbq == pytest.approx(4.0)  # median(1000, 300, 500, 200) = 400
    d = r.to_dict()  # the JSON says which level was measured on another slice
    assert d["slice"]["index"] == 1 and d["levels"]["L1"]["slice_index"] == 2
    assert "slice_index" not in d["levels"]["L2"] and "slice_index" not in d["csf"]
    r = score_roi_masks(s, RoiMasks(1, masks(), csf_level="L3", slices={"CSF": 0}))
    d = r.to_dict()
    assert d["csf"]["slice_index"] == 0 and d["csf"]["si"] == 50.0
    assert not any("slice_index" in v for v in d["levels"].values())


def test_errors():
    s = make_series(image_stack())
    m = masks()
    del m["CSF"]
    with pytest.raises(InputError, match="no CSF ROI"):
        score_roi_masks(s, RoiMasks(1, m))
    with pytest.raises(InputError, match="ROI L2 has no pixels"):
        score_roi_masks(s, RoiMasks(1, masks(L2=np.zeros(SHAPE, bool)), csf_level="L3"))
    with pytest.raises(InputError, match="unknown label"):
        score_roi_masks(s, RoiMasks(1, masks(L9=np.ones(SHAPE, bool)), csf_level="L3"))
    with pytest.raises(InputError, match="does not match the image"):
        score_roi_masks(s, RoiMasks(1, masks(L2=np.ones((3, 3), bool)), csf_level="L3"))
    with pytest.raises(InputError, match="does not allow"):
        score_roi_masks(s, RoiMasks(1, masks(), csf_level="L5"))


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e3, allow_nan=False),
       st.integers(min_value=0, max_value=2**31 - 1))
def test_global_intensity_scale_leaves_image_vbq_unchanged(scale, seed):
    rng = np.random.default_rng(seed)
    img = image_stack() * rng.uniform(0.8, 1.2, size=(3, *SHAPE))
    rm = RoiMasks(1, masks(), csf_level="L3")
    base = score_roi_masks(make_series(img), rm)
    scaled = score_roi_masks(make_series(img * scale), rm)
    assert scaled.vbq == pytest.approx(base.vbq, rel=1e-12)
    for stat in ("mean", "median"):
        a = score_roi_masks(make_series(img), rm, statistic=stat).vbq
        b = score_roi_masks(make_series(img * scale), rm, statistic=stat).vbq
        assert b == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("swap", [("L1", "L3"), ("L2", "L3"), ("L1", "L4")])
def test_levels_out_of_craniocaudal_order_are_refused(swap):
    """Labels swapped between two bodies (L1 drawn below L3) are refused.

    The sentence names the first pair out of order: the upper level of the swap
    and the first level it now lies below.
    """
    m = masks()
    a, b = swap
    m[a], m[b] = m[b], m[a]
    with pytest.raises(InputError, match=rf"{a} lies \d+ mm below L\d.*mislabelled") as err:
        score_roi_masks(make_series(image_stack()), RoiMasks(1, m, csf_level="L3"))
    assert err.value.exit_code == 2
