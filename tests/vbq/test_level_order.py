"""Levels labelled out of craniocaudal order are refused, from clicks and from masks.

Truth by construction: the realistic phantom's ``seeds.json`` clicks and
``mask.nii.gz`` labels (TotalSpineSeg numbering, L1 = 41 ... L4 = 44) lie in the
spine's order; swapping two of them puts an upper level below a lower one.
"""

import json

import nibabel as nib
import numpy as np
import pytest

import vbq
from vbq.errors import InputError
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("order"), anatomy="realistic", seed=3,
                        variants="random")


def test_swapped_clicks_are_refused_before_any_roi_is_placed(spine):
    doc = json.loads(spine.seeds_path.read_text())
    points = {s["label"]: s["point"] for s in doc["seeds"]}
    for s in doc["seeds"]:
        if s["label"] in ("L1", "L3"):
            s["point"] = points["L3" if s["label"] == "L1" else "L1"]
    with pytest.raises(InputError, match="the clicks: L1 lies .* below L2.*mislabelled") as err:
        vbq.score_series(spine.series_dir, seeds=doc)
    assert err.value.exit_code == 2


def test_swapped_mask_labels_are_refused(spine, tmp_path):
    img = nib.load(spine.mask_path)
    data = np.asarray(img.dataobj).copy()
    l1, l3 = data == 41, data == 43
    data[l1], data[l3] = 43, 41
    path = tmp_path / "swapped.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine, img.header), path)
    with pytest.raises(InputError, match="the label mask: L1 lies .* below L2.*mislabelled"):
        vbq.score_series(spine.series_dir, mask=path, labels="totalspineseg")


def test_the_phantoms_own_labels_score(spine):
    assert vbq.score_series(spine.series_dir, seeds=spine.seeds_path).vbq > 1.5
    assert vbq.score_series(spine.series_dir, mask=spine.mask_path,
                            labels="totalspineseg").vbq > 1.5
