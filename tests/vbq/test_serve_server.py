"""``vbq serve`` as a real process on 127.0.0.1: address, speed, restarts, a kill during saves,
a bounded load test, and the web packages imported by this command only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from _serve_helpers import VBQ, phantom, start_server

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 15-slice 512 x 512 phantom study, the size the speed targets are set for."""
    root = tmp_path_factory.mktemp("serve_big")
    return phantom(root / "study", rows=512, n_slices=15)


def server_ms(resp) -> float:
    return float(resp.headers["server-timing"].split("dur=")[1])


def snapshot(folder):
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_address_first_slice_speed_and_nothing_written_to_the_folder(big, tmp_path):
    before = snapshot(big["series"])
    server = start_server(big["series"], tmp_path / "r.sqlite", tmp_path / "out")
    try:
        assert server.url.startswith("http://127.0.0.1:") and "?token=" in server.url
        with httpx.Client(base_url=server.base, headers=server.headers(), timeout=30) as c:
            uid = big["series_uid"]
            # speed (first slice, propose and score server time) is measured by
            # benchmarks/bench_serve.py, not asserted here: a shared CI machine's timings are not
            # a property of the code
            first = c.get(f"/api/series/{uid}/slices/7.png")
            assert first.status_code == 200 and first.content[:4] == b"\x89PNG"
            rois = big["rois"]
            times = {"score": [], "propose": []}
            for _ in range(8):
                s = c.post("/api/score", json={"series_uid": uid, "rois": rois})
                p = c.post("/api/propose", json={"series_uid": uid, "seeds": big["seeds"]})
                assert s.status_code == 200 and p.status_code == 200, (s.text, p.text)
                times["score"].append(server_ms(s))
                times["propose"].append(server_ms(p))
            # every request reports its server time
            assert all(t > 0 for t in times["score"] + times["propose"]), times
            saved = c.post("/api/readings", json={"reader": "ann", "series_uid": uid,
                                                  "rois": rois, "export": True})
            assert saved.status_code == 200
            # DNS rebinding: a request for another host name is refused by the real server too
            evil = c.get("/api/studies", headers={"Host": "attacker.example"})
            assert evil.status_code == 403
    finally:
        server.stop()
    err = server.proc.stderr.read() if server.proc.stderr else ""
    assert "Phantom" not in err and "Lumbar" not in err  # no patient name in the log
    assert str(tmp_path / "r.sqlite") in err  # the database is named at start
    assert snapshot(big["series"]) == before  # a read-only folder would do


def test_a_kill_during_saves_loses_no_acknowledged_reading(big, tmp_path):
    from vbq.serve.storage import ReadingStore

    db = tmp_path / "r.sqlite"
    server = start_server(big["series"], db, tmp_path / "out")
    acknowledged: list[int] = []
    stop = threading.Event()

    def saver(reader):
        with httpx.Client(base_url=server.base, headers=server.headers(), timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post("/api/readings", json={"reader": reader,
                                                      "series_uid": big["series_uid"],
                                                      "rois": big["rois"]})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.append(r.json()["reading_id"])

    threads = [threading.Thread(target=saver, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)  # in the middle of saving
    server.proc.wait(timeout=20)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 12
    store = ReadingStore(db)
    n = store.check()  # SQLite's integrity check and every reading's checksum
    kept = {r.reading_id for r in store.readings(current_only=False)}
    assert set(acknowledged) <= kept and n == len(kept)
    # after a restart the readings are there and new ones follow them
    again = start_server(big["series"], db, tmp_path / "out")
    try:
        with httpx.Client(base_url=again.base, headers=again.headers(), timeout=30) as c:
            r = c.post("/api/readings", json={"reader": "r0", "series_uid": big["series_uid"],
                                              "rois": big["rois"]})
            assert r.status_code == 200 and r.json()["reading_id"] == max(kept) + 1
            listed = c.get("/api/readings", params={"reader": "r0"}).json()
            assert [x["reading_id"] for x in listed] == [r.json()["reading_id"]]
            assert listed[0]["replaces"] in kept  # the edit chain goes on across the restart
    finally:
        again.stop()
    assert ReadingStore(db).check() == n + 1


def dragged(rois: dict, k: int) -> dict:
    """The ROI document with L2 moved by whole pixels: position ``k`` of 7 x 7."""
    doc = json.loads(json.dumps(rois))
    l2 = next(r for r in doc["rois"] if r["label"] == "L2")
    dr, dc = k // 7 - 3, k % 7 - 3
    for point in l2["points"] if "points" in l2 else [l2.get("center", l2.get("corner"))]:
        point[0] += dr
        point[1] += dc
    return doc


@pytest.mark.slow
def test_twenty_clients_scoring_for_thirty_seconds_get_no_error(big, tmp_path):
    """Readers dragging L2 through 49 positions, more than the 32 canal summaries a series
    keeps, so requests are also scored afresh; each answer is that of the same ROIs scored
    alone beforehand, whole (the VBQ, every level, the slice's distance from the plane)."""
    server = start_server(big["series"], tmp_path / "r.sqlite", tmp_path / "out")
    duration = 30.0
    errors: list[str] = []
    counts: list[int] = []
    docs = [dragged(big["rois"], k) for k in range(49)]
    uid = big["series_uid"]

    def client(who: int) -> None:
        n = 0
        try:
            with httpx.Client(base_url=server.base, headers=server.headers(),
                              timeout=60) as c:
                end = time.monotonic() + duration
                while time.monotonic() < end:
                    k = (who * 7 + n) % len(docs)
                    r = c.post("/api/score", json={"series_uid": uid, "rois": docs[k]})
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                        break
                    if r.json() != want[k]:
                        errors.append(f"position {k}: VBQ {r.json()['vbq']} (L2 "
                                      f"{r.json()['levels']['L2']['si']}) != {want[k]['vbq']} "
                                      f"({want[k]['levels']['L2']['si']}), or another part")
                    n += 1
        except httpx.HTTPError as err:
            errors.append(repr(err))
        counts.append(n)

    try:
        with httpx.Client(base_url=server.base, headers=server.headers(), timeout=60) as c:
            want = []
            for doc in docs:
                r = c.post("/api/score", json={"series_uid": uid, "rois": doc})
                assert r.status_code == 200, r.text
                want.append(r.json())
        # the positions are told apart (L2's signal; the VBQ may stay the same)
        assert len({w["levels"]["L2"]["si"] for w in want}) > 1
        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 120)
    finally:
        server.stop()
    assert errors == []
    assert len(counts) == 20 and min(counts) >= 1
    print(f"load: {sum(counts)} scores by 20 clients in {duration:.0f} s")


def test_web_packages_are_imported_only_by_vbq_serve(tmp_path):
    ph = phantom(tmp_path / "p", n_slices=5)
    code = (
        "import sys, io, contextlib\n"
        "import vbq, vbq.cli\n"
        "vbq.cli.build_parser()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = vbq.cli.main(['score', {str(ph['series'])!r}, '--rois', "
        f"{str(ph['info'].rois_path)!r}, '--json'])\n"
        "assert rc == 0, rc\n"
        "web = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'httpx', 'anyio', 'vbq'))\n"
        "print(json.dumps([m for m in web\n"
        "                  if not m.startswith('vbq') or m.startswith('vbq.serve')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_serve_bad_options_exit_2_with_one_sentence(tmp_path):
    for args in (["serve", str(tmp_path / "missing")],
                 ["serve", str(tmp_path), "--port", "70000"],
                 ["serve", str(tmp_path), "--port", "x"]):
        out = subprocess.run([*VBQ, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
