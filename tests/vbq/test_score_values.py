"""score_values: the VBQ formula, exclusions, errors, and properties (hypothesis)."""

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vbq
from vbq.errors import AnalysisError, InputError
from vbq.score import score_values

VALUES = {"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131}


def test_design_example():
    r = vbq.score_values(VALUES)
    assert r.vbq == pytest.approx(((395 + 402) / 2) / 131, rel=1e-15)
    assert r.used_levels == ("L1", "L2", "L3", "L4") and r.csf.level == "L3"
    assert r.warnings == ()


def test_exclusion_changes_the_median_and_says_so():
    r = score_values(VALUES, exclude={"L2": "fracture"})
    assert r.vbq == pytest.approx(402 / 131, rel=1e-15)
    assert r.levels["L2"].used is False and r.levels["L2"].excluded == "fracture"
    assert any(c == "levels_excluded" and "excluded: L2 (fracture)" in w
               for c, w in zip(r.warning_codes, r.warnings, strict=True))
    assert score_values(VALUES, exclude=["L2=fracture"]).vbq == r.vbq
    assert score_values(VALUES, exclude="L2=fracture").vbq == r.vbq


def test_missing_level_and_fallback_csf_are_warnings():
    r = score_values({"L1": 400, "L3": 380, "L4": 420, "CSF": 100}, csf_level="L2")
    assert r.vbq == pytest.approx(4.0)
    assert r.warning_codes == ("csf_fallback", "level_not_measured")
    assert r.warnings == ("CSF measured at L2, a fallback: protocol lumbar prefers L3",
                          "not measured: L2")


def test_other_protocols():
    r = score_values({"S1": 500, "CSF": 125}, protocol="s1")
    assert r.vbq == pytest.approx(4.0)
    r = score_values({"C3": 1, "C4": 2, "C5": 3, "C6": 4, "CSF": 0.5}, protocol="cervical",
                     csf_level="C2")
    assert r.vbq == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": {**VALUES, "L9": 3}}, r"unknown label 'L9'"),
        ({"values": {**VALUES, "CSF": 0}}, r"CSF signal intensity is 0"),
        ({"values": {**VALUES, "CSF": -3}}, r"CSF signal intensity is -3"),
        ({"values": {"L1": 1, "L2": 2}}, r"no CSF signal intensity"),
        ({"values": {**VALUES, "L1": "x"}}, r"the value of L1 is 'x'"),
        ({"values": {**VALUES, "l1": 300}}, r"L1 is given twice \(as 'L1' and 'l1'\)"),
        ({"values": {**VALUES, " csf": 90}}, r"CSF is given twice"),
        ({"values": VALUES, "exclude": {"L5": "fracture"}}, r"cannot exclude L5"),
        ({"values": VALUES, "exclude": {"L2": "broken"}}, r"unknown exclusion reason"),
        ({"values": VALUES, "exclude": "L2"}, r"is not LEVEL=REASON"),
        ({"values": VALUES, "csf_level": "L5"}, r"does not allow"),
        ({"values": VALUES, "statistic": "mode"}, r"unknown statistic"),
    ],
)
def test_errors(kwargs, message):
    values = kwargs.pop("values")
    with pytest.raises(InputError, match=message):
        score_values(values, **kwargs)


si = st.floats(min_value=1.0, max_value=5000.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(si, min_size=4, max_size=4), si,
       st.floats(min_value=1e-3, max_value=1e3, allow_nan=False))
def test_global_intensity_scale_leaves_vbq_unchanged(levels, csf, scale):
    values = dict(zip(("L1", "L2", "L3", "L4"), levels, strict=True), CSF=csf)
    scaled = {k: v * scale for k, v in values.items()}
    # the arithmetic holds for any values: forced past the plausibility gate (VBQ <= 1)
    assert score_values(scaled, force=True).vbq == pytest.approx(
        score_values(values, force=True).vbq, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(si, min_size=4, max_size=4), si,
       st.sets(st.sampled_from(("L1", "L2", "L3", "L4")), max_size=4),
       st.sampled_from(("fracture", "hemangioma", "instrumentation", "schmorl_node",
                        "lesion", "other")))
def test_exclusions_change_the_median_as_specified(levels, csf, excluded, reason):
    values = dict(zip(("L1", "L2", "L3", "L4"), levels, strict=True), CSF=csf)
    exclude = dict.fromkeys(sorted(excluded), reason)
    kept = [v for k, v in values.items() if k != "CSF" and k not in exclude]
    if len(kept) < 2:
        with pytest.raises(AnalysisError, match="level\\(s\\) left"):
            score_values(values, exclude=exclude, force=True)
        return
    r = score_values(values, exclude=exclude, force=True)  # any values, VBQ <= 1 included
    assert r.vbq == pytest.approx(statistics.median(kept) / csf, rel=1e-12)
    assert set(r.used_levels) == {"L1", "L2", "L3", "L4"} - set(exclude)


def test_too_few_levels_is_an_analysis_failure():
    # well-formed values from which no score can be computed: exit 1, not 2
    with pytest.raises(AnalysisError, match=r"only 1 level\(s\) left \(L4\)") as info:
        score_values(VALUES, exclude={"L1": "fracture", "L2": "fracture", "L3": "other"})
    assert info.value.exit_code == 1


@pytest.mark.parametrize("csf", [5e-324, 1e-310])
def test_a_vbq_that_overflows_is_refused(csf):
    # 398.5 / 5e-324 overflows to inf: refused, never returned as a score
    with pytest.raises(AnalysisError, match="not a finite number"):
        score_values({**VALUES, "CSF": csf})


def test_signal_intensities_near_the_largest_double():
    # median(1.0e308, 1.2e308, 1.4e308, 1.6e308) = 1.3e308: (a + b) overflows, a/2 + b/2
    # does not; the quotient by CSF 1e300 is 1.3e8, exactly representable arithmetic aside
    values = {"L1": 1.0e308, "L2": 1.2e308, "L3": 1.4e308, "L4": 1.6e308, "CSF": 1e300}
    r = score_values(values)
    assert r.vbq == pytest.approx(1.3e8, rel=1e-15)
    # and with CSF 1: 1.3e308 is finite, so it is a (huge) score, not inf
    assert score_values({**values, "CSF": 1.0}).vbq == pytest.approx(1.3e308, rel=1e-15)
    # an even median whose mean really exceeds the largest double is refused
    with pytest.raises(AnalysisError, match="not a finite number"):
        score_values({**values, "CSF": 0.5})


@pytest.mark.parametrize(("value", "shown"), [
    (1e308, "1e+308"), (0, "0"), (-3.0, "-3"), (float("nan"), "nan"), (float("inf"), "inf"),
    pytest.param(10**400, "1e+400", id="huge-int"), (15000, "15000"), (0.049, "0.049"),
    (11.8, "11.8"), (True, "true"),
    ("3", '"3"'),
])
def test_a_field_strength_that_no_mri_scanner_has_is_refused(value, shown):
    with pytest.raises(InputError) as err:
        score_values(VALUES, field_strength_t=value)
    assert str(err.value) == (f"field_strength_t {shown} is not a plausible MRI field strength "
                              "(0.05 to 11.7 T)")


@pytest.mark.parametrize("value", [0.05, 0.064, 1.5, 3, 7.0, 11.7])
def test_field_strengths_of_real_scanners_are_taken(value):
    assert score_values(VALUES, field_strength_t=value).vbq == pytest.approx(398.5 / 131)
