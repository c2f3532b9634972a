"""SIGTERM and SIGINT stop a batch cleanly: no worker process is left running, every row
already written stays in the output, and the command exits 128 + the signal number
with one sentence; --resume then does the rest.

References: the phantoms' seed files score them by construction; the worker
processes are the batch's children as /proc lists them before the signal.
Every wait is bounded (about 30 s in all when nothing goes wrong).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vbq.batch import BatchInterrupted, run_batch
from vbq.cli import main
from vbq.phantom import make_phantom

N_ROWS = 30

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="finds the worker processes through /proc")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    for i in range(3):
        make_phantom(root / f"p{i}", n_slices=5, rows=96, distractors=None, seed=i)
    path = root / "m.csv"
    path.write_text("id,series,seeds\n" + "".join(
        f"r{k:02d},p{k % 3}/series,p{k % 3}/seeds.json\n" for k in range(N_ROWS)))
    return path


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that is not a zombie (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_all(proc, workers) -> None:
    """Kill the batch and every worker still running: none is left behind, even when the
    test fails."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    for pid in workers:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def _wait(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_workers_and_keeps_every_written_row(manifest, tmp_path, capsys,
                                                               sig):
    out = tmp_path / "out.csv"
    err_path = tmp_path / "stderr.txt"
    workers: list[int] = []
    with err_path.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vbq.cli", "batch", str(manifest), "--out", str(out),
             "--workers", "3"], stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        assert _wait(lambda: _lines(out) >= 2 or proc.poll() is not None, 40), \
            "no row written within 40 s"
        assert proc.poll() is None, "the batch ended before the signal: make it longer"
        workers = _children(proc.pid)
        assert workers, "the batch has no worker process"
        written = out.read_bytes()
        written = written[: written.rfind(b"\n") + 1]
        proc.send_signal(sig)
        rc = proc.wait(timeout=15)
        assert rc == 128 + sig
        assert _wait(lambda: not any(_running(p) for p in workers), 5), \
            [p for p in workers if _running(p)]
    finally:
        _kill_all(proc, workers)
    err = err_path.read_text()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"vbq: interrupted: the batch was stopped by {sig.name}: its "
                               "worker processes were ended and the "), lines[0]
    assert f"kept in {out}; run it again with --resume" in lines[0]
    after = out.read_bytes()
    assert after.startswith(written)  # every row written before the signal is still there
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["status"] == "ok" for r in rows)
    if sig == signal.SIGTERM:
        assert main(["batch", str(manifest), "--out", str(out), "--resume"]) == 0
        capsys.readouterr()
        with out.open(newline="") as fh:
            final = {r["id"]: r for r in csv.DictReader(fh)}
        assert sorted(final) == [f"r{k:02d}" for k in range(N_ROWS)]
        for r in rows:
            assert final[r["id"]] == r  # kept as written, not scored again


def test_in_process_a_sigterm_stops_the_batch_and_restores_the_handlers(manifest, tmp_path):
    out = tmp_path / "out.csv"
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen: list[str] = []

    def signal_after_two(row):
        seen.append(row["id"])
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(BatchInterrupted) as info:
        run_batch(manifest, out, on_row=signal_after_two)
    assert info.value.exit_code == 143 and isinstance(info.value, KeyboardInterrupt)
    assert "the 2 rows finished so far are kept" in str(info.value)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    with out.open(newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == seen


SLOW_WORKERS = '''
import time

import vbq.batch as batch

_score = batch.process_task


def _slow(task):
    # after the first rows, each row takes a minute: a worker is busy when the signal comes
    if task.id >= "r03":
        time.sleep(60)
    return _score(task)


batch.process_task = _slow
'''


def test_a_signal_ends_workers_in_the_middle_of_a_long_row(manifest, tmp_path):
    """Workers busy with a row that takes a minute are ended at once, not when it is done.

    A ``sitecustomize`` module (run by every Python process started with it on the
    path, the pool's spawned workers included) makes every row after the first three
    sleep for 60 s; the workers must be gone within 5 s of SIGTERM.
    """
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_WORKERS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = tmp_path / "out.csv"
    workers: list[int] = []
    proc = subprocess.Popen(
        [sys.executable, "-m", "vbq.cli", "batch", str(manifest), "--out", str(out),
         "--workers", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert _wait(lambda: _lines(out) >= 4 or proc.poll() is not None, 40), \
            "the first rows were not written within 40 s"
        assert _wait(lambda: len(_children(proc.pid)) >= 3, 10)
        time.sleep(0.5)   # the workers have taken the slow rows
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 128 + signal.SIGTERM
        assert _wait(lambda: not any(_running(p) for p in workers), 5), \
            [p for p in workers if _running(p)]
    finally:
        _kill_all(proc, workers)
