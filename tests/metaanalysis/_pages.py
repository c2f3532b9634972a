"""Open a self-contained report page in headless Chromium (Debian's; no browser download)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class OpenedPage:
    """What the browser saw: script errors, outside requests, images and h2 headings."""

    errors: list[str]
    outside_requests: list[str]
    images: list[tuple[str, bool, int]]
    headings: list[str]


def open_page(page_file: Path, work: Path, screenshot: str) -> OpenedPage:
    """Load ``page_file`` and write a full-page screenshot to ``work / screenshot``.

    Skips when Chromium is missing, except under ``CI=true`` (where .ci/run installs it),
    where a missing browser fails the test.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI; .ci/run installs Debian's chromium")
        pytest.skip(f"Debian's chromium ({CHROMIUM}) is not installed; .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(work / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
            headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            page.screenshot(path=str(work / screenshot), full_page=True)
        finally:
            browser.close()
    shutil.rmtree(work / "profile", ignore_errors=True)
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    return OpenedPage(errors, outside, [tuple(i) for i in images], headings)
