"""The series index and pixel reader on the DICOM files that ship with pydicom.

Reference: pydicom itself. pydicom's test files come from many vendors and
encodings (implicit VR, big endian, deflate, JPEG, JPEG-LS, JPEG 2000, RLE,
odd private sequences). For every file that pydicom reads as a single-frame
image with a position, our own header reader must place it, and our pixels
must equal pydicom's ``pixel_array`` with the modality rescale applied.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from vbq.dicom import index_folder

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _reference(path: Path) -> np.ndarray | None:
    """pydicom's rescaled pixels, or None when pydicom cannot give a 2-D image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            if str(ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1.481"):
                return None  # radiotherapy objects are not images to score
            if "ImagePositionPatient" not in ds or "PixelSpacing" not in ds:
                return None
            if int(ds.get("NumberOfFrames", 1) or 1) != 1 or int(ds.get("SamplesPerPixel", 1)) != 1:
                return None
            arr = ds.pixel_array.astype(np.float64)
    except Exception:
        return None
    return arr * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)


def _candidates() -> list[Path]:
    return sorted(p for p in TEST_FILES.glob("*") if p.is_file() and _reference(p) is not None)


#: pydicom's files whose native pixel data are longer than Rows x Columns x BitsAllocated
#: allow (non-conformant trailing bytes, PS3.5 8.1.1): the reader refuses them, because
#: a wrong Rows or Columns gives the same length and misaligned pixels.
LONGER_THAN_HEADER = {"MR_small_padded.dcm"}
CANDIDATES = [p for p in _candidates() if p.name not in LONGER_THAN_HEADER]


def test_there_are_files_to_check():
    assert len(CANDIDATES) >= 10


@pytest.mark.parametrize("path", CANDIDATES, ids=lambda p: p.name)
def test_pixels_equal_pydicom(path, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(path, folder / "image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = index_folder(folder)
    assert len(index.series) == 1, index.skipped
    series = index.series[0]
    assert len(series.slices) == 1
    np.testing.assert_allclose(series.pixels(0), _reference(path), rtol=0, atol=1e-9)


def test_deflated_image_is_read(tmp_path):
    ds = pydicom.dcmread(TEST_FILES / "MR_small.dcm")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    index = index_folder(tmp_path)
    assert not index.skipped and len(index.series) == 1
    expected = _reference(TEST_FILES / "MR_small.dcm")
    np.testing.assert_array_equal(index.series[0].pixels(0), expected)


def test_deflated_file_without_position_is_explained(tmp_path):
    from vbq.errors import InputError

    shutil.copy(TEST_FILES / "image_dfl.dcm", tmp_path / "x.dcm")
    with pytest.raises(InputError, match="no ImagePositionPatient"):
        index_folder(tmp_path)


def test_image_header_without_pixels_is_not_called_truncated(tmp_path):
    src = TEST_FILES / "dicomdirtests" / "TINY_ALPHA" / "PT000000" / "ST000000" / "SE000000"
    shutil.copy(next(p for p in sorted(src.iterdir()) if p.is_file()), tmp_path / "x")
    shutil.copy(TEST_FILES / "MR_small.dcm", tmp_path / "good.dcm")
    index = index_folder(tmp_path)
    reasons = [why for _, why in index.skipped]
    assert reasons and "no pixel data" in reasons[0]


@pytest.mark.parametrize("name", sorted(LONGER_THAN_HEADER))
def test_pixel_data_longer_than_the_header_says_is_refused(name, tmp_path):
    from vbq.errors import InputError

    ds = pydicom.dcmread(TEST_FILES / name)
    need = ds.Rows * ds.Columns * ds.BitsAllocated // 8  # the hand-computed length
    assert len(ds.PixelData) > need + 1  # what makes the file non-conformant
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(TEST_FILES / name, folder / "image")
    series = index_folder(folder).series[0]
    with pytest.raises(InputError) as err:
        series.pixels(0)
    assert str(folder / "image") in str(err.value)
    assert f"has {len(ds.PixelData)} bytes of pixel data" in str(err.value)
    assert f"need {need}" in str(err.value)
