"""A file whose meta header holds a value representation nobody knows is skipped, named.

By construction: the two bytes of the VR of (0002,0002) MediaStorageSOPClassUID are
overwritten with ``0x55 0x0C``, which is no DICOM VR; pydicom cannot decode that
element. Such a file is damaged DICOM: skipped with a warning naming it, never an
internal error, and the series beside it still scores.
"""

import shutil

import pytest

import vbq
from vbq.dicom import index_folder
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    root = tmp_path_factory.mktemp("meta")
    info = make_phantom(root / "ph", n_slices=5, rows=64, distractors=())
    folder = root / "series"
    shutil.copytree(info.series_dir, folder)
    src = sorted(folder.rglob("*.dcm"))[0].read_bytes()
    at = src.index(b"\x02\x00\x02\x00UI")
    bad = bytearray(src)
    bad[at + 4:at + 6] = b"\x55\x0c"
    (folder / "damaged.dcm").write_bytes(bytes(bad))
    return info, folder


def test_index_skips_it_with_its_name(damaged):
    _, folder = damaged
    index = index_folder(folder)
    whys = [why for path, why, _uid in index.lost if path.name == "damaged.dcm"]
    assert len(whys) == 1 and whys[0].startswith("is truncated or corrupt (")


def test_the_series_beside_it_still_scores(damaged):
    info, folder = damaged
    res = vbq.score_series(folder, rois=info.rois_patient_path)
    assert res.vbq == pytest.approx(info.expected["vbq"], rel=1e-9)
    assert any("damaged.dcm" in w for w in res.warnings)
