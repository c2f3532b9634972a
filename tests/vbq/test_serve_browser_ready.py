"""The workstation asks the server only what it can answer, in headless Chromium.

- A score is not posted until the page holds the CSF and as many levels (not excluded)
  as the protocol needs (``min_levels`` of ``GET /api/config``): before that the page
  says what to place, or, when levels are excluded, why there is no score.
- A reader chosen while the worklist is still loading is the reader of every request
  that follows: no request goes out without one.
- A score refused by a plausibility gate says how to force it in the page (the Force
  box beside Save), not on the command line; ticked, the score is made, with a warning.
"""

from __future__ import annotations

import json

import pytest
from _serve_helpers import (
    Page,
    bare_page,
    client_for,
    need_chromium,
    phantom,
    served,
)

pytestmark = pytest.mark.slow


def test_config_names_the_protocol_and_its_fewest_levels(tmp_path):
    from vbq.protocol import get_protocol

    ph = phantom(tmp_path / "study")
    c = client_for({"folder": tmp_path / "study"}, tmp_path)
    got = c.get("/api/config").json()
    lumbar = get_protocol("lumbar")
    assert (got["protocol"], got["min_levels"]) == (lumbar.name, lumbar.min_levels) == (
        "lumbar", 2)
    # the server refuses fewer: the page's rule is the server's
    doc = {**ph["rois"], "rois": [e for e in ph["rois"]["rois"]
                                  if e["label"] in ("L1", "CSF")]}
    r = c.post("/api/score", json={"series_uid": ph["series_uid"], "rois": doc})
    assert r.status_code == 422 and "at least 2" in r.json()["error"]


def _after(p: Page, action) -> None:
    """Run ``action`` and wait until the page has scored (or refused to score) the result."""
    before = p.js("window.vbq.state.scoring")
    action()
    p.page.wait_for_function(f"window.vbq.state.scoring > {before}")
    p.page.wait_for_function(
        "window.vbq.state.scored === JSON.stringify(window.vbq.roiDocument())")


def _score_posts(p: Page) -> list[dict]:
    return [body for path, body in p.posts if path == "score"]


def test_no_score_is_asked_before_the_protocol_has_its_levels(tmp_path):
    need_chromium()
    ph = phantom(tmp_path / "study")
    # ellipses on the phantom's bodies and its CSF (as the click engine would propose)
    sl = ph["seeds"]["slice"]
    doc = {"format": "vbq-rois/1", "space": "pixel", "slice": sl, "rois": [
        {"label": s["label"], "shape": "ellipse", "center": s["point"], "radii": [4.0, 6.0],
         **({"level": s["level"]} if "level" in s else {})}
        for s in ph["seeds"]["seeds"] if s["label"] != "L5"]}
    doc["rois"][-1]["radii"] = [5.0, 2.5]  # the CSF, inside the sac
    with served(tmp_path, ph["series"], sl) as (_, p):
        page = p.page

        def apply(label: str) -> None:
            p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)", [doc, label])

        def table() -> dict[str, list[str]]:
            return {row[0]: row[1:3] for row in p.js(
                "Array.from(document.querySelectorAll('#levels tbody tr')).map(tr => "
                "Array.from(tr.cells).slice(0, 3).map(td => td.textContent))")}

        # L1 and the CSF with it: one level of the two needed; the page says what to place
        _after(p, lambda: apply("L1"))
        assert set(p.js("Object.keys(window.vbq.state.rois)")) == {"L1", "CSF"}
        assert _score_posts(p) == [] and p.js("window.vbq.state.result") is None
        assert page.text_content("#notes").endswith("to place: L2, L3, L4")
        assert page.text_content("#warnings") == ""
        assert page.text_content("#vbq-value") == "VBQ \u2013"
        assert page.is_disabled("#save")
        # not scored yet, but what is placed is measured (its SI and pixels shown)
        page.wait_for_function("window.vbq.state.measured !== null")
        first = table()
        assert first["L1"][0] != "" and first["CSF"][0] != "" and first["L2"] == ["", ""]
        measures = [path for path, _ in p.posts].count("measure")
        assert measures == 1

        # two levels: scored
        _after(p, lambda: apply("L2"))
        assert len(_score_posts(p)) == 1
        assert p.js("window.vbq.state.result.vbq") > 0
        for label in ("L3", "L4"):
            _after(p, lambda label=label: apply(label))
        scored = len(_score_posts(p))
        full = p.js("window.vbq.state.result.vbq")
        full_res = p.js("window.vbq.state.result")


        # each ROI's signal and pixel count, as the score of all four gave them
        shown = {lab: [f"{part['si']:.1f}", str(part["n_pixels"])] for lab, part in
                 [*full_res["levels"].items(), ("CSF", full_res["csf"])] if lab in table()}
        assert table() == shown and len(shown) == 5

        # three of four excluded: not posted; the page says why there is no score
        for label in ("L2", "L3", "L4"):
            _after(p, lambda label=label: page.select_option(
                f"select[data-level={label}]", "fracture"))
        assert p.js("window.vbq.roiDocument().exclude") == {
            "L2": "fracture", "L3": "fracture", "L4": "fracture"}
        posted = _score_posts(p)[scored:]
        assert [sorted(b["rois"].get("exclude", {})) for b in posted] == [["L2"], ["L2", "L3"]]
        assert p.js("window.vbq.state.result") is None
        assert page.text_content("#warnings") == (
            "only L1 left after exclusions; the lumbar protocol needs at least 2 levels")
        assert page.text_content("#vbq-value") == "VBQ \u2013"
        assert page.is_disabled("#save")
        # no score, but every ROI still measured: the table as before, from /api/measure
        page.wait_for_function("window.vbq.state.measured !== null")
        assert table() == shown
        assert [path for path, _ in p.posts].count("measure") == measures + 1

        # every level excluded
        _after(p, lambda: page.select_option("select[data-level=L1]", "fracture"))
        assert page.text_content("#warnings").startswith("no level left after exclusions")
        assert len(_score_posts(p)) == scored + 2

        # L1 and L3 back: scored again, the score of those two levels
        for label in ("L1", "L3"):
            _after(p, lambda label=label: page.select_option(
                f"select[data-level={label}]", ""))
        assert len(_score_posts(p)) == scored + 3
        res = p.js("window.vbq.state.result")
        assert res is not None and res["vbq"] != full
        assert sorted(k for k, v in res["levels"].items() if v["used"]) == ["L1", "L3"]

        # a level not placed at all and another excluded: still said why, still measured
        p.js("window.vbq.state.selected = 'L2'")
        page.focus("#view")
        _after(p, lambda: page.keyboard.press("Delete"))
        _after(p, lambda: page.select_option("select[data-level=L3]", "fracture"))
        assert p.js("window.vbq.state.result") is None and table()["L2"] == ["", ""]
        assert page.text_content("#warnings") == (
            "only L1 left after exclusions; the lumbar protocol needs at least 2 levels")
        page.wait_for_function("window.vbq.state.measured !== null")
        assert table()["L1"] == shown["L1"] and table()["L3"] == shown["L3"]


def test_a_reader_chosen_while_the_worklist_loads(tmp_path):
    """The worklist's first load (no reader yet) is held until the reader's own has ended."""
    ph = phantom(tmp_path / "study")
    with bare_page(tmp_path, ph["series"]) as (server, p):
        page = p.page
        held: list = []
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.split("/api/", 1)[-1])
                if "/api/" in r.url else None)

        def hold(route) -> None:
            if "reader=" in route.request.url:
                route.continue_()
            else:
                held.append(route)

        page.route("**/api/studies*", hold)
        page.goto(server.url)
        for _ in range(400):  # the page's first load of the worklist, held
            if held:
                break
            page.wait_for_timeout(25)
        assert len(held) == 1
        page.fill("#reader", "dee")
        page.click("#reader-start")
        page.wait_for_selector("#worklist tbody tr")
        assert page.text_content("#reader-info") == "reading as dee (blinded)"
        n_asked = len(asked)
        with page.expect_response(lambda r: r.url.endswith("/api/studies")):
            held[0].continue_()
        # a request the held load would make late, without a reader, has time to go
        with pytest.raises(Exception, match="Timeout"):
            page.wait_for_event("request", timeout=1500)
        assert asked[n_asked:] == []
        assert page.text_content("#reader-info") == "reading as dee (blinded)"
        assert page.text_content("#status") == ""
        assert page.locator("#worklist tbody tr").count() == 1


def _csf_on_a_body(ph: dict) -> dict:
    """The phantom's ROIs with the CSF ROI moved onto L3's body: CSF brighter than marrow."""
    doc = json.loads(json.dumps(ph["rois"]))
    l3 = next(s["point"] for s in ph["seeds"]["seeds"] if s["label"] == "L3")
    for e in doc["rois"]:
        if e["label"] == "CSF":
            e["center"] = list(l3)
    return doc


def test_a_refused_score_says_how_to_force_it_in_the_page(tmp_path):
    ph = phantom(tmp_path / "study")
    c = client_for({"folder": tmp_path / "study"}, tmp_path)
    doc = _csf_on_a_body(ph)
    r = c.post("/api/score", json={"series_uid": ph["series_uid"], "rois": doc})
    said = r.json()["error"]
    assert r.status_code == 422
    assert "tick Force beside Save to score it anyway" in said and "--force" not in said
    forced = c.post("/api/score", json={"series_uid": ph["series_uid"], "rois": doc,
                                        "force": True})
    assert forced.status_code == 200 and forced.json()["vbq"] <= 1.0
    assert "implausible_score_forced" in forced.json()["warning_codes"]


def test_force_in_the_page_scores_what_was_refused(tmp_path):
    need_chromium()
    ph = phantom(tmp_path / "study")
    doc = _csf_on_a_body(ph)
    doc["rois"] = [e for e in doc["rois"] if e["shape"] in ("ellipse", "rectangle")] + [
        {"label": s["label"], "shape": "ellipse", "center": s["point"], "radii": [4.0, 6.0]}
        for s in ph["seeds"]["seeds"] if s["label"] in ("L2", "L3")]
    with served(tmp_path, ph["series"], doc["slice"]) as (_, p):
        page = p.page
        for e in doc["rois"]:
            p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)",
                 [doc, e["label"]])
        p.page.wait_for_function(
            "window.vbq.state.scored === JSON.stringify(window.vbq.roiDocument())")
        assert p.js("window.vbq.state.result") is None
        assert "tick Force beside Save" in page.text_content("#warnings")
        assert page.is_disabled("#save")
        _after(p, lambda: page.check("#force"))
        res = p.js("window.vbq.state.result")
        assert res is not None and res["vbq"] <= 1.0
        assert page.is_enabled("#save")
        assert [b["force"] for path, b in p.posts if path == "score"][-1] is True
        assert "implausible_score_forced" in res["warning_codes"]
        # the refusals asked for were the only failed responses: 422s of /api/score
        assert p.failed and all(r.status == 422 and r.url.endswith("/api/score")
                                for r in p.failed)
        p.failed.clear()
