"""Cohort batches: one output row per input row, resume without repeated work, Dask.

References: each batch row must equal :func:`vbq.score.score_series` on the
same inputs (scored directly in the test), and the phantoms' construction.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

import vbq.batch as batch
from vbq.batch import read_manifest, run_batch
from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.score import score_series

PHANTOMS = ((0, 2.5), (1, 3.2), (2, 4.0))
BROKEN = ("missing_folder", "bad_roi_file", "too_few_levels", "two_sources", "no_source")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    direct = {}
    for seed, vbq in PHANTOMS:
        info = make_phantom(root / f"p{seed}", vbq=vbq, seed=seed, distractors=())
        series = f"p{seed}/series"
        direct[(seed, "rois")] = score_series(info.series_dir, rois=info.rois_path).vbq
        direct[(seed, "mask")] = score_series(info.series_dir, mask=info.mask_path).vbq
        direct[(seed, "seeds")] = score_series(info.series_dir, seeds=info.seeds_path).vbq
        direct[(seed, "series")] = series
    (root / "broken_rois.json").write_text('{"format": "vbq-rois/1", "rois": [')
    header = ["id", "series", "rois", "mask", "labels", "seeds", "exclude", "protocol"]
    rows, truth = [], {}
    kinds = ("rois", "mask", "seeds")
    for i in range(40):
        seed = PHANTOMS[i % 3][0]
        kind = kinds[(i // 3) % 3]
        rid = f"case{i:02d}"
        row = {"id": rid, "series": f"p{seed}/series", "labels": "", "exclude": "",
               "protocol": "lumbar" if i % 2 else "", "rois": "", "mask": "", "seeds": ""}
        row[kind] = {"rois": f"p{seed}/rois.json", "mask": f"p{seed}/mask.nii.gz",
                     "seeds": f"p{seed}/seeds.json"}[kind]
        if kind == "mask":
            row["labels"] = "totalspineseg"
        rows.append(row)
        truth[rid] = direct[(seed, kind)]
    bad = {"id": "", "series": "p0/series", "rois": "", "mask": "", "labels": "", "seeds": "",
           "exclude": "", "protocol": ""}
    rows.insert(5, {**bad, "id": "missing_folder", "series": "no/such/folder",
                    "rois": "p0/rois.json"})
    rows.insert(12, {**bad, "id": "bad_roi_file", "rois": "broken_rois.json"})
    rows.insert(20, {**bad, "id": "too_few_levels", "rois": "p1/rois.json",
                     "exclude": "L1=fracture;L2=fracture;L3=hemangioma"})
    rows.insert(30, {**bad, "id": "two_sources", "rois": "p1/rois.json",
                     "seeds": "p1/seeds.json"})
    rows.append({**bad, "id": "no_source"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return {"root": root, "manifest": manifest, "truth": truth,
            "ids": [r["id"] for r in rows], "direct": direct}


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_once_with_score_or_error_then_resume_does_no_work_twice(
        cohort, tmp_path, counted, capsys):
    out = tmp_path / "results.csv"
    code = main(["batch", str(cohort["manifest"]), "--out", str(out)])
    assert code == 1  # some rows failed
    err = capsys.readouterr().err
    assert "45 rows: 40 scored, 5 failed" in err
    rows = _read(out)
    assert [r["id"] for r in rows] == cohort["ids"]  # one row per input row, in order
    assert sorted(counted) == sorted(cohort["ids"])
    by_id = {r["id"]: r for r in rows}
    for rid, vbq in cohort["truth"].items():
        r = by_id[rid]
        assert r["status"] == "ok" and r["error"] == ""
        assert float(r["vbq"]) == pytest.approx(vbq, rel=1e-12)
        assert r["series_instance_uid"] and r["field_strength_t"] == "1.5"
        assert float(r["si_L1"]) > 0 and r["csf_level"] == "L3"
    for rid in BROKEN:
        assert by_id[rid]["status"] == "error" and by_id[rid]["vbq"] == ""
    assert by_id["missing_folder"]["error_type"] == "input"
    assert "does not exist" in by_id["missing_folder"]["error"]
    assert "broken_rois.json" in by_id["bad_roi_file"]["error"]
    assert "needs at least 2" in by_id["too_few_levels"]["error"]
    assert "not rois and seeds" in by_id["two_sources"]["error"]
    assert "no 'rois', 'mask' or 'seeds'" in by_id["no_source"]["error"]

    counted.clear()
    code = main(["batch", str(cohort["manifest"]), "--out", str(out), "--resume"])
    assert code == 1
    assert sorted(counted) == sorted(BROKEN)  # only the failed rows are tried again
    again = _read(out)
    assert [r["id"] for r in again] == cohort["ids"]
    for old, new in zip(rows, again, strict=True):
        if old["status"] == "ok":
            assert new == old  # kept as written
    capsys.readouterr()


def test_interrupted_batch_keeps_finished_rows_and_resume_finishes(cohort, tmp_path, counted):
    manifest = tmp_path / "m.csv"
    lines = cohort["manifest"].read_text().splitlines()
    # the first 12 good rows, paths made absolute through a manifest elsewhere
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.startswith("case")][:12]
    root = cohort["root"]
    text = "\n".join(keep).replace("p0/", f"{root}/p0/").replace("p1/", f"{root}/p1/")
    manifest.write_text(text.replace("p2/", f"{root}/p2/") + "\n")
    out = tmp_path / "out.csv"
    done = []

    def stop_after_five(row):
        done.append(row["id"])
        if len(done) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(manifest, out, on_row=stop_after_five)
    partial = _read(out)
    assert [r["id"] for r in partial] == done  # finished rows are on disk
    with out.open("a") as fh:  # a line cut short by a hard kill
        fh.write("case99,ok,3.1")
    counted.clear()
    summary = run_batch(manifest, out, resume=True)
    assert sorted(counted) == sorted(set(read_ids(manifest)) - set(done))
    final = _read(out)
    assert [r["id"] for r in final] == read_ids(manifest)
    assert summary.n_ok == 12 and summary.n_run == 7 and summary.n_failed == 0


def read_ids(manifest):
    return [t.id for t in read_manifest(manifest)]


def test_process_pool_gives_the_same_rows(cohort, tmp_path):
    manifest = tmp_path / "pool.csv"
    lines = cohort["manifest"].read_text().splitlines()
    root = cohort["root"]
    picked = [lines[0]] + [ln for ln in lines[1:] if ln.startswith(("case0", "missing"))][:5]
    manifest.write_text("\n".join(picked).replace(",p", f",{root}/p").replace(
        ",no/such", f",{root}/no/such") + "\n")
    out = tmp_path / "pool_out.csv"
    summary = run_batch(manifest, out, workers=2)
    rows = {r["id"]: r for r in _read(out)}
    assert list(rows) == read_ids(manifest)
    for rid, r in rows.items():
        if rid in cohort["truth"]:
            assert float(r["vbq"]) == pytest.approx(cohort["truth"][rid], rel=1e-12)
        else:
            assert r["status"] == "error"
    assert summary.n_rows == len(rows)


def test_dask_local_cluster_gives_the_same_rows(cohort, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    manifest = tmp_path / "dask.csv"
    lines = cohort["manifest"].read_text().splitlines()
    root = cohort["root"]
    picked = [lines[0]] + [ln for ln in lines[1:] if ln.startswith(("case1", "bad_roi"))][:6]
    manifest.write_text("\n".join(picked).replace(",p", f",{root}/p").replace(
        ",broken", f",{root}/broken") + "\n")
    serial = tmp_path / "serial.csv"
    run_batch(manifest, serial)
    out = tmp_path / "dask_out.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["batch", str(manifest), "--out", str(out), "--dask",
                     cluster.scheduler_address])
    assert code == 1  # the broken ROI file
    drop = {"seconds"}
    a = [{k: v for k, v in r.items() if k not in drop} for r in _read(serial)]
    b = [{k: v for k, v in r.items() if k not in drop} for r in _read(out)]
    assert a == b


def test_all_ok_exits_zero_and_json_summary(cohort, tmp_path, capsys):
    manifest = tmp_path / "ok.csv"
    root = cohort["root"]
    manifest.write_text(f"id,series,rois\nx,{root}/p0/series,{root}/p0/rois.json\n")
    code = main(["batch", str(manifest), "--out", str(tmp_path / "o.csv"), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["n_ok"] == 1 and summary["n_failed"] == 0
    assert "\r" not in captured.err  # no progress bar when stderr is not a terminal


def test_progress_bar_only_when_asked_or_on_a_terminal():
    stream = io.StringIO()
    bar = batch._Progress(3, stream=stream)
    bar.update(True)
    assert stream.getvalue() == ""  # StringIO is not a terminal
    bar = batch._Progress(2, stream=stream, enabled=True)
    bar.update(True)
    bar.update(False)
    bar.close()
    assert "2/2" in stream.getvalue() and "1 failed" in stream.getvalue()


@pytest.mark.parametrize("text, words", [
    ("series,rois\na,b\n", "no 'id' column"),
    ("id,rois\na,b\n", "no 'series' column"),
    ("id,series\na,b\n", "needs a 'rois', 'mask' or 'seeds' column"),
    ("id,series,rois\na,s,r\na,s,r\n", "id 'a' already used on line 2"),
    ("id,series,rois\n,s,r\n", "line 2: the 'id' column is empty"),
    ("", "is empty"),
])
def test_bad_manifests_exit_2(tmp_path, text, words, capsys):
    manifest = tmp_path / "bad.csv"
    manifest.write_text(text)
    with pytest.raises(InputError, match=words):
        read_manifest(manifest)
    assert main(["batch", str(manifest), "--out", str(tmp_path / "o.csv")]) == 2
    assert words.split("'")[0] in capsys.readouterr().err


def test_missing_manifest_and_bad_workers(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,series,rois\na,s,r\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "o.csv"),
                 "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_relative_paths_resolve_against_the_manifest_folder(cohort):
    tasks = read_manifest(cohort["manifest"])
    assert tasks[0].series == str(cohort["root"] / "p0" / "series")
    assert tasks[0].line == 2 and tasks[0].protocol == "lumbar"


def test_console_script(cohort, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "vbq"
    if not script.exists():
        script = shutil.which("vbq")
    if script is None:
        pytest.skip("the vbq console script is not installed")
    root = cohort["root"]
    manifest = tmp_path / "cs.csv"
    manifest.write_text(f"id,series,seeds\nok,{root}/p1/series,{root}/p1/seeds.json\n"
                        f"bad,{root}/p1/series,{root}/p1/nothing.json\n")
    out = tmp_path / "cs_out.csv"
    run = subprocess.run([str(script), "batch", str(manifest), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stdout == ""
    assert "2 rows: 1 scored, 1 failed" in run.stderr and "Traceback" not in run.stderr
    rows = _read(out)
    assert [r["status"] for r in rows] == ["ok", "error"]
    assert "nothing.json" in rows[1]["error"]


def test_bad_dask_address_is_a_usage_error_and_keeps_the_output(cohort, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    root = cohort["root"]
    manifest = tmp_path / "d.csv"
    manifest.write_text(f"id,series,rois\nx,{root}/p0/series,{root}/p0/rois.json\n")
    out = tmp_path / "keep.csv"
    out.write_text("id,status\nold,ok\n")
    code = main(["batch", str(manifest), "--out", str(out), "--dask", "nonsense://scheduler"])
    assert code == 2
    assert "cannot connect to the Dask scheduler" in capsys.readouterr().err
    assert out.read_text() == "id,status\nold,ok\n"


def crash_on_bad(task):
    """Worker function for the pool test: dies hard on one row."""
    import os

    if task.id == "crash":
        os._exit(3)
    return {"id": task.id, "status": "ok"}


def test_a_dying_worker_costs_only_its_own_row():
    tasks = [batch.BatchTask(id=f"t{i}", line=i + 2, series="s") for i in range(6)]
    tasks.insert(3, batch.BatchTask(id="crash", line=9, series="s"))
    got = dict((t.id, r) for t, r in batch._pool(tasks, 2, fn=crash_on_bad))
    assert sorted(got) == sorted(t.id for t in tasks)
    assert got["crash"]["status"] == "error" and "died" in got["crash"]["error"]
    assert all(got[f"t{i}"]["status"] == "ok" for i in range(6))
