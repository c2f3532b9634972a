"""Occasions, readers and refused scores in the page, in headless Chromium.

- A reader chosen after the ROIs were placed can save them at once.
- A new occasion closes the open reading: the repeat reading starts blank.
- A score the plausibility gate refuses still shows each ROI's signal; saved
  forced, the reading reopens forced.
- Another series opened clears the news of the previous one.
"""

from __future__ import annotations

import pytest
from _serve_helpers import Page, bare_page, need_chromium, phantom, served

pytestmark = pytest.mark.slow


def _document(ph: dict, csf_in_l5: bool = False) -> dict:
    seeds = {s["label"]: s for s in ph["seeds"]["seeds"]}
    rois = [{"label": lab, "shape": "ellipse", "center": seeds[lab]["point"], "radii": [4.0, 6.0]}
            for lab in ("L1", "L2", "L3", "L4")]
    csf = {"label": "CSF", "level": "L3", "shape": "ellipse", "center": seeds["CSF"]["point"],
           "radii": [5.0, 2.5]}
    if csf_in_l5:  # marrow taken for the CSF: the gate refuses the score
        csf["center"] = seeds["L5"]["point"]
    rois.append(csf)
    return {"format": "vbq-rois/1", "space": "pixel", "slice": ph["seeds"]["slice"], "rois": rois}


def _place(p: Page, doc: dict) -> None:
    for e in doc["rois"]:
        p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)", [doc, e["label"]])


def test_a_reader_chosen_after_the_rois_can_save_them(tmp_path):
    ph = phantom(tmp_path / "study")
    doc = _document(ph)
    with bare_page(tmp_path, ph["series"]) as (server, p):
        page = p.page
        page.goto(server.url)
        page.wait_for_selector("#worklist tbody tr")
        page.click("#worklist tbody tr")
        page.wait_for_function("window.vbq.state.img !== null")
        _place(p, doc)
        p.settled()
        assert page.is_disabled("#save")  # no reader yet
        page.fill("#reader", "dee")
        page.click("#reader-start")
        page.wait_for_function("!document.querySelector('#save').disabled")
        assert p.js("Object.keys(window.vbq.state.rois).length") == 5


def test_occasions_refusals_and_series_news(tmp_path):
    need_chromium()
    from vbq.dicom.choice import choose_series
    from vbq.dicom.index import index_folder

    ph = phantom(tmp_path / "study", distractors=("t2",))
    (t2_uid, _, _), = choose_series(index_folder(ph["series"])).rejected
    with served(tmp_path, ph["series"], ph["seeds"]["slice"]) as (_, p):
        page = p.page
        page.on("dialog", lambda d: d.accept())

        # refused by the gate: no VBQ, but each ROI's signal and pixels shown
        _place(p, _document(ph, csf_in_l5=True))
        page.wait_for_function("window.vbq.state.measured !== null")
        assert p.js("window.vbq.state.result") is None
        assert "Force" in page.text_content("#warnings")
        rows = p.js("Array.from(document.querySelectorAll('#levels tbody tr')).map(tr => "
                    "[tr.cells[0].textContent, tr.cells[1].textContent])")
        assert all(si != "" for _, si in rows), rows
        refused = [(r.status, r.url.rsplit("/", 1)[-1]) for r in p.failed]
        assert refused and set(refused) == {(422, "score")}
        p.failed.clear()

        # forced and saved: reopened forced, with the score it was saved with
        page.check("#force")
        res = p.settled()
        page.click("#save")
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        page.select_option("#series-select", t2_uid)
        page.wait_for_function(f"window.vbq.state.series.series_uid === '{t2_uid}'")
        assert page.text_content("#status") == ""  # the saved-reading news was the T1's
        page.uncheck("#force")
        page.select_option("#series-select", ph["series_uid"])
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        assert page.is_checked("#force")
        assert p.settled()["vbq"] == res["vbq"]
        # the reopened bodies stand for their clicks: the CSF proposed again from one click
        centres = {e["label"]: e["center"] for e in p.doc()["rois"]}
        clicks = p.js("window.vbq.state.clicks")
        assert {k: v[:2] for k, v in clicks.items()} == {
            lab: [round(x, 2) for x in centres[lab]] for lab in ("L1", "L2", "L3", "L4")}
        p.js("window.vbq.state.selected = 'CSF'")
        page.focus("#view")
        page.keyboard.press("Delete")
        page.click("#labels button[data-label=CSF]")
        sac = next(s["point"] for s in ph["seeds"]["seeds"] if s["label"] == "CSF")
        page.mouse.click(*p.screen(*sac))
        page.wait_for_function("window.vbq.state.rois.CSF !== undefined")
        assert p.js("window.vbq.state.rois.CSF.provenance") == "accepted_proposal"
        assert "give the centres" not in page.text_content("#notes") + \
            page.text_content("#status")
        page.uncheck("#force")
        assert p.settled()["vbq"] > 1.5  # the CSF in the sac now: a T1 VBQ, unforced
        p.failed.clear()  # the T2 opened without ROIs asked nothing, but be exact below

        # a new occasion: the open reading closes, the repeat reading starts blank
        page.click("#new-occasion")
        page.wait_for_function("document.querySelector('#status').textContent"
                               ".startsWith('Occasion 2 started')")
        assert p.js("window.vbq.state.series") is None
        assert p.js("Object.keys(window.vbq.state.rois)") == []
        assert page.text_content("#save-info") == "" and page.is_disabled("#save")
        page.click("#worklist tbody tr")
        page.wait_for_function("window.vbq.state.img !== null")
        page.wait_for_timeout(300)  # the readings listing came back with nothing of this one
        assert p.js("Object.keys(window.vbq.state.rois)") == []
        assert page.text_content("#save-info") == ""


def test_a_fitted_image_stays_whole_as_the_pane_resizes(tmp_path):
    """Narrower window: the toolbar wraps and the image pane shrinks; the image is refitted.
    Once panned by the reader, their view is kept."""
    need_chromium()
    ph = phantom(tmp_path / "study")
    with served(tmp_path, ph["series"], ph["seeds"]["slice"]) as (_, p):
        page = p.page
        whole = ("(() => { const S = window.vbq.state, c = document.querySelector('#view'); "
                 "return S.tx - S.zoom / 2 >= -1 && S.ty - S.zoom / 2 >= -1 && "
                 "S.tx + (S.series.cols - 0.5) * S.zoom <= c.width + 1 && "
                 "S.ty + (S.series.rows - 0.5) * S.zoom <= c.height + 1; })()")
        assert p.js(whole)
        size = p.js("[document.querySelector('#view').width, "
                    "document.querySelector('#view').height]")
        page.set_viewport_size({"width": 900, "height": 600})
        page.wait_for_function(f"document.querySelector('#view').height < {size[1]}")
        page.wait_for_function(whole)
        # panned by the reader: a resize keeps their view
        page.check("input[name=tool][value=pan]")
        box = page.locator("#view").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        p.drag((cx, cy), (cx + 40, cy + 30))
        view = p.js("[window.vbq.state.tx, window.vbq.state.ty, window.vbq.state.zoom]")
        page.set_viewport_size({"width": 1000, "height": 650})
        page.wait_for_timeout(300)
        assert p.js("[window.vbq.state.tx, window.vbq.state.ty, window.vbq.state.zoom]") == view


def test_an_roi_reaching_beyond_the_image_is_named_and_not_posted(tmp_path):
    """Its centre inside the image, its top 4 rows above it: the server would refuse it."""
    need_chromium()
    ph = phantom(tmp_path / "study")
    doc = _document(ph)
    with served(tmp_path, ph["series"], ph["seeds"]["slice"]) as (_, p):
        _place(p, doc)
        p.settled()
        posts = len(p.posts)
        edge = dict(doc, rois=[dict(e, center=[2.0, e["center"][1]]) if e["label"] == "L1"
                               else e for e in doc["rois"]])
        p.js("([d]) => window.vbq.applyProposal({rois: d, notes: []}, 'L1')", [edge])
        p.page.wait_for_function(
            "window.vbq.state.scored === JSON.stringify(window.vbq.roiDocument())")
        assert p.page.text_content("#warnings") == (
            "L1 reaches beyond the image: drag it back inside")
        assert [path for path, _ in p.posts[posts:] if path == "score"] == []


def test_each_worklist_row_names_its_study_uid(tmp_path):
    need_chromium()
    ph = phantom(tmp_path / "study")
    with served(tmp_path, ph["series"], ph["seeds"]["slice"]) as (_, p):
        import pydicom

        f = next(x for x in ph["series"].rglob("*") if x.is_file())
        uid = pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID
        title = p.page.get_attribute("#worklist tbody tr", "title")
        assert title == f"Study Instance UID {uid}"


def test_the_midline_distance_shown_is_the_scores(tmp_path):
    """The QC figure and the PDF print the score's distance: so does the page, once scored."""
    ph = phantom(tmp_path / "study")
    with served(tmp_path, ph["series"], ph["seeds"]["slice"]) as (_, p):
        _place(p, _document(ph))
        at = p.settled()["slice"]
        assert at["midline_offset_mm"] is not None
        text = p.page.text_content("#midline-info")
        assert text.startswith(f"{abs(at['midline_offset_mm']):.1f} mm from the mid-sagittal "
                               "plane (")
