"""Batch safety: --out never overwrites an input, --resume accepts only a batch output,
and a row whose decoder panics (a BaseException) is an error row, never a lost row.

References: the damaged file is built from a phantom whose RLE pixel data is
corrupted on purpose; its good rows are checked against score_series run
directly on the same inputs.
"""

from __future__ import annotations

import csv

import pydicom
import pytest

import vbq.batch as batch
from vbq.batch import output_columns, run_batch
from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.score import score_series


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_sentence(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbq: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A good phantom and a copy whose RLE pixel data is damaged in every T1 slice."""
    root = tmp_path_factory.mktemp("safety")
    good = make_phantom(root / "good", n_slices=5, rows=96, distractors=None)
    bad = make_phantom(root / "bad", n_slices=5, rows=96, distractors=None, compress="rle")
    for path in bad.files["t1"]:
        data = bytearray(path.read_bytes())
        n = len(data)
        for i in range(n - 2000, n - 100, 7):  # inside the last RLE segment
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    manifest = root / "manifest.csv"
    manifest.write_text("id,series,rois\n"
                        "good,good/series,good/rois.json\n"
                        "damaged,bad/series,bad/rois.json\n")
    return root, good, bad, manifest


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- decoder panics


def _real_panic(study):
    """The exception the RLE decoder itself raises on the damaged file."""
    _, _, bad, _ = study
    ds = pydicom.dcmread(bad.files["t1"][0])
    try:
        ds.pixel_array  # noqa: B018
    except BaseException as err:  # noqa: BLE001
        return err
    raise AssertionError("the damaged RLE file decoded without error")


def test_the_damaged_rle_file_makes_the_decoder_panic(study):
    # the premise of the tests below: pylibjpeg-rle reports damage by a Rust panic,
    # which is a BaseException but not an Exception
    panic = _real_panic(study)
    assert type(panic).__name__ == "PanicException"
    assert not isinstance(panic, Exception)


def test_a_panicking_row_is_an_error_row_and_no_row_is_lost(study, tmp_path, monkeypatch):
    root, good, _, manifest = study
    panic = _real_panic(study)
    real = batch.score_task

    def score(task):
        if task.id == "damaged":
            raise panic  # as the decoder does, whatever the reader wraps around it
        return real(task)

    monkeypatch.setattr(batch, "score_task", score)
    out = tmp_path / "results.csv"
    summary = run_batch(manifest, out)
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"good", "damaged"}
    assert rows["good"]["status"] == "ok"
    assert float(rows["good"]["vbq"]) == score_series(good.series_dir, rois=good.rois_path).vbq
    assert rows["damaged"]["status"] == "error"
    assert "PanicException" in rows["damaged"]["error"]
    assert summary.n_failed == 1 and summary.failed_ids == ("damaged",)


def test_keyboard_interrupt_still_stops_the_batch(study, tmp_path, monkeypatch):
    _, _, _, manifest = study

    def score(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "score_task", score)
    with pytest.raises(KeyboardInterrupt):
        run_batch(manifest, tmp_path / "results.csv")


def test_damaged_compressed_file_end_to_end_through_the_command_line(study, tmp_path, capsys):
    _, good, _, manifest = study
    out = tmp_path / "results.csv"
    rc, _, err = run(["batch", manifest, "--out", out, "--no-progress"], capsys)
    assert rc == 1, err
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {"good", "damaged"}
    assert rows["good"]["status"] == "ok"
    assert float(rows["good"]["vbq"]) == score_series(good.series_dir, rois=good.rois_path).vbq
    assert rows["damaged"]["status"] == "error" and rows["damaged"]["error"]


def test_a_panic_in_vbq_score_is_one_line(study, capsys, monkeypatch):
    import vbq.score

    panic = _real_panic(study)
    _, good, _, _ = study

    def score(*args, **kwargs):
        raise panic

    monkeypatch.setattr(vbq.score, "score_series", score)
    rc, _, err = run(["score", good.series_dir, "--rois", good.rois_path], capsys)
    assert rc == 1
    line = err.strip().splitlines()
    assert len(line) == 1 and "PanicException" in line[0] and "Traceback" not in err


# --------------------------------------------------------------------------- --out is an input


@pytest.mark.parametrize("which", ["manifest", "rois", "seeds", "labels", "mask"])
def test_out_that_is_an_input_file_is_refused_before_writing(tmp_path, capsys, which):
    ph = make_phantom(tmp_path / "p", n_slices=5, rows=96, distractors=None)
    labels = tmp_path / "labels.json"
    labels.write_text('{"L1": 41, "L2": 42, "L3": 43, "L4": 44, "spinal_canal": 2}')
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,series,rois,mask,labels,seeds\n"
                        "a,p/series,p/rois.json,,,\n"
                        "b,p/series,,p/mask.nii.gz,labels.json,\n"
                        "c,p/series,,,,p/seeds.json\n")
    target = {"manifest": manifest, "rois": ph.rois_path, "seeds": ph.seeds_path,
              "labels": labels, "mask": ph.mask_path}[which]
    before = target.read_bytes()
    rc, _, err = run(["batch", manifest, "--out", target, "--no-progress"], capsys)
    assert rc == 2
    line = one_sentence(err)
    assert "an input of the batch" in line and str(target) in line
    assert target.read_bytes() == before  # nothing overwritten
    assert not list(target.parent.glob(f".{target.name}.*"))  # no temporary file left


def test_out_inside_a_series_folder_is_refused(tmp_path, capsys):
    ph = make_phantom(tmp_path / "p", n_slices=5, rows=96, distractors=None)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,series,rois\na,p/series,p/rois.json\n")
    dicom = ph.files["t1"][0]
    before = dicom.read_bytes()
    rc, _, err = run(["batch", manifest, "--out", dicom, "--no-progress"], capsys)
    assert rc == 2 and "inside the series folder" in one_sentence(err)
    assert dicom.read_bytes() == before


# --------------------------------------------------------------------------- --resume


def test_resume_accepts_only_an_earlier_batch_output(study, tmp_path, capsys):
    _, _, _, manifest = study
    other = tmp_path / "notes.csv"
    other.write_text("id,status,comment\ngood,ok,keep me\n")
    before = other.read_bytes()
    rc, _, err = run(["batch", manifest, "--out", other, "--resume", "--no-progress"], capsys)
    assert rc == 2 and "not an output of vbq batch" in one_sentence(err)
    assert other.read_bytes() == before
    # the same file with a batch header whose columns were reordered is refused too
    cols = output_columns(["L1", "L2", "L3", "L4"])
    swapped = [cols[1], cols[0], *cols[2:]]
    other.write_text(",".join(swapped) + "\n")
    rc, _, err = run(["batch", manifest, "--out", other, "--resume", "--no-progress"], capsys)
    assert rc == 2 and "not an output of vbq batch" in one_sentence(err)
    # a real earlier output is accepted, and its scored rows are kept
    out = tmp_path / "results.csv"
    run(["batch", manifest, "--out", out, "--no-progress"], capsys)
    first = {r["id"]: r for r in _rows(out)}
    rc, _, err = run(["batch", manifest, "--out", out, "--resume", "--no-progress"], capsys)
    assert rc == 1, err   # the damaged row fails again
    again = {r["id"]: r for r in _rows(out)}
    assert again["good"] == first["good"]


def test_is_batch_header():
    cols = output_columns(["L1", "L2", "L3", "L4"])
    assert batch.is_batch_header(cols)
    assert batch.is_batch_header(output_columns(["C3", "C4", "L1"]))
    assert not batch.is_batch_header(["id", "status"])
    assert not batch.is_batch_header([*cols, "extra"])
    assert not batch.is_batch_header([c if c != "si_L2" else "si_X9" for c in cols])


def test_resume_refuses_a_row_with_a_wrong_status(study, tmp_path, capsys):
    _, _, _, manifest = study
    out = tmp_path / "results.csv"
    cols = output_columns(["L1", "L2", "L3", "L4"])
    out.write_text(",".join(cols) + "\n" + "good,maybe" + "," * (len(cols) - 2) + "\n")
    with pytest.raises(InputError, match="not a row vbq batch writes"):
        run_batch(manifest, out, resume=True)



def test_manifest_slice_with_non_ascii_digits_is_that_rows_input_error(study, tmp_path):
    """'²' passes str.isdigit() but is no slice number: an input error naming it, not Python's."""
    root, good, _, _ = study
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,series,rois,slice\nsup,{good.series_dir},{good.rois_path},\u00b2\n"
                        f"num,{good.series_dir},{good.rois_path},{good.slice}\n",
                        encoding="utf-8")
    out = tmp_path / "out.csv"
    run_batch(manifest, out, workers=1)
    rows = {r["id"]: r for r in _rows(out)}
    assert rows["num"]["status"] == "ok"
    assert rows["sup"]["status"] == "error" and rows["sup"]["error_type"] == "input"
    assert "\u00b2" in rows["sup"]["error"] and "ValueError" not in rows["sup"]["error"]
