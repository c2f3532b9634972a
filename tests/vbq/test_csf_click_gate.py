"""A CSF click in fat refused by gate (a) is named in the refusal.

Reference: the simple phantom, whose subcutaneous fat behind the spine is brighter
than the marrow on T1 (found from the image: the first column behind the CSF
click whose 9 x 9 mean is 1.3 times the marrow's).
"""

import json

import numpy as np
import pytest
from scipy import ndimage

from vbq import score_series
from vbq.errors import ImplausibleScoreError
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def fat_click(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("fat") / "p", n_slices=7, distractors=())
    seeds = json.loads(info.seeds_path.read_text())
    clean = score_series(info.series_dir, seeds=seeds)
    marrow = float(np.median([clean.image[clean.masks[lv]].mean() for lv in clean.used_levels]))
    row, col = next(s["point"] for s in seeds["seeds"] if s["label"] == "CSF")
    smooth = ndimage.uniform_filter(clean.image.astype(float), 9)
    r = int(round(row))
    behind = [c for c in range(int(col) + 20, smooth.shape[1]) if smooth[r, c] > 1.3 * marrow]
    assert behind, "no fat behind the canal"
    point = [float(row), float(behind[0] + 4)]
    return info, seeds, point


def test_a_csf_seed_in_fat_is_named_in_the_refusal(fat_click, tmp_path):
    info, seeds, point = fat_click
    doc = dict(seeds, seeds=[dict(s, point=point) if s["label"] == "CSF" else s
                             for s in seeds["seeds"]])
    path = tmp_path / "fat.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ImplausibleScoreError) as err:
        score_series(info.series_dir, seeds=path)
    assert "that the CSF ROI, placed from fat.json: seed 6 (CSF), lies in the CSF" in str(err.value)


def test_a_csf_point_in_fat_is_named_in_the_refusal(fat_click):
    info, seeds, point = fat_click
    bodies = dict(seeds, seeds=[s for s in seeds["seeds"] if s["label"] != "CSF"])
    with pytest.raises(ImplausibleScoreError) as err:
        score_series(info.series_dir, seeds=bodies, csf_point=point)
    assert (f"that the CSF ROI, placed from --csf-point {point[0]:g},{point[1]:g}, lies in "
            "the CSF") in str(err.value)
