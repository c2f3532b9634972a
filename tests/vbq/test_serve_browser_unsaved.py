"""ROIs no save holds are not dropped without asking, in headless Chromium.

Opening a study or a series, choosing another reader, or reloading the page
with ROIs placed and not saved asks first (a confirmation, or the browser's
leave-page dialog); declining keeps every ROI on the page, accepting goes on.
Saved ROIs, or a reopened reading not edited since, go without a question.
"""

from __future__ import annotations

import pytest
from _serve_helpers import need_chromium, phantom, served

pytestmark = pytest.mark.slow


def _document(ph: dict) -> dict:
    """Ellipses on the phantom's bodies and its CSF."""
    rois = [{"label": s["label"], "shape": "ellipse", "center": s["point"], "radii": [4.0, 6.0],
             **({"level": s["level"]} if "level" in s else {})}
            for s in ph["seeds"]["seeds"] if s["label"] != "L5"]
    rois[-1]["radii"] = [5.0, 2.5]  # the CSF, inside the sac
    return {"format": "vbq-rois/1", "space": "pixel", "slice": ph["seeds"]["slice"], "rois": rois}


def test_unsaved_rois_are_kept_unless_the_reader_lets_them_go(tmp_path):
    need_chromium()
    from vbq.dicom.choice import choose_series
    from vbq.dicom.index import index_folder

    ph = phantom(tmp_path / "study", distractors=("t2",))
    (t2_uid, _, _), = choose_series(index_folder(ph["series"])).rejected
    doc = _document(ph)
    with served(tmp_path, ph["series"], doc["slice"]) as (_, p):
        page = p.page
        asked: list[tuple[str, str]] = []
        answer = {"accept": False}

        def on_dialog(d) -> None:
            asked.append((d.type, d.message))
            d.accept() if answer["accept"] else d.dismiss()

        page.on("dialog", on_dialog)
        labels = sorted(e["label"] for e in doc["rois"])
        assert p.js("window.vbq.unsaved()") is False  # nothing placed yet
        for e in doc["rois"]:
            p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)",
                 [doc, e["label"]])
        p.settled()
        assert p.js("window.vbq.unsaved()") is True
        placed = p.doc()["rois"]

        def kept() -> None:
            assert sorted(p.js("Object.keys(window.vbq.state.rois)")) == labels
            assert p.doc()["rois"] == placed

        # the worklist's study again, declined: nothing changes
        page.click("#worklist tbody tr")
        assert asked[-1][0] == "confirm" and "are not saved" in asked[-1][1], asked
        assert asked[-1][1].endswith("Open this study and discard them?")
        kept()
        # another series, declined: the list shows the open series again
        page.select_option("#series-select", t2_uid)
        assert asked[-1][0] == "confirm" and "Open this series" in asked[-1][1]
        assert page.input_value("#series-select") == ph["series_uid"]
        assert p.js("window.vbq.state.series.series_uid") == ph["series_uid"]
        kept()
        # a name the server refuses: no question, nothing lost
        n = len(asked)
        page.fill("#reader", "a;b")
        page.click("#reader-start")
        page.wait_for_function("document.querySelector('#status').textContent.includes('a;b')")
        assert len(asked) == n and p.js("window.vbq.state.reader") == "dee"
        kept()
        assert [r.status for r in p.failed] == [400]
        p.failed.clear()
        # another reader, declined: still dee's reading, the name back in its box
        page.fill("#reader", "eve")
        n = len(asked)
        page.click("#reader-start")  # the name is checked with the server first
        for _ in range(200):
            if len(asked) > n:
                break
            page.wait_for_timeout(50)
        assert "Read as eve" in asked[-1][1]
        assert page.input_value("#reader") == "dee" and p.js("window.vbq.state.reader") == "dee"
        kept()
        # a reload, declined: the page stays as it was
        n = len(asked)
        with pytest.raises(Exception):  # noqa: B017 - the navigation is cancelled
            page.reload(timeout=5_000)
        assert [t for t, _ in asked[n:]] == ["beforeunload"]
        kept()

        # an edit of one ROI after the save is unsaved again; the save itself is not
        page.click("#save")
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        assert p.js("window.vbq.unsaved()") is False
        page.select_option("select[data-level=L2]", "fracture")
        assert p.js("window.vbq.unsaved()") is True
        page.select_option("select[data-level=L2]", "")
        assert p.js("window.vbq.unsaved()") is False  # as saved again
        n = len(asked)
        page.select_option("#series-select", t2_uid)
        page.wait_for_function(f"window.vbq.state.series.series_uid === '{t2_uid}'")
        assert len(asked) == n  # saved: no question
        # back to the first series: the saved reading reopens, not edited, so no question
        page.select_option("#series-select", ph["series_uid"])
        page.wait_for_function("document.querySelector('#save-info').dataset.readingId === '1'")
        assert p.js("window.vbq.unsaved()") is False and len(asked) == n

        # edited, then accepted: the other series opens afresh
        p.js("window.vbq.state.rois.L3.radii = [3.0, 5.0]; window.vbq.state.rois.L3.touched = true")
        assert p.js("window.vbq.unsaved()") is True
        answer["accept"] = True
        page.select_option("#series-select", t2_uid)
        page.wait_for_function(f"window.vbq.state.series.series_uid === '{t2_uid}'")
        assert len(asked) == n + 1 and p.js("Object.keys(window.vbq.state.rois)") == []
