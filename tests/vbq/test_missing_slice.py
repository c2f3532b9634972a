"""A slice file missing from the folder: slice indexes past it would name the next slice.

Truth by construction: the phantom's slices are evenly spaced (``expected.json``
``slice`` names the measured one by index); deleting one file below it shifts every
later index by one, so an index-based ROI file would be measured one slice off.
Patient-space ROIs do not depend on the numbering and still give the phantom's VBQ.
"""

import json
import shutil

import pydicom
import pytest

import vbq
from vbq.errors import InputError
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("gap"), distractors=())
    folder = info.series_dir.parent / "with_gap"
    shutil.copytree(info.series_dir, folder)
    measured = json.loads(info.expected_path.read_text())["sop_instance_uid"]
    files = sorted(folder.rglob("*.dcm"))
    by_pos = sorted(files, key=lambda f: float(pydicom.dcmread(
        f, stop_before_pixels=True).ImagePositionPatient[0]))
    victim = next(f for f in by_pos[1:-1] if pydicom.dcmread(
        f, stop_before_pixels=True).SOPInstanceUID != measured)
    victim.unlink()
    return info, folder


def test_an_index_based_roi_file_is_refused(gap):
    info, folder = gap
    with pytest.raises(InputError, match="slice positions jump by .* a slice file may be "
                                         "missing") as err:
        vbq.score_series(folder, rois=info.rois_path)
    assert err.value.exit_code == 2


def test_patient_space_rois_still_score_with_a_warning(gap):
    info, folder = gap
    res = vbq.score_series(folder, rois=info.rois_patient_path)
    assert res.vbq == pytest.approx(info.expected["vbq"], rel=1e-9)
    assert "slice_indexes_unsafe" in res.warning_codes


def test_a_whole_series_has_no_gap_warning(gap):
    info, _ = gap
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert "slice_indexes_unsafe" not in res.warning_codes


@pytest.mark.parametrize("positions, gap", [
    ((0.0, 4.0, 12.0), True),            # three slices left of four: the doubled step shows
    ((0.0, 4.0, 8.0), False),
    ((0.0, 4.0, 8.0, 16.0, 20.0), True),
    ((0.0, 4.1, 8.0, 12.2, 16.0), False),   # rounding of positions is no gap
    ((0.0, 4.0), False),                  # two slices: nothing to compare
])
def test_position_gap_by_hand(positions, gap):
    from types import SimpleNamespace

    from vbq.dicom.choice import _position_gap

    series = SimpleNamespace(slices=[SimpleNamespace(position=p) for p in positions])
    assert (_position_gap(series) is not None) == gap
