"""Shared by the workstation tests: a phantom study, a running ``vbq serve`` and its address."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
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
#: Chromium logs every failed response as a console error; those are checked on their own
FAILED_RESOURCE = "Failed to load resource: the server responded with a status of"


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


class Page:
    """The page, with what it posted and what went wrong."""

    def __init__(self, page) -> None:
        self.page = page
        self.posts: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self.failed: list = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                and not m.text.startswith(FAILED_RESOURCE) else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: self.failed.append(r) if r.status >= 400 else None)
        page.on("request", lambda r: self.posts.append(
            (r.url.split("?")[0].rsplit("/api/", 1)[-1], json.loads(r.post_data)))
            if r.method == "POST" else None)

    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def screen(self, r: float, c: float) -> tuple[float, float]:
        box = self.page.locator("#view").bounding_box()
        x, y = self.js("([r, c]) => window.vbq.toScreen(r, c)", [r, c])
        return box["x"] + x, box["y"] + y

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.page.mouse.move(*start)
        self.page.mouse.down()
        self.page.mouse.move(*end, steps=5)
        self.page.mouse.up()

    def doc(self) -> dict:
        return self.js("window.vbq.roiDocument()")

    def entry(self, label: str) -> dict | None:
        return next((e for e in self.doc()["rois"] if e["label"] == label), None)

    def settled(self) -> dict:
        """The live score of the ROIs now on the page (it fails with the page's error)."""
        self.page.wait_for_function(
            "window.vbq.state.scored === JSON.stringify(window.vbq.roiDocument())")
        res = self.js("window.vbq.state.result")
        assert res is not None, self.js("window.vbq.state.lastScore")
        return res

    def last_post(self, what: str) -> dict:
        return [body for path, body in self.posts if path == what][-1]

    def inside_count(self, label: str) -> int:
        """Pixel centres the page's own membership puts in a ROI."""
        return self.js("""(label) => {
            const S = window.vbq.state, roi = S.rois[label]; let n = 0;
            for (let r = 0; r < S.series.rows; r++)
              for (let c = 0; c < S.series.cols; c++) if (window.vbq.inside(roi, r, c)) n++;
            return n; }""", label)

    def colours(self, pixels) -> list[list[int]]:
        """The canvas colour at the centres of image pixels ``[r, c]``."""
        return self.js("""(pts) => {
            const g = document.querySelector('#view').getContext('2d');
            return pts.map(([r, c]) => {
              const [x, y] = window.vbq.toScreen(r, c);
              return Array.from(g.getImageData(Math.floor(x), Math.floor(y), 1, 1).data); }); }""",
                       [list(p) for p in pixels])


def launch(pw, tmp_path):
    """Debian's Chromium, headless, with a fresh profile under ``tmp_path`` and a wide window."""
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 860})


def open_page(pw, tmp_path, server, wait_slice: int):
    """Chromium on the server's page, a reader chosen, the study open on slice ``wait_slice``."""
    browser = launch(pw, tmp_path)
    page = browser.new_page()
    page.set_default_timeout(20_000)
    p = Page(page)
    page.goto(server.url)
    page.fill("#reader", "dee")
    page.click("#reader-start")
    page.wait_for_selector("#worklist tbody tr")
    page.click("#worklist tbody tr")
    page.wait_for_function("window.vbq.state.img !== null")
    p.js(f"window.vbq.setSlice({wait_slice})")
    page.wait_for_function(f"window.vbq.state.slice === {wait_slice} && "
                           f"window.vbq.state.imgKey.includes('/{wait_slice}/')")
    return browser, p


@contextlib.contextmanager
def bare_page(tmp_path, series_dir):
    """A ``vbq serve`` of ``series_dir`` and a Chromium page not yet on it (no reader chosen).

    Yields ``(server, page)``; the test navigates. On leaving, the browser and the
    server are stopped, and the page must have had no script error and no failed
    response.
    """
    need_chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(series_dir, tmp_path / "r.sqlite", tmp_path / "exports")
    try:
        with sync_playwright() as pw:
            browser = launch(pw, tmp_path)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                p = Page(page)
                yield server, p
                errors = list(p.errors)
                failed = [(r.status, r.request.method, r.url, r.text()) for r in p.failed]
            finally:
                browser.close()
    finally:
        server.stop()
    assert errors == [] and failed == []


@contextlib.contextmanager
def served(tmp_path, series_dir, wait_slice: int):
    """A ``vbq serve`` of ``series_dir`` and Chromium on its page (:func:`open_page`).

    Yields ``(server, page)``; on leaving, the browser and the server are stopped,
    and the page must have had no script error and no failed response.
    """
    need_chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(series_dir, tmp_path / "r.sqlite", tmp_path / "exports")
    try:
        with sync_playwright() as pw:
            browser, p = open_page(pw, tmp_path, server, wait_slice)
            try:
                yield server, p
                errors = p.errors
                failed = [(r.status, r.request.method, r.url.split("?")[0], r.text())
                          for r in p.failed]
            finally:
                browser.close()
    finally:
        server.stop()
    assert errors == [] and failed == []
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
