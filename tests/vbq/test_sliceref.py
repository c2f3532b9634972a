"""One slice reference, read one way by every input: files, masks, seeds, manifests, Python.

References: the phantom's ``expected.json`` names the slice its ROIs are drawn
on (by index and by SOP Instance UID), so every form of reference must land on
that slice; the error sentences are the ones the ROI file has always given.
"""

from __future__ import annotations

import json

import pytest

import vbq
from vbq.batch import read_manifest, run_batch
from vbq.dicom import SliceRef, load_series
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.roi.labelmask import rois_from_mask
from vbq.roi.rois import RoiFile
from vbq.roi.seeds import SeedFile, rois_from_seeds


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    info = make_phantom(tmp_path_factory.mktemp("sliceref"), n_slices=7, distractors=())
    expected = json.loads(info.expected_path.read_text())
    return {"info": info, "expected": expected, "series": load_series(info.series_dir).series}


@pytest.mark.parametrize(("value", "ref"), [
    (3, SliceRef(index=3)),
    ("3", SliceRef(index=3)),
    (" 12 ", SliceRef(index=12)),
    ("1.2.3", SliceRef(uid="1.2.3")),
    ({"sop_instance_uid": "1.2.3"}, SliceRef(uid="1.2.3")),
    ({"sop_instance_uid": " 1.2.3 ", "frame": 2}, SliceRef(uid="1.2.3", frame=2)),
    (SliceRef(index=1), SliceRef(index=1)),
])
def test_parse(value, ref):
    assert SliceRef.parse(value, "here") == ref


@pytest.mark.parametrize(("value", "message"), [
    (-1, "here: slice must be a 0-based index >= 0, got -1"),
    ("5", 'here: slice must be a 0-based index or {"sop_instance_uid": "..."}, got "5"'),
    (True, 'here: slice must be a 0-based index or {"sop_instance_uid": "..."}, got true'),
    ({"sop_instance_uid": "1.2", "x": 1}, 'here: unknown key "x" in slice'),
    ({"sop_instance_uid": "", "frame": 1},
     'here: slice needs a "sop_instance_uid" string next to "frame"'),
    ({"sop_instance_uid": "1.2", "frame": 0},
     'here: slice "frame" must be a frame number >= 1 (1-based, as in DICOM), got 0'),
])
def test_file_values_refused_with_one_sentence(value, message):
    with pytest.raises(InputError) as err:
        SliceRef.parse(value, "here", in_file=True)
    assert str(err.value) == message


@pytest.mark.parametrize(("slice_value", "message"), [
    (-2, "seeds: slice must be a 0-based index >= 0, got -2"),
    ({"sop_instance_uid": "1.2", "note": "x"}, 'seeds: unknown key "note" in slice'),
])
def test_seed_files_read_the_slice_as_roi_files_do(slice_value, message):
    seeds = {"format": "vbq-seeds/1", "slice": slice_value,
             "seeds": [{"label": "L1", "point": [5, 5]}]}
    rois = {"format": "vbq-rois/1", "slice": slice_value,
            "rois": [{"label": "L1", "shape": "circle", "center": [5, 5], "radius": 2}]}
    with pytest.raises(InputError) as seed_err:
        SeedFile.from_json(seeds)
    with pytest.raises(InputError) as roi_err:
        RoiFile.from_json(rois)
    assert str(seed_err.value) == message
    assert str(roi_err.value) == message.replace("seeds:", "rois:")


def test_every_source_lands_on_the_same_slice(phantom, tmp_path):
    series, k = phantom["series"], phantom["expected"]["slice"]
    uid = series.slices[k].sop_instance_uid
    info = phantom["info"]
    forms = (k, str(k), uid, {"sop_instance_uid": uid}, SliceRef(uid=uid))
    roi_file = RoiFile.from_json(info.rois_path)
    for form in forms:
        assert roi_file.masks(series, slice=form).slice_index == k, form
        assert rois_from_mask(series, info.mask_path, "totalspineseg",
                              slice=form).slice_index == k, form
        assert rois_from_seeds(series, info.seeds_path, slice=form).slice_index == k, form
    res = vbq.score_series(info.series_dir, rois=info.rois_path, slice=str(k))
    assert res.slice_index == k
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,series,rois,slice\na,{info.series_dir},{info.rois_path},{k}\n"
                        f"b,{info.series_dir},{info.rois_path},{uid}\n")
    assert [t.slice for t in read_manifest(manifest)] == [str(k), uid]
    out = tmp_path / "out.csv"
    run_batch(manifest, out, workers=1)
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in r for r in rows[1:])


def test_a_mask_slice_with_an_unknown_key_is_refused(phantom):
    series, k = phantom["series"], phantom["expected"]["slice"]
    uid = series.slices[k].sop_instance_uid
    with pytest.raises(InputError,
                       match=r'the slice asked for \(--slice\): unknown key "sop" in slice'):
        rois_from_mask(series, phantom["info"].mask_path, "totalspineseg",
                       slice={"sop_instance_uid": uid, "sop": uid})


def test_an_index_outside_the_series_names_the_range(phantom):
    with pytest.raises(InputError,
                       match=r"the slice asked for: slice 9 is outside the series \(slices 0-6\)"):
        phantom["series"].resolve(9, "the slice asked for")


def test_a_uid_that_names_no_slice_is_refused_naming_who_asked(phantom):
    """The sentence names the file, seed or option that gave the UID, not only the UID."""
    with pytest.raises(InputError, match=r"^seeds\.json: seed 2: SOP Instance UID 1\.2\.3\.4 "
                       r"is not a slice of series"):
        phantom["series"].resolve({"sop_instance_uid": "1.2.3.4"}, "seeds.json: seed 2")
    with pytest.raises(InputError, match=r"^--slice: frame 3 of SOP Instance UID"):
        uid = phantom["series"].slices[0].sop_instance_uid
        phantom["series"].resolve({"sop_instance_uid": uid, "frame": 3}, "--slice")


@pytest.mark.parametrize("cell", ["abc", "-1", "nan", "1e400", "1.2.x", "1..2", "1." + "2" * 64,
                                  "\u00b2"])  # a superscript two: no index, no UID
def test_a_string_that_is_neither_an_index_nor_a_uid_is_refused_naming_its_source(cell):
    with pytest.raises(InputError, match=r"^manifest line 3 \(id A\): slice: .* is neither a "
                       r"slice index \(0, 1, \.\.\.\) nor a SOP Instance UID"):
        SliceRef.parse(cell, "manifest line 3 (id A): slice")
    assert SliceRef.parse(" 7 ", "x").index == 7
    assert SliceRef.parse("1.2.840.10008.1", "x").uid == "1.2.840.10008.1"
