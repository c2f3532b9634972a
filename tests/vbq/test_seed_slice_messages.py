"""A click refused for its own slice says so, naming the seed and its slice.

Reference: the realistic phantom without variants (seed 3, 256 x 256 x 15), whose
clicks lie on slice 7 at the true body centres.
"""

import json

import pytest

from vbq.dicom import load_series
from vbq.errors import BodyNotFoundError, InputError
from vbq.phantom import make_phantom
from vbq.roi.proposal import propose


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("p") / "p", anatomy="realistic", seed=3,
                        variants="none", distractors=None)
    seeds = json.loads(info.seeds_path.read_text())
    seeds["seeds"] = [s for s in seeds["seeds"] if s["label"] in ("L1", "L2", "L3", "L4")]
    return load_series(info.series_dir).series, seeds


def _with_l3_slice(seeds, index):
    return dict(seeds, seeds=[dict(s, slice=index) if s["label"] == "L3" else s
                              for s in seeds["seeds"]])


def test_a_click_on_a_far_slice_is_refused_naming_its_slice(spine):
    """L3 clicked at its true centre on slice 0 (its own "slice"), 40 mm from the bodies'
    slice 7: refused, and the sentence names the slice the click lies on and the seed's
    "slice" to check (--slice does not move a seed that names its own slice)."""
    series, seeds = spine
    with pytest.raises(BodyNotFoundError) as err:
        propose(series, _with_l3_slice(seeds, 0), find_csf=False)
    msg = str(err.value)
    assert "seed 3 (L3) on slice 0" in msg
    assert 'check its "slice" (the click lies on slice 0, the other clicks on slice 7)' in msg
    assert "--slice" not in msg, msg


def test_a_seed_slice_outside_the_series_names_the_seed(spine):
    series, seeds = spine
    with pytest.raises(InputError) as err:
        propose(series, _with_l3_slice(seeds, 99), find_csf=False)
    msg = str(err.value)
    assert msg == 'seeds: seed 3 (L3): its "slice": slice 99 is outside the series (slices 0-14)'
