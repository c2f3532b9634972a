"""The reading workstation in headless Chromium: click the bodies and the CSF, save, exclude.

The reference for every number is ``vbq score --rois`` run as a separate process on the ROI
file the page saved: the saved VBQ must equal it exactly (same ROIs, same code path).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.parse
import urllib.request

import pydicom
import pytest
from _serve_helpers import FAILED_RESOURCE, VBQ, launch, need_chromium, phantom, start_server

pytestmark = pytest.mark.slow

def _check_failed(failed: list[tuple[int, str, str]]) -> None:
    """Allow only the API's own refusals of an ROI being edited: 4xx answers from /api/.

    The page shows their one-sentence error (the API tests check that every refusal is one
    sentence of JSON). A failed page, script or image request, or any 5xx, fails the test.
    """
    for status, method, url in failed:
        assert 400 <= status < 500 and "/api/" in url and not url.endswith(".png"), (
            status, method, url)


def cli_score(series, rois_doc, tmp_path, name):
    path = tmp_path / name
    path.write_text(json.dumps(rois_doc))
    out = subprocess.run([*VBQ, "score", str(series), "--rois", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def open_reading_page(pw, tmp_path, server, reader):
    """Chromium on the server's page with a reader chosen and the first study open.

    Returns the browser, the page and the lists the page's script errors, failed
    responses and requested addresses are collected in.
    """
    browser = launch(pw, tmp_path)
    page = browser.new_page()
    seen: dict[str, list] = {"errors": [], "failed": [], "requests": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error"
            and not m.text.startswith(FAILED_RESOURCE) else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("response", lambda r: seen["failed"].append(
        (r.status, r.request.method, r.url.split("?")[0])) if r.status >= 400 else None)
    page.goto(server.url)
    page.fill("#reader", reader)
    page.click("#reader-start")
    page.wait_for_selector("#worklist tbody tr")
    page.click("#worklist tbody tr")
    page.wait_for_function("window.vbq.state.img !== null")
    return browser, page, seen


def test_read_a_phantom_in_the_browser(tmp_path):
    need_chromium()
    from playwright.sync_api import sync_playwright

    from vbq.serve.storage import ReadingStore

    ph = phantom(tmp_path / "study")
    server = start_server(ph["series"], tmp_path / "r.sqlite", tmp_path / "exports")
    try:
        with sync_playwright() as pw:
            browser, page, seen = open_reading_page(pw, tmp_path, server, "ann")
            try:
                assert "token=" not in page.url  # the token went into a cookie
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
                # the score at the top of its pane (saving scrolled to the button), as the
                # README's picture (docs/workstation.png) shows it
                page.evaluate("document.querySelector('#result-pane').scrollTop = 0")
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
    assert seen["errors"] == []
    _check_failed(seen["failed"])
    # nothing is fetched from anywhere but this server (blob: URLs are its own images)
    outside = [u for u in seen["requests"]
               if not u.startswith((server.base, f"blob:{server.base}"))]
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


class Page:
    """The workstation page in Playwright, with pointer gestures in image pixels."""

    def __init__(self, page) -> None:
        self.page = page

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def screen(self, r: float, c: float) -> tuple[float, float]:
        """The page point (CSS pixels) showing the centre of image pixel (r, c)."""
        box = self.page.locator("#view").bounding_box()
        x, y = self.js(f"window.vbq.toScreen({r}, {c})")
        return box["x"] + x, box["y"] + y

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
        self.page.mouse.move(*start)
        self.page.mouse.down()
        self.page.mouse.move(*end, steps=steps)
        self.page.mouse.up()

    def tool(self, name: str) -> None:
        self.page.check(f"input[name=tool][value={name}]")

    def settled(self) -> dict:
        """Wait until the live result is that of the ROIs now on the page, and return it."""
        self.page.wait_for_function(
            "window.vbq.state.result !== null && "
            "window.vbq.state.scored === JSON.stringify(window.vbq.roiDocument())")
        return self.js("window.vbq.state.result")

    def roi(self, label: str) -> dict:
        return self.js(f"window.vbq.state.rois.{label}")


def pixels_inside(page: Page, label: str) -> int:
    """Pixel centres the page's own hit test puts inside a ROI (its idea of the shape)."""
    return page.js(f"""(() => {{
        const roi = window.vbq.state.rois.{label}; let n = 0;
        for (let r = 0; r < window.vbq.state.series.rows; r++)
          for (let c = 0; c < window.vbq.state.series.cols; c++)
            if (window.vbq.inside(roi, r, c)) n++;
        return n; }})()""")


def outline(page: Page, label: str, rgb: tuple[int, int, int]) -> list[list[int]]:
    """Canvas pixels ``[x, y]`` drawn in a ROI's colour, its name's text left out."""
    return page.js(f"""(() => {{
        const cv = document.querySelector('#view'), S = window.vbq.state;
        const roi = S.rois.{label};
        const [x0, y0] = window.vbq.toScreen(roi.center[0], roi.center[1]);
        const data = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        const out = [];
        for (let y = 0; y < cv.height; y++) for (let x = 0; x < cv.width; x++) {{
          const k = 4 * (y * cv.width + x);
          if (Math.abs(data[k] - {rgb[0]}) > 25 || Math.abs(data[k + 1] - {rgb[1]}) > 25 ||
              Math.abs(data[k + 2] - {rgb[2]}) > 25) continue;
          if (x >= x0 + roi.radii[1] * S.zoom + 2 && y >= y0 - 20 && y <= y0) continue;
          out.push([x, y]);
        }}
        return out; }})()""")


def test_edit_view_and_switch_in_the_browser(tmp_path):
    """Resize, rotate, delete, draw, zoom, pan, window/level, save, read mark, series switch."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    from vbq.dicom.choice import choose_series
    from vbq.dicom.index import index_folder
    from vbq.serve.storage import ReadingStore

    ph = phantom(tmp_path / "study", distractors=("t2",))
    choice = choose_series(index_folder(ph["series"]))
    assert choice.series.series_instance_uid == ph["series_uid"]
    (t2_uid, _, t2_reason), = choice.rejected
    server = start_server(ph["series"], tmp_path / "r.sqlite", tmp_path / "exports")
    live: dict = {}
    try:
        with sync_playwright() as pw:
            browser, page, seen = open_reading_page(pw, tmp_path, server, "bea")
            requests = seen["requests"]
            try:
                p = Page(page)
                read_cell = "#worklist tbody tr td:nth-child(4)"
                assert page.text_content(read_cell) == ""  # not read yet
                assert page.text_content("#series-reason") == f"Chosen: {choice.reason}"

                points = {s["label"]: s["point"] for s in ph["seeds"]["seeds"]}
                for label in ("L1", "L2", "L3", "L4", "CSF"):
                    page.click(f"#labels button[data-label={label}]")
                    before = p.js(f"JSON.stringify(window.vbq.state.clicks.{label} || null)")
                    page.mouse.click(*p.screen(*points[label]))
                    page.wait_for_function(
                        f"window.vbq.state.rois.{label} && window.vbq.state.clicks.{label} && "
                        f"JSON.stringify(window.vbq.state.clicks.{label}) !== '{before}' && "
                        "!document.querySelector('#status').textContent.startsWith('proposing')")
                p.settled()

                # zoom (ctrl + wheel) about the pointer, then pan: the view changes, the ROIs
                # stay on the anatomy (their pixel coordinates do not move)
                doc = p.js("window.vbq.roiDocument()")
                zoom0, tx0, ty0 = p.js("[window.vbq.state.zoom, window.vbq.state.tx, "
                                       "window.vbq.state.ty]")
                l1 = p.roi("L1")["center"]
                at = tuple(round(v) for v in p.screen(*l1))  # a whole CSS pixel, as events give
                page.mouse.move(*at)
                page.keyboard.down("Control")
                page.mouse.wheel(0, -240)
                page.keyboard.up("Control")
                page.wait_for_function(f"window.vbq.state.zoom > {zoom0}")
                zoom = p.js("window.vbq.state.zoom")
                box = page.locator("#view").bounding_box()
                before = [(at[1] - box["y"] - ty0) / zoom0, (at[0] - box["x"] - tx0) / zoom0]
                under = p.js(f"window.vbq.toImage({at[0] - box['x']}, {at[1] - box['y']})")
                assert under == pytest.approx(before, abs=1e-9)  # the point under the pointer stays
                p.tool("pan")
                shown = p.screen(*l1)
                tx, ty = p.js("[window.vbq.state.tx, window.vbq.state.ty]")
                p.drag((box["x"] + 300, box["y"] + 300), (box["x"] + 260, box["y"] + 330))
                assert p.js("[window.vbq.state.tx, window.vbq.state.ty]") == [tx - 40, ty + 30]
                assert p.js("window.vbq.roiDocument()") == doc
                assert p.screen(*l1) == pytest.approx((shown[0] - 40, shown[1] + 30), abs=1e-9)
                p.tool("place")

                # resize L1 by its lower square handle, in the zoomed and panned view
                page.click("#labels button[data-label=L1]")
                roi = p.roi("L1")
                (r0, c0), (ry, rx) = roi["center"], roi["radii"]
                a = math.radians(roi["angle_deg"])  # the proposal may be tilted
                row, col = (math.cos(a), math.sin(a)), (-math.sin(a), math.cos(a))

                def on_axis(axis, d):
                    return p.screen(r0 + d * axis[0], c0 + d * axis[1])

                p.drag(on_axis(row, ry), on_axis(row, ry + 8 / zoom))  # the lower square handle
                roi = p.roi("L1")
                assert roi["radii"][0] == pytest.approx(ry + 8 / zoom, abs=1 / zoom + 0.01)
                assert roi["radii"][1] == rx and roi["center"] == [r0, c0]
                p.drag(on_axis(col, rx), on_axis(col, rx - 6 / zoom))  # the right square handle
                roi = p.roi("L1")
                assert roi["radii"][1] == pytest.approx(rx - 6 / zoom, abs=1 / zoom + 0.01)
                assert p.js("window.vbq.provenance()")["L1"] == "edited_proposal"

                # rotate L2 by its round handle to -30 degrees (clockwise as displayed)
                page.click("#labels button[data-label=L2]")
                roi = p.roi("L2")
                (r0, c0), (ry, rx) = roi["center"], roi["radii"]
                reach = ry + 14 / zoom  # the round handle's distance from the centre
                a0, a = math.radians(roi["angle_deg"]), math.radians(-30)
                p.drag(p.screen(r0 - reach * math.cos(a0), c0 - reach * math.sin(a0)),
                       p.screen(r0 - reach * math.cos(a), c0 - reach * math.sin(a)), steps=10)
                roi = p.roi("L2")
                # a whole CSS pixel of pointer rounding on each axis (sqrt(2) pixels across) at
                # the handle's distance, and the 0.1 degree the page rounds to
                tol = math.degrees(math.atan(math.sqrt(2) / (reach * zoom))) + 0.05
                assert roi["angle_deg"] == pytest.approx(-30, abs=tol)
                assert roi["center"] == [r0, c0] and roi["radii"] == [ry, rx]
                assert p.js("window.vbq.provenance()")["L2"] == "edited_proposal"
                live["rotated"] = (p.js("window.vbq.roiDocument()"), p.settled())
                live["rotated_inside"] = pixels_inside(p, "L2")
                page.click("#labels button[data-label=CSF]")  # L2's handles are hidden
                live["rotated_outline"] = outline(p, "L2", (255, 209, 102))
                live["rotated_view"] = p.js("[window.vbq.state.zoom, window.vbq.state.tx, "
                                            "window.vbq.state.ty]")

                # back to the whole image (Fit), where L4 is in view
                page.click("#fit")
                zoom = p.js("window.vbq.state.zoom")

                # delete L4 (Delete key on the viewer): scored without it
                page.click("#labels button[data-label=L4]")
                page.focus("#view")
                page.keyboard.press("Delete")
                assert p.roi("L4") is None and p.js("window.vbq.state.active") == "L4"
                live["deleted"] = (p.js("window.vbq.roiDocument()"), p.settled())

                # draw L4 by hand inside the phantom's L4 body (a rectangle in its truth file)
                truth = next(r for r in ph["rois"]["rois"] if r["label"] == "L4")
                (cr, cc), (sr, sc) = truth["corner"], truth["size"]
                p.tool("draw")
                start, end = (cr + 2, cc + 2), (cr + sr - 2, cc + sc - 2)
                p.drag(p.screen(*start), p.screen(*end))
                roi = p.roi("L4")
                assert p.js("window.vbq.provenance()")["L4"] == "hand_drawn"
                assert roi["center"] == pytest.approx([(start[0] + end[0]) / 2,
                                                       (start[1] + end[1]) / 2], abs=1 / zoom)
                assert roi["radii"] == pytest.approx([(sr - 4) / 2, (sc - 4) / 2], abs=1 / zoom)
                assert roi["angle_deg"] == 0 and roi["slice"] == p.js("window.vbq.state.slice")
                p.tool("place")
                live["drawn"] = (p.js("window.vbq.roiDocument()"), p.settled())

                # window/level: drag right widens the window, down lowers the level
                live["wl_slice"] = p.js("window.vbq.state.slice")
                n_requests = len(requests)
                p.tool("window")
                # a click without a drag, then the pointer moves with no button down: no change
                page.mouse.click(box["x"] + 200, box["y"] + 200)
                page.wait_for_timeout(300)
                page.mouse.move(box["x"] + 400, box["y"] + 100, steps=5)
                assert p.js("[window.vbq.state.drag, window.vbq.state.window]") == [None, None]
                p.drag((box["x"] + 60, box["y"] + 60), (box["x"] + 100, box["y"] + 90))
                page.wait_for_function("window.vbq.state.img !== null && "
                                       "window.vbq.state.imgKey.endsWith("
                                       "`/${window.vbq.state.window}/${window.vbq.state.level}`)")
                live["wl"] = p.js("[window.vbq.state.window, window.vbq.state.level]")
                live["wl_requests"] = [u for u in requests[n_requests:] if ".png?" in u]
                live["wl_text"] = page.text_content("#wl-info")
                p.tool("place")

                # save: the worklist marks the study read
                assert p.roi("L4") is not None and p.js("window.vbq.state.exclude") == {}
                page.click("#save")
                page.wait_for_function("document.querySelector('#save-info').dataset.readingId")
                reading_id = int(page.get_attribute("#save-info", "data-reading-id"))
                page.wait_for_function(
                    f"document.querySelector('{read_cell}').textContent === '\\u2713'")
                live["saved_shown"] = float(page.get_attribute("#vbq-value", "data-vbq"))

                # switch to the T2 series: its reason is shown, the reading starts afresh
                page.select_option("#series-select", t2_uid)
                page.wait_for_function(
                    f"window.vbq.state.imgKey && window.vbq.state.imgKey.startsWith('{t2_uid}/')")
                live["t2_reason"] = page.text_content("#series-reason")
                live["t2_others"] = page.text_content("#series-rejected")
                live["t2_state"] = p.js("[window.vbq.state.rois, window.vbq.state.result, "
                                        "document.querySelector('#save-info').dataset.readingId "
                                        "|| null]")
                page.screenshot(path=str(tmp_path / "t2.png"))
            finally:
                browser.close()
        # the automatic window/level of that slice, as the server renders it
        req = urllib.request.Request(
            f"{server.base}/api/series/{ph['series_uid']}/slices/{live['wl_slice']}.png",
            headers=server.headers())
        with urllib.request.urlopen(req, timeout=30) as resp:
            auto_wl = float(resp.headers["X-Window"]), float(resp.headers["X-Level"])
    finally:
        server.stop()
    assert seen["errors"] == []
    _check_failed(seen["failed"])

    # the rotated L2 is measured as shown: its pixels are those the page calls inside, and
    # the live score is that of vbq score on the same ROI file
    doc, res = live["rotated"]
    assert res["levels"]["L2"]["n_pixels"] == live["rotated_inside"]
    assert cli_score(ph["series"], doc, tmp_path, "rotated.json")["vbq"] == res["vbq"]
    l2 = next(r for r in doc["rois"] if r["label"] == "L2")
    assert l2["angle_deg"] != 0
    # the outline drawn is that shape: every pixel stroked in L2's colour lies on the ellipse
    # of the format's rule, within the stroke's half width and a pixel
    zoom, tx, ty = live["rotated_view"]
    (r0, c0), (ry, rx) = l2["center"], l2["radii"]
    a = math.radians(l2["angle_deg"])
    drawn = live["rotated_outline"]
    assert len(drawn) > math.pi * (ry + rx) * zoom  # at least half the perimeter is seen
    for x, y in drawn:
        dr, dc = (y + 0.5 - ty) / zoom - r0, (x + 0.5 - tx) / zoom - c0
        u, v = dr * math.cos(a) + dc * math.sin(a), -dr * math.sin(a) + dc * math.cos(a)
        assert abs(math.hypot(u / ry, v / rx) - 1) <= 2 / (zoom * min(ry, rx)), (x, y)
    doc, res = live["deleted"]
    assert [r["label"] for r in doc["rois"]] == ["L1", "L2", "L3", "CSF"]
    ref = cli_score(ph["series"], doc, tmp_path, "deleted.json")
    assert ref["vbq"] == res["vbq"] and "L4" not in ref["levels"]
    doc, res = live["drawn"]
    assert cli_score(ph["series"], doc, tmp_path, "drawn.json")["vbq"] == res["vbq"]

    # the PNG requests carry the window/level the drag set, from the server's automatic one
    w0, l0 = auto_wl
    window, level = live["wl"]
    assert window == pytest.approx(w0 * math.exp(40 / 200), rel=1e-9)
    assert level == pytest.approx(l0 - 30 * w0 / 300, rel=1e-9)
    last = urllib.parse.parse_qs(urllib.parse.urlsplit(live["wl_requests"][-1]).query)
    assert float(last["window"][0]) == pytest.approx(window, abs=5e-4)
    assert float(last["level"][0]) == pytest.approx(level, abs=5e-4)
    assert live["wl_text"] == f"W {round(window, 1):g} / L {round(level, 1):g}"

    reading = ReadingStore(server.db).get(reading_id)
    assert reading.rois == live["drawn"][0]
    assert reading.roi_provenance == ("L1:edited_proposal;L2:edited_proposal;"
                                      "L3:accepted_proposal;L4:hand_drawn;CSF:accepted_proposal")
    ref = cli_score(ph["series"], reading.rois, tmp_path, "saved.json")
    assert reading.result["vbq"] == ref["vbq"] == live["saved_shown"] == live["drawn"][1]["vbq"]

    assert live["t2_reason"] == f"Not chosen: {t2_reason}"
    assert "T1 SAG TSE: the automatic choice" in live["t2_others"]
    assert live["t2_state"] == [{}, None, None]
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_opens_on_the_midline_scrolls_and_edits_rectangles(tmp_path):
    """Opens on the symmetric slice; wheel and keys scroll; rectangles shown, edited, scored."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    from vbq.phantom import make_phantom

    # every variant (obliquity, scoliosis): the true mid-sagittal slice is 6, the middle 7
    # (the symmetric plane alone was on 5; refined to the canal's dark column, on 6)
    info = make_phantom(tmp_path / "study", anatomy="realistic", seed=4, variants="all",
                        distractors=())
    truth = info.expected["geometry"]
    assert truth["mid_sagittal"]["slice"] == 6
    uid = info.series_instance_uid
    files = [d for d in (pydicom.dcmread(f, stop_before_pixels=True)
                         for f in info.series_dir.rglob("*") if f.is_file())
             if d.SeriesInstanceUID == uid]
    n_slices = len(files)
    mid_instance, = [int(d.InstanceNumber) for d in files
                     if d.SOPInstanceUID == info.expected["sop_instance_uid"]]
    assert info.expected["slice"] == 6
    server = start_server(info.series_dir, tmp_path / "r.sqlite", tmp_path / "exports")
    live: dict = {}
    try:
        with sync_playwright() as pw:
            browser, page, seen = open_reading_page(pw, tmp_path, server, "cy")
            try:
                p = Page(page)
                pngs = [u for u in seen["requests"] if ".png" in u]
                assert p.js("window.vbq.state.slice") == 6
                assert f"/api/series/{uid}/slices/6.png" in pngs[0]  # no other slice first
                # named as the QC figure names it: index, the file's InstanceNumber, position
                assert page.text_content("#slice-info").startswith(
                    f"slice 6 (instance {mid_instance}), 7 of {n_slices}")
                assert "mid-sagittal" in page.text_content("#slice-info")

                # a proposal holding turned rectangles, built from the phantom's truth
                rois = []
                for label in ("L1", "L2", "L3", "L4"):
                    lv = truth["levels"][label]
                    (r, c), a = lv["centre"], lv["tilt_deg"]
                    rois.append({"label": label, "shape": "rectangle", "corner": [r - 5, c - 7],
                                 "size": [10, 14], "angle_deg": a})
                r, c = truth["sac"]["l3_centre"]
                rois.append({"label": "CSF", "level": "L3", "shape": "rectangle",
                             "corner": [r - 7, c - 1.5], "size": [14, 3], "angle_deg": 12.5})
                doc = {"format": "vbq-rois/1", "space": "pixel", "slice": 6, "rois": rois}
                for roi in rois:
                    p.js(f"window.vbq.applyProposal({json.dumps({'rois': doc, 'notes': []})}, "
                         f"'{roi['label']}')")
                res = p.settled()
                live["as_given"] = (p.js("window.vbq.roiDocument()"), res,
                                    pixels_inside(p, "CSF"))

                # drag the CSF rectangle from inside it, away from its handles: moved, same
                # size and turn
                page.click("#labels button[data-label=CSF]")
                start = p.screen(r + 4 * math.cos(math.radians(12.5)),
                                 c + 4 * math.sin(math.radians(12.5)))
                p.drag(start, (start[0] + 12, start[1] + 6))
                live["moved"] = (p.js("window.vbq.roiDocument()"), p.settled(),
                                 p.js("window.vbq.provenance()"))

                # scroll: the wheel goes down one slice, the keys up two; ROIs stay on 6
                before = p.js("window.vbq.roiDocument()")
                n_req = len(seen["requests"])
                page.mouse.move(*p.screen(200, 60))
                page.mouse.wheel(0, 120)
                page.wait_for_function("window.vbq.state.slice === 7 && "
                                       "window.vbq.state.imgKey.includes('/7/')")
                assert page.text_content("#slice-info").startswith("slice 7 (instance ")
                page.focus("#view")
                page.keyboard.press("ArrowUp")
                page.keyboard.press("ArrowUp")
                page.wait_for_function("window.vbq.state.slice === 5 && "
                                       "window.vbq.state.imgKey.includes('/5/')")
                live["scroll_pngs"] = [u.split("?")[0].rsplit("/", 1)[1]
                                       for u in seen["requests"][n_req:] if ".png" in u]
                assert page.text_content("#slice-info").startswith("slice 5 (instance ")
                after = p.js("window.vbq.roiDocument()")
                assert [x for x in after["rois"]] == [x for x in before["rois"]]
                # on another slice a click on the rectangle does not pick it up
                assert p.js(f"window.vbq.inside(window.vbq.state.rois.L3, "
                            f"{truth['levels']['L3']['centre'][0]}, "
                            f"{truth['levels']['L3']['centre'][1]})")
                page.keyboard.press("ArrowDown")
                page.wait_for_function("window.vbq.state.slice === 6")
                # delete the CSF rectangle on its slice
                page.click("#labels button[data-label=CSF]")
                page.focus("#view")
                page.keyboard.press("Delete")
                live["deleted"] = p.js("window.vbq.roiDocument()")
            finally:
                browser.close()
    finally:
        server.stop()
    assert seen["errors"] == []
    _check_failed(seen["failed"])

    got, res, inside = live["as_given"]
    for given, kept in zip(rois, got["rois"], strict=True):
        assert kept == {**given, "slice": 6}  # saved as given
    assert res["csf"]["n_pixels"] == inside  # the page's rectangle is the format's rectangle
    assert cli_score(info.series_dir, got, tmp_path, "given.json")["vbq"] == res["vbq"]
    got, res, prov = live["moved"]
    csf = got["rois"][-1]
    assert csf["size"] == [14, 3] and csf["angle_deg"] == 12.5 and csf["shape"] == "rectangle"
    assert csf["corner"] != rois[-1]["corner"] and prov["CSF"] == "edited_proposal"
    assert cli_score(info.series_dir, got, tmp_path, "moved.json")["vbq"] == res["vbq"]
    # 5 and 7 came with 6 (its neighbours are fetched ahead); scrolling to them fetched theirs
    assert {"8.png", "4.png"} <= set(live["scroll_pngs"])
    assert [x["label"] for x in live["deleted"]["rois"]] == ["L1", "L2", "L3", "L4"]
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
