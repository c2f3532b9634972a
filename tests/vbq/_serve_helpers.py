"""Shared by the workstation tests: a phantom study, a running ``vbq serve`` and its address."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VBQ = [sys.executable, "-m", "vbq.cli"]


def need_chromium() -> None:
    """Skip without Chromium or Playwright, except under CI=true, where that is a failure."""
    missing = None
    if not os.path.exists(CHROMIUM):
        missing = f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (test extra)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {missing}")
        pytest.skip(missing)


@dataclass
class Server:
    """A ``vbq serve`` process and what it printed."""

    proc: subprocess.Popen
    url: str
    token: str
    base: str
    db: Path
    out: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_server(folder: Path, db: Path, out: Path, *extra: str, timeout: float = 60.0) -> Server:
    """Start ``vbq serve FOLDER --port 0`` and read the address it prints on stdout."""
    proc = subprocess.Popen([*VBQ, "serve", str(folder), "--port", "0", "--db", str(db),
                             "--out", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError("vbq serve printed no address: "
                             + (proc.stderr.read() if proc.stderr else "")) from None
    url = line.strip()
    parts = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(parts.query)["token"][0]
    return Server(proc, url, token, f"{parts.scheme}://{parts.netloc}", db, out)


def phantom(folder: Path, **kwargs) -> dict:
    """A phantom study (simple anatomy, no distractor series unless asked) and its seeds."""
    from vbq.phantom import make_phantom

    kwargs.setdefault("distractors", ())
    info = make_phantom(folder, vbq=kwargs.pop("vbq", 3.0), seed=kwargs.pop("seed", 1), **kwargs)
    return {"info": info, "series": info.series_dir,
            "seeds": json.loads(info.seeds_path.read_text()),
            "rois": json.loads(info.rois_path.read_text()),
            "series_uid": info.series_instance_uid}


#: The access token and address of the in-process test clients.
TOKEN = "t" * 43
BASE = "http://127.0.0.1:8765"


def client_for(studies: dict, tmp_path: Path, **options):
    """A Starlette test client of a workstation on ``studies["folder"]``, with the token sent."""
    from starlette.testclient import TestClient

    from vbq.serve.app import ServeConfig, Workstation, create_app

    config = ServeConfig(folder=studies["folder"], db=tmp_path / "r.sqlite",
                         out=tmp_path / "exports", token=TOKEN, host="127.0.0.1", port=8765,
                         **options)
    return TestClient(create_app(config, Workstation(config)), base_url=BASE,
                      headers={"Authorization": f"Bearer {TOKEN}"})
