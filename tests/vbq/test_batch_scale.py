"""``vbq batch`` on Dask sends a few rows per Dask task, and the rows are those of a serial run.

The scheduler's cost per Dask task (a few ms of CPU shared between scheduler,
worker and client) is a large part of scoring one small series, so rows go in
groups; the reference for every row is the serial batch of the same manifest.
"""

from __future__ import annotations

import csv

import pytest

import vbq.batch as batch
from vbq.batch import BatchTask, run_batch
from vbq.phantom import make_phantom


def _tasks(n: int) -> list[BatchTask]:
    return [BatchTask(id=f"r{i}", line=i + 2, series=None) for i in range(n)]


@pytest.mark.parametrize(("n", "slots"), [(1, 2), (7, 2), (40, 2), (1000, 2), (1000, 16),
                                          (33, 1), (9, 0)])
def test_groups_keep_every_row_in_order_and_stay_small(n, slots):
    tasks = _tasks(n)
    groups = batch._groups(tasks, slots)
    assert [t for g in groups for t in g] == tasks
    assert all(1 <= len(g) <= batch.DASK_GROUP for g in groups)
    # enough groups to keep every worker slot busy to the end
    assert len(groups) >= min(n, 4 * max(slots, 1))


def test_process_tasks_scores_each_row_like_process_task(monkeypatch):
    seen = []

    def fake(task):
        seen.append(task.id)
        return {"id": task.id, "status": "ok"}

    monkeypatch.setattr(batch, "process_task", fake)
    tasks = _tasks(3)
    assert batch.process_tasks(tasks) == [{"id": t.id, "status": "ok"} for t in tasks]
    assert seen == ["r0", "r1", "r2"]


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    lines = ["id,series,rois"]
    for i in range(12):
        info = make_phantom(root / f"p{i}", vbq=2.0 + 0.25 * i, seed=50 + i, n_slices=7,
                            rows=128, distractors=())
        lines.append(f"row{i:02d},{info.series_dir},{info.rois_path}")
    lines.append(f"bad,{root}/missing,{root}/p0/rois.json")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _rows(path):
    with open(path, newline="") as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def test_dask_sends_groups_and_gives_the_serial_rows(small_cohort, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    serial = tmp_path / "serial.csv"
    run_batch(small_cohort, serial)
    out = tmp_path / "dask.csv"
    mapped: list[int] = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        real_map = client.map

        def counting_map(fn, groups, **kw):
            mapped.append(len(groups))
            assert fn is batch.process_tasks
            return real_map(fn, groups, **kw)

        client.map = counting_map  # type: ignore[method-assign]
        seen: list[str] = []
        summary = run_batch(small_cohort, out, dask=client, on_row=lambda r: seen.append(r["id"]))
    assert _rows(out) == _rows(serial)
    assert summary.n_ok == 12 and summary.failed_ids == ("bad",)
    # 13 rows on one slot: groups of 3 (at least 4 groups per slot), not one task per row
    assert mapped == [5]
    assert sorted(seen) == sorted(r["id"] for r in _rows(serial))


def test_a_lost_dask_group_fails_each_of_its_rows(small_cohort, tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    real = batch.process_tasks

    def lose_the_second_group(tasks):
        if tasks[0].id == "row03":
            raise RuntimeError("worker lost")
        return real(tasks)

    monkeypatch.setattr(batch, "process_tasks", lose_the_second_group)
    out = tmp_path / "dask.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        summary = run_batch(small_cohort, out, dask=client)
    rows = {r["id"]: r for r in _rows(out)}
    assert [r["id"] for r in _rows(out)] == [f"row{i:02d}" for i in range(12)] + ["bad"]
    for rid in ("row03", "row04", "row05"):
        assert rows[rid]["status"] == "error" and "worker lost" in rows[rid]["error"]
    assert rows["row02"]["status"] == "ok" and rows["row06"]["status"] == "ok"
    assert summary.n_failed == 4
