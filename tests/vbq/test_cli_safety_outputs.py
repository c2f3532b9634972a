"""Output paths never overwrite an input, a scanned DICOM file or another output.

References: each case is built by construction (the output path is an input's
path written another way: relative, through a symbolic link, a hard link);
the refusal must come before anything is written, so every file is compared
byte for byte with its content before the command ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vbq.cli import main
from vbq.errors import InputError
from vbq.fileio import refuse_output_clash
from vbq.phantom import make_phantom


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbq: error: "), err
    assert "Traceback" not in err
    return lines[0]


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("clash") / "p", n_slices=5, rows=96,
                        distractors=None)


@pytest.fixture()
def rois(ph, tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(ph.rois_path.read_bytes())
    return path


@pytest.mark.parametrize("written", ["same", "dot", "absolute", "symlink"])
def test_score_sr_that_is_the_roi_file_is_refused(ph, rois, tmp_path, capsys, monkeypatch,
                                                    written):
    monkeypatch.chdir(tmp_path)
    before = rois.read_bytes()
    given_rois = "r.json"
    sr = {"same": "r.json", "dot": "./r.json", "absolute": str(rois), "symlink": "r.json"}[written]
    if written == "symlink":
        (tmp_path / "link.json").symlink_to(rois)
        given_rois = "link.json"
    rc, out, err = run(["score", ph.series_dir, "--rois", given_rois, "--sr", sr], capsys)
    line = one_sentence(err)
    assert rc == 2 and out == ""
    assert f"--sr {sr}" in line and "the ROI file --rois" in line and "an input" in line
    assert rois.read_bytes() == before
    assert no_temporary_files(tmp_path)


def test_score_output_inside_the_dicom_folder_is_refused(ph, rois, capsys):
    image = ph.files["t1"][3]
    before = image.read_bytes()
    rc, out, err = run(["score", ph.series_dir, "--rois", rois, "--sr", image], capsys)
    line = one_sentence(err)
    assert rc == 2 and out == "" and "lies inside the DICOM folder" in line
    assert image.read_bytes() == before
    # a new file in a subfolder of the scanned folder would be read as an image next time
    new = ph.series_dir / "qc" / "figure.png"
    rc, _, err = run(["score", ph.series_dir, "--rois", rois, "--qc", new], capsys)
    assert rc == 2 and "lies inside" in one_sentence(err) and not new.parent.exists()


def test_score_two_outputs_on_one_file_are_refused(ph, rois, tmp_path, capsys):
    same = tmp_path / "same.png"
    rc, out, err = run(["score", ph.series_dir, "--rois", rois, "--qc", same, "--sr", same],
                       capsys)
    line = one_sentence(err)
    assert rc == 2 and out == ""
    assert f"--qc {same} and --sr {same} are the same file" in line
    assert not same.exists()


def test_score_csf_seed_and_label_files_are_inputs(ph, tmp_path, capsys):
    csf = tmp_path / "csf.json"
    csf.write_text('{"format": "vbq-seeds/1", "space": "pixel", "seeds": '
                   '[{"label": "CSF", "point": [40, 60]}]}')
    before = csf.read_bytes()
    rc, _, err = run(["score", ph.series_dir, "--seeds", ph.seeds_path, "--csf-seed", csf,
                      "--sr", csf], capsys)
    assert rc == 2 and "the CSF seed file --csf-seed" in one_sentence(err)
    assert csf.read_bytes() == before
    labels = tmp_path / "map.json"
    labels.write_text('{"L1": 41, "L2": 42, "L3": 43, "L4": 44, "spinal_canal": 2}')
    rc, _, err = run(["score", ph.series_dir, "--mask", ph.mask_path, "--labels", labels,
                      "--sr", labels], capsys)
    assert rc == 2 and "the label file --labels" in one_sentence(err)
    mask_before = ph.mask_path.read_bytes()
    rc, _, err = run(["score", ph.series_dir, "--mask", ph.mask_path, "--sr", ph.mask_path],
                     capsys)
    assert rc == 2 and "the label mask --mask" in one_sentence(err)
    assert ph.mask_path.read_bytes() == mask_before


def test_score_with_distinct_outputs_still_writes_both(ph, rois, tmp_path, capsys):
    qc, sr = tmp_path / "qc.png", tmp_path / "report.dcm"
    rc, _, _ = run(["score", ph.series_dir, "--rois", rois, "--qc", qc, "--sr", sr], capsys)
    assert rc == 0 and qc.stat().st_size > 0 and sr.stat().st_size > 0


def test_from_values_out_that_is_its_table_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "ok.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\na,410,395,402,388,131\n")
    before = table.read_bytes()
    rc, out, err = run(["from-values", "ok.csv", "--out", "./ok.csv"], capsys)
    line = one_sentence(err)
    assert rc == 2 and out == "" and "--out ./ok.csv is the table ok.csv" in line
    assert table.read_bytes() == before and no_temporary_files(tmp_path)
    rc, _, _ = run(["from-values", "ok.csv", "--out", "scores.csv"], capsys)
    assert rc == 0 and (tmp_path / "scores.csv").read_text().startswith("id,")


def test_readings_export_onto_its_database_is_refused(tmp_path, capsys):
    from vbq.serve.storage import ReadingStore

    db = tmp_path / "r.sqlite"
    ReadingStore(db)
    before = db.read_bytes()
    rc, out, err = run(["readings", "export", "--db", db, "--out", db], capsys)
    assert rc == 2 and out == "" and "the readings database --db" in one_sentence(err)
    assert db.read_bytes() == before


def test_agreement_plot_that_would_replace_the_table_is_refused(tmp_path, capsys):
    from vbq.agreement import analyze, read_readings

    rows = ["series_instance_uid,reader,vbq"] + [
        f"s{i},{r},{2.5 + 0.1 * i + (0.03 if r == 'B' else 0.0) + 0.01 * (i % 3):.3f}"
        for i in range(8) for r in ("A", "B")]
    first = tmp_path / "readings.csv"
    first.write_text("\n".join(rows) + "\n")
    name = analyze(read_readings(first)).plot_filenames()[0]
    plots = tmp_path / "plots"
    plots.mkdir()
    table = plots / name
    table.write_bytes(first.read_bytes())
    before = table.read_bytes()
    rc, out, err = run(["agreement", table, "--plots", plots], capsys)
    line = one_sentence(err)
    assert rc == 2 and out == "" and "is the table" in line and name in line
    assert table.read_bytes() == before


def test_serve_refuses_to_write_into_the_folder_it_reads(ph, tmp_path, capsys):
    rc, _, err = run(["serve", ph.series_dir, "--port", "0", "--db",
                      ph.series_dir / "r.sqlite", "--out", tmp_path / "x"], capsys)
    assert rc == 2, err
    assert "--db" in one_sentence(err) and "lies inside FOLDER" in err
    assert not (ph.series_dir / "r.sqlite").exists()


def test_batch_refusals_come_from_the_same_helper(ph, tmp_path, capsys, monkeypatch):
    calls = []
    import vbq.fileio

    real = vbq.fileio.refuse_output_clash

    def spy(*args, **kwargs):
        calls.append(kwargs.get("of"))
        return real(*args, **kwargs)

    monkeypatch.setattr(vbq.fileio, "refuse_output_clash", spy)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,series,rois\na,{ph.series_dir},{ph.rois_path}\n")
    rc, _, err = run(["batch", manifest, "--out", ph.rois_path, "--no-progress"], capsys)
    assert rc == 2 and "an input of the batch" in one_sentence(err) and calls == ["the batch"]


def test_helper_on_hard_links_symlinks_and_files_not_yet_written(tmp_path):
    source = tmp_path / "in.json"
    source.write_text("{}")
    os.link(source, tmp_path / "hard.json")
    with pytest.raises(InputError, match="an input of"):
        refuse_output_clash([("--out", tmp_path / "hard.json")], inputs=[("the file", source)])
    (tmp_path / "sub").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "sub")
    with pytest.raises(InputError, match="are the same file"):
        refuse_output_clash([("--qc", tmp_path / "alias" / "x.png"),
                             ("--sr", tmp_path / "sub" / ".." / "sub" / "x.png")])
    with pytest.raises(InputError, match="lies inside the folder"):
        refuse_output_clash([("--out", tmp_path / "alias" / "new" / "y.csv")],
                            folders=[("the folder", tmp_path / "sub")])
    # distinct files, a missing option, and a folder that is not there are fine
    refuse_output_clash([("--qc", tmp_path / "a.png"), ("--sr", None), ("--x", tmp_path / "b")],
                        inputs=[("the file", source), ("absent", None)],
                        folders=[("gone", tmp_path / "gone")])


def test_serve_dot_from_inside_the_folder_starts_with_its_defaults(ph, tmp_path):
    """`cd FOLDER && vbq serve .`: the default database and exports folder are where the
    server was started, which the user chose; only paths asked for inside FOLDER are refused."""
    import shutil
    import subprocess

    from _serve_helpers import VBQ

    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    folder = tmp_path / "study"
    shutil.copytree(ph.series_dir, folder)
    proc = subprocess.Popen([*VBQ, "serve", ".", "--port", "0"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), proc.stderr.read() if not line else line
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert (folder / "vbq-readings.sqlite").exists()


def test_readings_export_refuses_a_file_that_is_no_readings_database(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    rc, out, err = run(["readings", "export", "--db", empty], capsys)
    assert rc == 2 and out == ""
    assert one_sentence(err) == (f"vbq: error: {empty}: not a readings database (it holds no "
                                 "readings); give the --db file vbq serve wrote")
    assert empty.read_bytes() == b"" and sorted(os.listdir(tmp_path)) == ["empty.sqlite"]


def test_readings_export_onto_the_databases_side_files_is_refused(tmp_path, capsys):
    from vbq.serve.storage import ReadingStore

    db = tmp_path / "r.sqlite"
    ReadingStore(db)
    for side in ("wal", "shm", "journal"):
        rc, out, err = run(["readings", "export", "--db", db, "--out", f"{db}-{side}"], capsys)
        assert rc == 2 and f"the database's {side} file" in one_sentence(err)


def test_readings_export_refuses_a_reading_that_does_not_match_its_checksum(tmp_path, capsys):
    import json
    import sqlite3

    from vbq.serve.storage import ReadingStore

    db = tmp_path / "r.sqlite"
    store = ReadingStore(db)
    for reader in ("ann", "bob"):
        store.add(reader=reader, study_instance_uid="1.2", series_instance_uid="1.2.3",
                  patient_id=None, rois={"format": "vbq-rois/1", "rois": []},
                  roi_provenance="", result={"vbq": 3.0}, batch_row={"id": "x", "vbq": "3.0"})
    rc, out, _ = run(["readings", "export", "--db", db], capsys)
    assert rc == 0 and len(out.splitlines()) == 3
    con = sqlite3.connect(db)
    triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in triggers:  # what a hand edit of the file would do
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE readings SET batch_row = ? WHERE reading_id = 2",
                [json.dumps({"id": "x", "vbq": "9.99"})])
    con.commit()
    con.close()
    rc, out, err = run(["readings", "export", "--db", db], capsys)
    assert rc == 2 and out == ""
    assert one_sentence(err) == f"vbq: error: {db}: reading 2 does not match its checksum"


@pytest.mark.parametrize("option", ["--qc", "--sr"])
def test_an_empty_output_file_name_is_refused_before_scoring(ph, rois, tmp_path, capsys,
                                                             monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(["score", ph.series_dir, "--rois", rois, option, ""], capsys)
    assert rc == 2 and out == ""
    assert one_sentence(err) == f"vbq: error: {option}: the file name is empty; give a file name"
    assert [p.name for p in tmp_path.iterdir()] == [rois.name]  # the ROI file alone


def test_from_values_and_export_refuse_an_empty_out(tmp_path, capsys, monkeypatch):
    from vbq.serve.storage import ReadingStore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.csv").write_text("L1,L2,L3,L4,CSF\n400,390,410,395,130\n")
    ReadingStore(tmp_path / "r.sqlite")
    before = sorted(os.listdir(tmp_path))
    for argv in (["from-values", "v.csv", "--out", ""],
                 ["readings", "export", "--db", "r.sqlite", "--out", ""]):
        rc, out, err = run(argv, capsys)
        assert rc == 2 and out == ""
        assert one_sentence(err) == "vbq: error: --out: the file name is empty; give a file name"
    assert sorted(os.listdir(tmp_path)) == before
