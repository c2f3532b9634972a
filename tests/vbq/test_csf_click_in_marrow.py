"""A CSF click inside a vertebral body is refused, never grown into marrow; true CSF is not.

Truth by construction: the realistic phantom's ``expected.json["geometry"]`` gives
each body's centre; on T1 the marrow there is brighter than the CSF (the phantom's
marrow-to-CSF ratio is its VBQ).
"""

import json

import pytest

import vbq
from vbq.errors import AnalysisError, CsfNotFoundError
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("csfclick"), anatomy="realistic", seed=3,
                        variants="all")
    return info, json.loads(info.seeds_path.read_text())


def _with_csf_at(seeds, point):
    out = [s for s in seeds["seeds"] if s["label"] != "CSF"]
    out.append({"label": "CSF", "level": "L3", "point": [float(point[0]), float(point[1])]})
    return dict(seeds, seeds=out)


def test_a_csf_click_inside_a_body_is_refused(spine):
    info, seeds = spine
    centre = info.expected["geometry"]["levels"]["L3"]["centre"]
    with pytest.raises(CsfNotFoundError, match="inside the L3 vertebral body") as err:
        vbq.score_series(info.series_dir, seeds=_with_csf_at(seeds, centre))
    assert err.value.exit_code == 1


def test_a_csf_click_in_the_marrow_of_an_unclicked_body_gives_no_score(spine):
    """L5 is not clicked, so no body is found there: no CSF region grows from its marrow."""
    info, seeds = spine
    centre = info.expected["geometry"]["levels"]["L5"]["centre"]
    with pytest.raises(AnalysisError) as err:
        vbq.score_series(info.series_dir, seeds=_with_csf_at(seeds, centre))
    assert err.value.exit_code == 1


def test_a_true_csf_click_at_a_low_vbq_still_scores(tmp_path):
    """VBQ 1.2 by construction: the CSF is 0.83 of the marrow and still CSF; the score is
    given with the warning that it lies outside the published range, not refused."""
    info = make_phantom(tmp_path / "low", vbq=1.2, seed=1, anatomy="realistic",
                        distractors=())
    res = vbq.score_series(info.series_dir, seeds=info.seeds_path)
    assert res.vbq == pytest.approx(info.expected["reference"]["vbq"], rel=0.05)
    assert "vbq_outside_published_range" in res.warning_codes


def test_the_phantoms_own_csf_click_still_scores(spine):
    info, seeds = spine
    assert vbq.score_series(info.series_dir, seeds=seeds).vbq == pytest.approx(
        info.expected["reference"]["vbq"], rel=0.05)


def test_a_csf_point_inside_a_labelled_body_is_refused(spine):
    info, _ = spine
    centre = info.expected["geometry"]["levels"]["L3"]["centre"]
    with pytest.raises(CsfNotFoundError, match="inside the L3 vertebral body"):
        vbq.score_series(info.series_dir, mask=info.mask_path, labels="totalspineseg",
                         csf_point=centre)
