"""The reading workstation in headless Chromium: click the bodies and the CSF, save, exclude.

The reference for every number is ``vbq score --rois`` run as a separate process on the ROI
file the page saved: the saved VBQ must equal it exactly (same ROIs, same code path).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from _serve_helpers import CHROMIUM, CHROMIUM_ARGS, VBQ, need_chromium, phantom, start_server

pytestmark = pytest.mark.slow


def cli_score(series, rois_doc, tmp_path, name):
    path = tmp_path / name
    path.write_text(json.dumps(rois_doc))
    out = subprocess.run([*VBQ, "score", str(series), "--rois", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_read_a_phantom_in_the_browser(tmp_path):
    need_chromium()
    from playwright.sync_api import sync_playwright

    from vbq.serve.storage import ReadingStore

    ph = phantom(tmp_path / "study")
    server = start_server(ph["series"], tmp_path / "r.sqlite", tmp_path / "exports")
    errors: list[str] = []
    requests: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 860})
            try:
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(server.url)
                assert "token=" not in page.url  # the token went into a cookie
                page.fill("#reader", "ann")
                page.click("#reader-start")
                page.wait_for_selector("#worklist tbody tr")
                page.click("#worklist tbody tr")
                page.wait_for_function("window.vbq.state.img !== null")
                # it opens on the series' middle slice, where the phantom's ROIs lie
                assert page.evaluate("window.vbq.state.slice") == ph["rois"]["slice"]

                def click_at(r, c):
                    box = page.locator("#view").bounding_box()
                    x, y = page.evaluate(f"window.vbq.toScreen({r}, {c})")
                    page.mouse.click(box["x"] + x, box["y"] + y)

                points = {s["label"]: s["point"] for s in ph["seeds"]["seeds"]}
                for label in ("L1", "L2", "L3", "L4", "CSF"):
                    page.click(f"#labels button[data-label={label}]")
                    before = page.evaluate(
                        f"JSON.stringify(window.vbq.state.clicks.{label} || null)")
                    click_at(*points[label])
                    page.wait_for_function(
                        f"window.vbq.state.rois.{label} && window.vbq.state.clicks.{label} && "
                        f"JSON.stringify(window.vbq.state.clicks.{label}) !== '{before}' && "
                        "!document.querySelector('#status').textContent.startsWith('proposing')")
                page.wait_for_function("document.querySelector('#vbq-value').dataset.vbq !== ''")
                prov = page.evaluate("window.vbq.provenance()")
                assert prov == {k: "accepted_proposal" for k in ("L1", "L2", "L3", "L4", "CSF")}
                page.click("#save")
                page.wait_for_function("document.querySelector('#save-info').dataset.readingId")
                reading_id = int(page.get_attribute("#save-info", "data-reading-id"))
                shown = float(page.get_attribute("#vbq-value", "data-vbq"))
                page.screenshot(path=str(tmp_path / "workstation.png"))

                # drag L4's ellipse by a few pixels: an edited proposal
                box = page.locator("#view").bounding_box()
                l4 = page.evaluate("window.vbq.state.rois.L4.center")
                x, y = page.evaluate(f"window.vbq.toScreen({l4[0]}, {l4[1]})")
                page.mouse.move(box["x"] + x, box["y"] + y)
                page.mouse.down()
                page.mouse.move(box["x"] + x + 6, box["y"] + y + 3, steps=4)
                page.mouse.up()
                assert page.evaluate("window.vbq.provenance()")["L4"] == "edited_proposal"

                # exclude L2: the score changes to that of the same ROIs with L2 left out
                vbq_before = page.evaluate("window.vbq.state.result.vbq")
                page.select_option("select[data-level=L2]", "fracture")
                page.wait_for_function(
                    f"window.vbq.state.result && window.vbq.state.result.vbq !== {vbq_before!r}")
                excluded_doc = page.evaluate("window.vbq.roiDocument()")
                excluded_vbq = page.evaluate("window.vbq.state.result.vbq")
            finally:
                browser.close()
    finally:
        server.stop()
    assert errors == []
    # nothing is fetched from anywhere but this server (blob: URLs are its own images)
    outside = [u for u in requests if not u.startswith((server.base, f"blob:{server.base}"))]
    assert outside == []

    reading = ReadingStore(server.db).get(reading_id)
    reference = cli_score(ph["series"], reading.rois, tmp_path, "saved.json")
    assert reading.result["vbq"] == reference["vbq"] == shown
    assert reading.roi_provenance == ("L1:accepted_proposal;L2:accepted_proposal;"
                                      "L3:accepted_proposal;L4:accepted_proposal;"
                                      "CSF:accepted_proposal")
    assert excluded_doc["exclude"] == {"L2": "fracture"}
    ref_excluded = cli_score(ph["series"], excluded_doc, tmp_path, "excluded.json")
    assert excluded_vbq == ref_excluded["vbq"] != reference["vbq"]
    assert ref_excluded["levels"]["L2"]["used"] is False
    # the phantom's truth: proposed ROIs inside the bodies and the sac score near it
    assert reference["vbq"] == pytest.approx(ph["info"].vbq, rel=0.05)
    assert (tmp_path / "workstation.png").stat().st_size > 20_000
    files = sorted(p.name for p in server.out.iterdir())
    assert len(files) == 5 and all(f.startswith("VBQ-PHANTOM_") for f in files), files
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
