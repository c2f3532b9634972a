"""A huge number in an option, a table cell or an input file is named in a short sentence.

Every refusal still names the file, row, key or option, but shows the value as
the user wrote it when that is short, else in a short form (``1e+300``, or the
first characters of the token and its length), never hundreds of digits.

References: the hand-written files and tables below, and the phantom (whose
mask is on the series grid by construction).
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom

BIG = 10**300
NINES = "9" * 400
LONGEST = 200   # characters of a sentence, at most


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("short") / "p", n_slices=5, rows=96,
                        distractors=None)


def one_short_sentence(rc, err, *needles, folder=""):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbq: error: "), err
    assert len(lines[0].replace(str(folder), "")) <= LONGEST, lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_helpers_keep_short_values_and_shorten_long_ones():
    from vbq.fileio import shown, shown_number, shown_text

    assert [shown_number(v, 1) for v in (140.0, -3, 999999.5, 1e308, -1e7)] == [
        "140.0", "-3.0", "999999.5", "1e+308", "-1e+07"]
    assert [shown_number(v) for v in (12, -7, 2.5, BIG, -(10**400), float("inf"))] == [
        "12", "-7", "2.5", "1e+300", "-1e+400", "inf"]
    assert shown_text("1e308,5") == "1e308,5"
    assert shown_text(NINES) == "9" * 20 + "... (400 characters)"
    assert shown([BIG, 5]) == "[1e+300, 5]"
    # the digits of a string (a UID) are kept
    assert shown({"n": -BIG, "uid": "1.2." + "3" * 40}) == ('{"n": -1e+300, "uid": "1.2.'
                                                              + "3" * 40 + '"}')
    assert shown([1234567890123456.0, 123456789012345]) == "[1234567890123456.0, 123456789012345]"


def test_a_seed_point_of_300_digits(ph, tmp_path, capsys):
    doc = json.loads(ph.seeds_path.read_text())
    doc["seeds"][0]["point"] = [BIG, 5]
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps(doc))
    rc = main(["score", str(ph.series_dir), "--seeds", str(path)])
    one_short_sentence(rc, capsys.readouterr().err, "seeds.json: seed 1 (L1): 'point'",
                       "got [1e+300, 5]")


@pytest.mark.parametrize(("slice_", "words"), [
    (-BIG, "rois.json: slice must be a 0-based index >= 0, got -1e+300"),
    (BIG, "slice 1e+300 is outside the series"),
    ({"sop_instance_uid": "1.2", "frame": -BIG}, "frame number >= 1 (1-based, as in DICOM), "
                                                  "got -1e+300"),
], ids=["negative", "beyond", "frame"])
def test_a_slice_of_300_digits_in_a_roi_file(ph, tmp_path, capsys, slice_, words):
    doc = json.loads(ph.rois_path.read_text())
    doc["slice"] = slice_
    path = tmp_path / "rois.json"
    path.write_text(json.dumps(doc))
    rc = main(["score", str(ph.series_dir), "--rois", str(path)])
    one_short_sentence(rc, capsys.readouterr().err, words)


def test_a_label_value_of_300_digits(ph, tmp_path, capsys):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"L1": BIG, "L2": 42, "L3": 43, "L4": 44}))
    rc = main(["score", str(ph.series_dir), "--mask", str(ph.mask_path), "--labels", str(path)])
    one_short_sentence(rc, capsys.readouterr().err, "key 'L1' must be a positive integer label",
                       "got 1e+300", folder=tmp_path)


def test_a_batch_slice_cell_of_5000_digits_is_that_rows_input_error(ph, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,series,rois,slice\n"
                        f"huge,{ph.series_dir},{ph.rois_path},{'9' * 5000}\n"
                        f"big,{ph.series_dir},{ph.rois_path},{'9' * 300}\n")
    out = tmp_path / "out.csv"
    assert main(["batch", str(manifest), "--out", str(out), "--no-progress"]) == 1
    capsys.readouterr()
    import csv

    rows = {r["id"]: r for r in csv.DictReader(out.open(newline=""))}
    for rid, digits in (("huge", 5000), ("big", 300)):
        assert rows[rid]["error_type"] == "input", rows[rid]["error"]
        assert len(rows[rid]["error"]) <= LONGEST, rows[rid]["error"]
        assert f"{'9' * 20}... ({digits} characters)" in rows[rid]["error"]


def test_a_from_values_cell_of_400_digits(tmp_path, capsys):
    table = tmp_path / "pacs.csv"
    table.write_text(f"id,L1,L2,L3,L4,CSF,field_strength_t\na,{NINES},300,300,300,100,1.5\n"
                     f"b,300,300,300,300,100,{NINES}\n")
    out = tmp_path / "out.csv"
    assert main(["from-values", str(table), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    want = f"'{'9' * 20}... (400 characters)'"
    assert err[:2] == [
        f"vbq: error: pacs.csv row 1 (id a), column L1: {want} is not a finite number",
        f"vbq: error: pacs.csv row 2 (id b), column field_strength_t: {want} is not a "
        "plausible MRI field strength (0.05 to 11.7 T)"]


def test_an_agreement_cell_of_400_digits(tmp_path, capsys):
    table = tmp_path / "readings.csv"
    table.write_text(f"series_instance_uid,reader,vbq\na,R1,3.0\na,R2,{NINES}\n")
    assert main(["agreement", str(table)]) == 2
    err = capsys.readouterr().err
    assert err == (f"vbq: error: readings.csv row 2, column vbq: '{'9' * 20}... (400 "
                   "characters)' is not a finite number\n")


@pytest.mark.parametrize("change", ["origin", "spacing"])
def test_a_mask_affine_with_huge_values(ph, tmp_path, capsys, change):
    ref = nib.load(str(ph.mask_path))
    affine = ref.affine.copy()
    if change == "origin":
        affine[0, 3] = 3e38         # float32, as a NIfTI header stores it
    else:
        affine[:3, 0] *= 1e30
    path = tmp_path / "huge.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(ref.dataobj), affine), str(path))
    with pytest.raises(InputError, match="does not match the series grid"):
        from vbq.dicom import load_series
        from vbq.roi.labelmask import load_label_volume

        load_label_volume(path, load_series(ph.series_dir).series)
    rc = main(["score", str(ph.series_dir), "--mask", str(path)])
    one_short_sentence(rc, capsys.readouterr().err, "huge.nii.gz does not match the series grid",
                       "e+38" if change == "origin" else "e+30")
