"""A saved reading comes back, in headless Chromium.

- Opening a series the reader has saved a reading of (this occasion) puts that reading
  back on the page: its ROIs as saved, their provenance and exclusions, and the score,
  which equals the saved one; saving again says which reading it replaces.
- Another reader chosen while a reading is open closes it: nothing of it stays on the
  page, and nothing can be saved under the new name.
- Save is off until a study is open and scored.
"""

from __future__ import annotations

import pytest
from _serve_helpers import need_chromium, phantom, served

from vbq.serve.storage import ReadingStore

pytestmark = pytest.mark.slow


def _document(ph: dict) -> dict:
    """Ellipses on the phantom's bodies and its CSF, as the click engine would propose them."""
    sl = ph["seeds"]["slice"]
    rois = [{"label": s["label"], "shape": "ellipse", "center": s["point"], "radii": [4.0, 6.0],
             **({"level": s["level"]} if "level" in s else {})}
            for s in ph["seeds"]["seeds"] if s["label"] != "L5"]
    rois[-1]["radii"] = [5.0, 2.5]  # the CSF, inside the sac
    return {"format": "vbq-rois/1", "space": "pixel", "slice": sl, "rois": rois}


def test_a_saved_reading_is_reopened_and_replaced_and_another_reader_sees_none(tmp_path):
    need_chromium()
    ph = phantom(tmp_path / "study")
    doc = _document(ph)
    sl = doc["slice"]
    with served(tmp_path, ph["series"], sl) as (server, p):
        page = p.page
        for e in doc["rois"]:
            p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)",
                 [doc, e["label"]])
        p.js("window.vbq.state.rois.L4.provenance = 'hand_drawn'")
        page.select_option("select[data-level=L2]", "fracture")
        page.wait_for_function("window.vbq.roiDocument().exclude !== undefined")
        res = p.settled()
        assert res["levels"]["L2"]["used"] is False
        page.click("#save")
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        saved_doc, saved_prov = p.doc(), p.js("window.vbq.provenance()")
        assert saved_prov["L4"] == "hand_drawn" and saved_prov["L1"] == "accepted_proposal"

        # the page again, from the start: the reading comes back when the series opens
        page.reload()
        page.wait_for_selector("#worklist tbody tr")
        assert page.is_disabled("#save")  # no study open yet
        page.click("#worklist tbody tr")
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        again = p.settled()
        assert p.doc() == saved_doc
        assert p.js("window.vbq.provenance()") == saved_prov
        assert p.js("window.vbq.state.slice") == sl
        assert again["vbq"] == res["vbq"]
        # three decimals, as the save line and the command line (cut-offs have three)
        assert page.text_content("#vbq-value") == f"VBQ {again['vbq']:.3f}"
        assert "reopened; saving again replaces it" in page.text_content("#save-info")
        assert page.input_value("select[data-level=L2]") == "fracture"
        assert page.is_enabled("#save")

        # saved again: the new reading says which one it replaces
        page.click("#save")
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '2'")
        assert "replacing reading 1" in page.text_content("#save-info")

        # another reader: the open reading closes, and cannot be saved under their name
        page.fill("#reader", "eve")
        page.click("#reader-start")
        page.wait_for_function("document.querySelector('#reader-info').textContent"
                               ".startsWith('reading as eve')")
        assert p.js("Object.keys(window.vbq.state.rois)") == []
        assert p.js("window.vbq.state.series") is None
        assert page.is_disabled("#save") and page.is_hidden("#series-pane")
        assert page.text_content("#save-info") == ""
        assert page.text_content("#vbq-value") == "VBQ \u2013"
        # eve opens the study: dee's reading is not hers, and nothing comes back
        page.click("#worklist tbody tr")
        page.wait_for_function(f"window.vbq.state.slice === {sl} && window.vbq.state.img")
        assert p.js("Object.keys(window.vbq.state.rois)") == []
        assert page.text_content("#save-info") == ""

    store = ReadingStore(server.db)
    readings = store.readings(current_only=False)
    assert [(r.reading_id, r.reader, r.replaces) for r in readings] == [
        (1, "dee", None), (2, "dee", 1)]
    assert readings[1].rois == saved_doc
    assert readings[1].result["vbq"] == res["vbq"]


def test_notes_status_and_cut_offs_say_what_is_on_the_page(tmp_path):
    """A deleted ROI takes its proposal's notes with it; a reader name refused and then
    corrected leaves no refusal behind; each cut-off says on which side of it the VBQ is."""
    need_chromium()
    ph = phantom(tmp_path / "study")
    doc = _document(ph)
    with served(tmp_path, ph["series"], doc["slice"]) as (_, p):
        page = p.page
        note = "L2: body 20.0 mm high and 30.0 mm deep"
        for e in doc["rois"]:
            p.js("([d, l, n]) => window.vbq.applyProposal({rois: d, notes: n}, l)",
                 [doc, e["label"], [note] if e["label"] == "L2" else []])
        res = p.settled()
        assert note in page.text_content("#notes")
        cuts = page.locator("#cutoffs .cut").all_text_contents()
        assert len(cuts) == len(res["cutoffs"]) > 0
        for text, c in zip(cuts, res["cutoffs"], strict=True):
            side = ("VBQ at or above it, positive" if c["above"] else "VBQ below it, negative")
            assert text.startswith(f"{c['value']} {c['target']}: {side} for {c['target']} in "
                                   "that study ("), text
        page.click("#labels button[data-label=L2]")
        p.js("window.vbq.state.selected = 'L2'")
        page.focus("#view")
        page.keyboard.press("Delete")
        assert p.js("window.vbq.state.rois.L2") is None
        p.settled()  # scored again, without L2
        assert note not in page.text_content("#notes")
        assert page.text_content("#status") == ""

        page.fill("#reader", "a;b")
        page.click("#reader-start")
        page.wait_for_function("document.querySelector('#status').textContent.includes('a;b')")
        page.fill("#reader", "dee")
        page.click("#reader-start")
        page.wait_for_function("document.querySelector('#status').textContent === ''")
        assert page.text_content("#reader-info").startswith("reading as dee")
        # the refused name was the only failed response
        assert [(r.status, r.url.split("?")[0].rsplit("/", 1)[-1]) for r in p.failed] == [
            (400, "studies")]
        p.failed.clear()
