"""VBQResult: result JSON, summary, QC on a values-only result; the cut-off table."""

from __future__ import annotations

import json
import math

import pytest

from vbq.cutoffs import Cutoff, compare_cutoffs, load_cutoffs
from vbq.errors import InputError
from vbq.score import score_values


def test_to_dict_for_values():
    r = score_values({"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131},
                     exclude={"L2": "fracture"})
    d = r.to_dict()
    assert d["vbq"] == pytest.approx(402 / 131)
    assert d["levels"]["L2"] == {"si": 395.0, "used": False, "excluded": "fracture"}
    assert d["levels"]["L1"] == {"si": 410.0, "used": True}
    assert d["csf"] == {"level": "L3", "si": 131.0, "n_pixels": None}
    assert d["slice"] == {"index": None, "sop_instance_uid": None}
    assert d["series"] is None and d["roi_source"] == "values"
    assert json.loads(r.to_json()) == d
    assert "VBQ 3.069" in r.summary() and "excluded (fracture)" in r.summary()


def test_values_result_has_no_qc_image():
    r = score_values({"L1": 1, "L2": 2, "CSF": 1})
    with pytest.raises(InputError, match="no image"):
        r.plot_qc()


def test_result_is_frozen():
    r = score_values({"L1": 1, "L2": 2, "CSF": 1})
    with pytest.raises(AttributeError):
        r.vbq = 2.0  # type: ignore[misc]


def test_cutoff_table_rows_have_sources():
    rows = load_cutoffs()
    ids = {c.id for c in rows}
    assert {"ehresman2020_low_bmd", "kadri2025_secondary_fracture"} <= ids
    for c in rows:
        assert c.doi.startswith("10."), c.id
        assert c.protocol in ("lumbar", "s1")
        assert c.value is None or 1.0 < c.value < 6.0
        for p in (c.auc, c.sensitivity, c.specificity):
            assert p is None or 0.0 < p <= 1.0
    kadri = next(c for c in rows if c.id == "kadri2025_secondary_fracture")
    assert kadri.value == 3.0 and kadri.sensitivity == 0.85 and kadri.n == 60


def test_cutoff_comparison_is_at_or_above():
    at = {c["id"]: c["above"] for c in compare_cutoffs(3.0, "lumbar")}
    assert at["kadri2025_secondary_fracture"] is True
    below = {c["id"]: c["above"] for c in compare_cutoffs(2.99, "lumbar")}
    assert below["kadri2025_secondary_fracture"] is False
    assert "ehresman2020_low_bmd" not in at  # no threshold value: never compared
    assert compare_cutoffs(3.0, "cervical") == ()
    assert [c["id"] for c in compare_cutoffs(3.5, "s1")] == ["wang2024_s1_fragility_fracture"]


def test_cutoff_field_strength_applicability():
    c = Cutoff("x", "lumbar", 3.0, "t", "r", None, None, None, None, "p", 3.0, "A", 2024,
               "A 2024", "10.1/x", "")
    assert c.applies_to("lumbar", 3.0) and c.applies_to("lumbar", None)
    assert not c.applies_to("lumbar", 1.5) and not c.applies_to("thoracic", 3.0)
    c15 = Cutoff("y", "lumbar", 3.0, "t", "r", None, None, None, None, "p", None, "A", 2024,
                 "A 2024", "10.1/y", "")
    assert c15.applies_to("lumbar", 1.5)


def test_nan_becomes_null_in_json():
    from vbq.measure import Measurement
    from vbq.result import LevelResult

    lv = LevelResult("L1", 5.0, True, measurement=Measurement(1, 0.5, 5.0, 5.0, math.nan,
                                                                0.0, 5.0, 5.0))
    assert lv.to_dict()["sd"] is None
