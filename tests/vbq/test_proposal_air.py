"""A click in air or background is refused, alone or among good clicks.

Truth by construction: the simple phantom's background is noise of a few units and
its fat and marrow hundreds, so a 3 mm disc around the image's corner holds no body.
"""

import json

import numpy as np
import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import AIR_FRACTION, fit_body, propose


@pytest.fixture(scope="module")
def simple(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("air"), vbq=3.0, seed=1, distractors=())
    series = load_series(info.series_dir).series
    return info, series, json.loads(info.seeds_path.read_text())


def test_the_corner_is_air_by_construction(simple):
    info, series, _ = simple
    image = np.asarray(series.pixels(info.slice), dtype=float)
    assert np.median(image[:8, :8]) < AIR_FRACTION * np.percentile(image, 99)


@pytest.mark.parametrize("corner", [(3.0, 3.0), (250.0, 250.0)])
def test_one_click_in_air_is_refused(simple, corner):
    info, series, seeds = simple
    one = {**seeds, "seeds": [{"label": "L1", "point": list(corner)}]}
    with pytest.raises(BodyNotFoundError, match="air or background"):
        propose(series, one)
    with pytest.raises(BodyNotFoundError, match="air or background"):
        fit_body(series.pixels(info.slice), series.slices[info.slice].geometry, corner)


def test_a_click_in_air_among_good_clicks_is_refused(simple):
    _, series, seeds = simple
    bad = {**seeds, "seeds": [s if s["label"] != "L3" else {**s, "point": [3.0, 3.0]}
                              for s in seeds["seeds"]]}
    with pytest.raises(BodyNotFoundError, match=r"L3.*air or background"):
        propose(series, bad)


def test_good_clicks_are_not_taken_for_air(simple):
    _, series, seeds = simple
    labels = [r["label"] for r in propose(series, seeds).rois["rois"]]
    assert labels[:4] == ["L1", "L2", "L3", "L4"]


def test_the_advice_is_given_once_through_score_series(simple):
    import vbq

    info, _, seeds = simple
    bad = {**seeds, "seeds": [s if s["label"] != "L3" else {**s, "point": [3.0, 3.0]}
                              for s in seeds["seeds"]]}
    with pytest.raises(BodyNotFoundError) as err:
        vbq.score_series(info.series_dir, seeds=bad)
    text = str(err.value)
    assert text.count("--slice") == 1 and "move the seed" not in text, text
