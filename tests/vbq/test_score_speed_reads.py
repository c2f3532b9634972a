"""Scoring a ROI file reads whole only the slices it measures; the plane search reads boxes.

References: :meth:`SeriesInfo.pixels` (the whole slice, decoded as before) and
pydicom's ``pixel_array`` with the file's rescale: a box read from the file must
hold exactly the values of that box of the whole slice, and a slice that cannot
be read must fail with the same sentence. The counts of whole-slice decodes are
what the speed work is about (every slice was decoded whole for the mid-sagittal
plane before).
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import vbq
from vbq.dicom import load_series
from vbq.dicom import pixels as dicom_pixels
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.roi.canal import trace_canal
from vbq.roi.midline import level_centres, midline_from_canal
from vbq.roi.rois import RoiFile

BOXES = [
    (slice(10, 17), slice(20, 27)),      # inside
    (slice(0, 5), slice(0, 96)),         # whole rows at the top edge
    (slice(90, 200), slice(-3 + 96, 300)),  # cut by the bottom and right edges
    (slice(40, 40), slice(3, 9)),        # no row
    (slice(5, 6), slice(95, 96)),        # one pixel
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("small"), rows=96, n_slices=5,
                        distractors="none", rescale_slope=0.5, rescale_intercept=1.5)


def _counting(monkeypatch, name):
    calls = []
    real = getattr(dicom_pixels, name)

    def counting(sl, *args):
        calls.append(sl.path)
        return real(sl, *args)

    monkeypatch.setattr(dicom_pixels, name, counting)
    return calls


@pytest.mark.parametrize("pread", [True, False])
def test_boxes_hold_the_values_of_the_whole_slice(small, monkeypatch, pread):
    if not pread:  # systems without positioned reads seek and read
        import os

        monkeypatch.delattr(os, "pread", raising=False)
    s = load_series(small.series_dir).series
    fresh = load_series(small.series_dir).series
    for k in range(len(s)):
        got = fresh.pixel_boxes(k, BOXES)
        whole = s.pixels(k)
        ref = pydicom.dcmread(s.slices[k].path).pixel_array * 0.5 + 1.5
        for box, v in zip(BOXES, got, strict=True):
            assert v.dtype == np.float64 and v.shape == whole[box].shape
            np.testing.assert_array_equal(v, whole[box])
            np.testing.assert_array_equal(v, ref[box])
    assert fresh._cache == {}  # boxes are not kept as whole slices


def test_boxes_of_12_bit_signed_and_multiframe_data(small, tmp_path):
    ds = pydicom.dcmread(small.files["t1"][1])
    stored = ds.pixel_array.astype(np.int32)
    ds.BitsStored, ds.HighBit = 12, 11  # garbage in the unused high bits
    ds.PixelData = (stored.astype(np.uint16) | 0xF000).tobytes()
    (tmp_path / "u").mkdir()
    ds.save_as(tmp_path / "u" / "a.dcm")
    ds2 = pydicom.dcmread(small.files["t1"][1])
    ds2.PixelRepresentation, ds2.BitsStored, ds2.HighBit = 1, 12, 11
    ds2.PixelData = ((stored - 200).astype(np.int16) & 0x0FFF | 0x5000).astype(
        np.uint16).tobytes()
    (tmp_path / "s").mkdir()
    ds2.save_as(tmp_path / "s" / "b.dcm")
    for folder, want in (("u", stored & 0x0FFF), ("s", stored - 200)):
        s = load_series(tmp_path / folder).series
        for box, v in zip(BOXES, s.pixel_boxes(0, BOXES), strict=True):
            np.testing.assert_array_equal(v, want[box] * 0.5 + 1.5)
    enh = make_phantom(tmp_path / "enh", rows=64, n_slices=4, distractors="none",
                       enhanced=True, rescale_slope=2.0, rescale_intercept=-3.0)
    s = load_series(enh.series_dir).series
    whole = load_series(enh.series_dir).series
    for k in range(len(s)):
        for box, v in zip(BOXES, s.pixel_boxes(k, BOXES), strict=True):
            np.testing.assert_array_equal(v, whole.pixels(k)[box])


def test_a_file_cut_short_after_indexing_fails_as_the_whole_slice_does(small, tmp_path):
    import shutil

    folder = tmp_path / "cut"
    shutil.copytree(small.series_dir, folder)
    s = load_series(folder).series
    path = s.slices[2].path
    path.write_bytes(path.read_bytes()[:-700])   # the last rows only
    with pytest.raises(InputError) as whole:
        load_series(folder).series  # noqa: B018 - indexing notes it, so use the old index
        s.pixels(2)
    with pytest.raises(InputError) as boxed:
        s.pixel_boxes(2, [(slice(0, 3), slice(0, 3))])   # rows the file still holds
    assert str(boxed.value) == str(whole.value)
    assert "is truncated" in str(boxed.value)


def test_compressed_slices_are_decoded_whole(tmp_path):
    info = make_phantom(tmp_path / "rle", rows=64, n_slices=3, distractors="none",
                        compress="rle")
    s = load_series(info.series_dir).series
    assert s.pixel_boxes(1, BOXES[:1])[0].shape == (7, 7)
    assert set(s._cache) == {1}  # decoded whole (and kept), as pixels() does


@pytest.mark.parametrize("anatomy", ["simple", "realistic"])
def test_score_decodes_whole_only_the_measured_slice(tmp_path, monkeypatch, anatomy):
    info = make_phantom(tmp_path / "ph", rows=128, n_slices=9, distractors="none",
                        anatomy=anatomy, seed=2)
    decoded = _counting(monkeypatch, "decode")
    boxed = _counting(monkeypatch, "read_native_boxes")
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert res.to_dict()["slice"]["midline_offset_mm"] is not None
    assert decoded == [info.files["t1"][res.slice_index]]
    # the mid-sagittal plane search read every other slice in boxes (once from the
    # bodies, and once more from the sac when the bodies cannot be followed)
    assert set(boxed) == {p for p in info.files["t1"] if p != decoded[0]}
    assert max(boxed.count(p) for p in boxed) <= 2


def test_plane_from_the_sac_reads_boxes(tmp_path, monkeypatch):
    info = make_phantom(tmp_path / "ph", rows=128, n_slices=9, distractors="none",
                        anatomy="realistic", seed=1, variants="all")
    s = load_series(info.series_dir).series
    rm = RoiFile.from_json(info.rois_path).masks(s)
    k = rm.slices["CSF"]
    track = trace_canal(s.pixels(k), s.slices[k].geometry,
                        level_centres({lvl: m for lvl, m in rm.masks.items()
                                       if rm.slices[lvl] == k}))
    fresh = load_series(info.series_dir).series
    fresh.pixels(k)
    decoded = _counting(monkeypatch, "decode")
    plane = midline_from_canal(fresh, track)
    assert plane == midline_from_canal(s, track)  # every slice whole (now cached in s)
    # the first slice with structure from the middle out checks the window, whole
    assert len(decoded) <= 1
    assert set(fresh._cache) <= {k, len(s) // 2}
