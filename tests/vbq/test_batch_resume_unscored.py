"""``vbq batch --resume`` keeps only rows that hold a score: a row with status ok whose
vbq is empty or not a finite number is scored again, with a warning naming its id.

References: the phantom's ROI file scores it by construction; the rows kept are
compared with the first run's, the rows redone with score_series on the same files.
"""

from __future__ import annotations

import csv

import pytest

from vbq.batch import run_batch
from vbq.cli import main
from vbq.errors import BatchNote
from vbq.phantom import make_phantom
from vbq.score import score_series

IDS = ("a", "b", "c", "d", "e", "f")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    info = make_phantom(root / "p", n_slices=5, rows=96, distractors=None)
    manifest = root / "m.csv"
    manifest.write_text("id,series,rois\n" + "".join(f"{i},p/series,p/rois.json\n"
                                                      for i in IDS))
    return manifest, score_series(info.series_dir, rois=info.rois_path).vbq


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_ok_rows_without_a_number_are_redone_with_a_note(cohort, tmp_path, counted, capsys):
    manifest, truth = cohort
    out = tmp_path / "out.csv"
    assert main(["batch", str(manifest), "--out", str(out)]) == 0
    first = _rows(out)
    edited = {"a": "abc", "b": "", "c": "nan", "d": "inf", "f": "-3"}
    rows = [{**r, "vbq": edited.get(r["id"], r["vbq"])} for r in first]
    rows.append({**first[0], "id": "gone", "vbq": "xyz"})  # not in the manifest: left as is
    _write(out, rows)
    capsys.readouterr()
    counted.clear()
    assert main(["batch", str(manifest), "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert sorted(counted) == ["a", "b", "c", "d", "f"]
    notes = [line for line in err.splitlines() if line.startswith("vbq: warning: ")]
    assert notes == [
        f"vbq: warning: --resume: the row of id 'a' in {out} has status ok but its vbq 'abc' "
        "is not a number; it is scored again",
        f"vbq: warning: --resume: the row of id 'b' in {out} has status ok but its vbq is "
        "empty; it is scored again",
        f"vbq: warning: --resume: the row of id 'c' in {out} has status ok but its vbq 'nan' "
        "is not a finite number; it is scored again",
        f"vbq: warning: --resume: the row of id 'd' in {out} has status ok but its vbq 'inf' "
        "is not a finite number; it is scored again",
        f"vbq: warning: --resume: the row of id 'f' in {out} has status ok but its vbq '-3' "
        "is not positive; it is scored again",
    ]
    assert "Traceback" not in err
    final = {r["id"]: r for r in _rows(out)}
    assert list(final) == [*IDS, "gone"]
    for rid in IDS:
        assert final[rid]["status"] == "ok"
        assert float(final[rid]["vbq"]) == pytest.approx(truth, rel=1e-12)
    assert final["e"] == first[4]  # a good row is kept as written, not redone
    assert final["gone"]["vbq"] == "xyz"


def test_the_library_issues_the_note_as_a_batch_note_warning(cohort, tmp_path, counted):
    manifest, _ = cohort
    out = tmp_path / "out.csv"
    run_batch(manifest, out)
    rows = _rows(out)
    rows[2]["vbq"] = "3,2"  # a decimal comma is not a number the batch writes
    _write(out, rows)
    counted.clear()
    with pytest.warns(BatchNote, match="id 'c' .* its vbq '3,2' is not a number"):
        summary = run_batch(manifest, out, resume=True)
    assert counted == ["c"] and summary.n_run == 1 and summary.n_ok == len(IDS)
    seen = []
    counted.clear()
    run_batch(manifest, out, resume=True, on_note=seen.append)
    assert counted == [] and seen == []
