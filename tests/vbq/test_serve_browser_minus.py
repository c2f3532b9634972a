"""Cut-outs (a ROI's ``minus`` shapes) in the workstation, in headless Chromium.

A vbq-rois/1 document whose L1 ellipse carries ``minus`` polygons (pixel-edge outlines with
corners cut by a quarter pixel, as the click engine draws them) and a circle, and whose L3
carries a turned rectangle, is loaded into the page. The cut-outs are drawn, count in the
page's own membership, are posted back unchanged, stay put when the ellipse moves, can be
left out and restored with the "keep whole" button, and go when L1 is drawn again.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _serve_helpers import need_chromium, phantom, served

pytestmark = pytest.mark.slow

def blob_outline(spans: dict[int, tuple[int, int]]) -> list[list[float]]:
    """A polygon along the pixel edges of a blob given as row -> (first, last column).

    Each corner is cut by a quarter pixel, which leaves every pixel centre where it was:
    the polygon holds exactly the blob's pixels.
    """
    rows = sorted(spans)
    ring = []
    for r in rows:  # down the right side
        ring += [(r - 0.5, spans[r][1] + 0.5), (r + 0.5, spans[r][1] + 0.5)]
    for r in reversed(rows):  # up the left side
        ring += [(r + 0.5, spans[r][0] - 0.5), (r - 0.5, spans[r][0] - 0.5)]
    corners = []
    for i, p in enumerate(ring):
        prev, nxt = ring[i - 1], ring[(i + 1) % len(ring)]
        if p == prev:
            continue
        if (prev[0] == p[0] == nxt[0]) or (prev[1] == p[1] == nxt[1]) or p == nxt:
            continue  # not a corner
        corners.append(p)
    out = []
    for i, p in enumerate(corners):
        for q in (corners[i - 1], corners[(i + 1) % len(corners)]):
            d = np.subtract(q, p)
            out.append([float(v) for v in np.add(p, 0.25 * d / np.abs(d).max())])
    return out


def blob_pixels(spans: dict[int, tuple[int, int]]) -> set[tuple[int, int]]:
    return {(r, c) for r, (lo, hi) in spans.items() for c in range(lo, hi + 1)}


#: a vein behind the middle of L1, and a zone under its upper endplate
VEIN = {63: (120, 121), 64: (119, 122), 65: (118, 122), 66: (118, 123), 67: (119, 122),
        68: (120, 121)}
ZONE = {60: (116, 123), 61: (117, 124)}


def document() -> dict:
    l1_minus = [{"shape": "polygon", "points": blob_outline(VEIN)},
                {"shape": "polygon", "points": blob_outline(ZONE)},
                {"shape": "circle", "center": [69.0, 125.0], "radius": 1.5}]
    rois = [
        {"label": "L1", "shape": "ellipse", "center": [65.0, 120.5], "radii": [6.5, 9.0],
         "minus": l1_minus},
        {"label": "L2", "shape": "ellipse", "center": [96.5, 117.5], "radii": [5.0, 7.0]},
        {"label": "L3", "shape": "ellipse", "center": [127.5, 116.5], "radii": [6.0, 6.0],
         "angle_deg": 10.0,
         "minus": [{"shape": "rectangle", "corner": [125.0, 113.0], "size": [3.0, 4.0],
                    "angle_deg": 20.0}]},
        {"label": "L4", "shape": "rectangle", "corner": [153.0, 110.0], "size": [11.0, 16.0]},
        {"label": "CSF", "level": "L3", "shape": "ellipse", "center": [127.5, 140.3],
         "radii": [6.5, 3.0]},
    ]
    return {"format": "vbq-rois/1", "space": "pixel", "slice": 7, "rois": rois}


def expected_pixels(shape: tuple[int, int], entry: dict) -> np.ndarray:
    """The pixels of a ROI entry (ellipse, its cut-outs taken out) by vbq.roi.shapes."""
    from vbq.roi.shapes import ellipse_mask, polygon_mask, rectangle_mask

    def mask(m: dict) -> np.ndarray:
        if m["shape"] == "polygon":
            return polygon_mask(shape, np.array(m["points"], dtype=float))
        if m["shape"] == "circle":
            return ellipse_mask(shape, m["center"], (m["radius"], m["radius"]))
        if m["shape"] == "rectangle":
            return rectangle_mask(shape, m["corner"], m["size"], m.get("angle_deg", 0.0))
        return ellipse_mask(shape, m["center"], m["radii"], m.get("angle_deg", 0.0))

    out = mask(entry)
    for m in entry.get("minus", []):
        out &= ~mask(m)
    return out


def test_cut_outs_in_the_browser(tmp_path):
    need_chromium()
    from scipy import ndimage

    from vbq.roi.shapes import polygon_mask
    from vbq.serve.storage import ReadingStore

    for spans in (VEIN, ZONE):  # the outlines hold their blobs' pixels, no more
        got = polygon_mask((80, 140), np.array(blob_outline(spans)))
        assert {tuple(q) for q in np.argwhere(got).tolist()} == blob_pixels(spans)
    ph = phantom(tmp_path / "study")
    doc = document()
    given = {e["label"]: {**e, "slice": 7} for e in doc["rois"]}
    live: dict = {}
    with served(tmp_path, ph["series"], 7) as (server, p):
        page = p.page
        shape = tuple(p.js("[window.vbq.state.series.rows, window.vbq.state.series.cols]"))

        # the document, as a proposal: kept as given, cut-outs and all, and posted so
        for e in doc["rois"]:
            p.js("([d, l]) => window.vbq.applyProposal({rois: d, notes: []}, l)",
                 [doc, e["label"]])
        res = p.settled()
        assert p.doc()["rois"] == list(given.values())
        assert p.last_post("score")["rois"] == p.doc()
        assert p.js("window.vbq.state.rois.L1.minus") == given["L1"]["minus"]
        # the page's membership is the server's: cut-outs are not in the ROI
        for label in ("L1", "L3"):
            want = int(expected_pixels(shape, given[label]).sum())
            assert res["levels"][label]["n_pixels"] == p.inside_count(label) == want
        assert p.inside_count("L1") < int(expected_pixels(
            shape, {**given["L1"], "minus": []}).sum())
        assert p.js("window.vbq.cutOut(window.vbq.state.rois.L1, 65, 120)")

        # drawn: the cut-out pixels change when L1 is kept whole, the rest does not
        page.click("#labels button[data-label=L2]")
        assert page.is_hidden("#minus-toggle")  # L2 has no cut-outs
        page.click("#labels button[data-label=L1]")
        assert page.text_content("#minus-toggle") == "Keep L1 whole"
        ell = expected_pixels(shape, {**given["L1"], "minus": []})
        cut = ell & ~expected_pixels(shape, given["L1"])
        far = ndimage.binary_erosion(ell, iterations=3) & ~ndimage.binary_dilation(
            cut, iterations=2)
        assert cut.sum() == len(blob_pixels(VEIN) | blob_pixels(ZONE)) + 9
        cut &= ndimage.binary_erosion(ell, iterations=2)  # clear of L1's own outline
        cut_px, far_px = np.argwhere(cut).tolist(), np.argwhere(far).tolist()
        assert len(cut_px) >= 30
        assert len(far_px) >= 10
        with_cuts = p.colours(cut_px), p.colours(far_px)
        page.focus("#minus-toggle")
        page.keyboard.press("Enter")  # a button: the keyboard reaches it
        assert page.text_content("#minus-toggle") == "Restore L1's 3 cut-outs"
        whole = p.colours(cut_px), p.colours(far_px)
        assert all(a != b for a, b in zip(with_cuts[0], whole[0], strict=True))
        assert with_cuts[1] == whole[1]
        assert "minus" not in p.entry("L1")
        res = p.settled()
        assert "minus" not in next(e for e in p.last_post("score")["rois"]["rois"]
                                   if e["label"] == "L1")
        assert res["levels"]["L1"]["n_pixels"] == p.inside_count("L1") == int(ell.sum())
        assert p.js("window.vbq.provenance()")["L1"] == "edited_proposal"
        page.click("#minus-toggle")  # restored: as given again
        assert page.text_content("#minus-toggle") == "Keep L1 whole"
        assert p.colours(cut_px) == with_cuts[0]
        assert p.entry("L1") == given["L1"]
        p.settled()

        # move the ellipse by its body, from a pixel clear of the cut-outs: the cut-outs
        # stay on the anatomy, drawn where they were and posted unchanged
        r, c = far_px[len(far_px) // 2]
        start = p.screen(r, c)
        p.drag(start, (start[0] + 8, start[1] + 5))
        moved = p.entry("L1")
        assert moved["center"] != given["L1"]["center"]
        assert moved["minus"] == given["L1"]["minus"]
        res = p.settled()
        assert p.last_post("score")["rois"] == p.doc()
        want = int(expected_pixels(shape, moved).sum())
        assert res["levels"]["L1"]["n_pixels"] == p.inside_count("L1") == want
        # clear of the moved outline and its handles too
        still = np.argwhere(cut & ndimage.binary_erosion(expected_pixels(
                                shape, {**moved, "minus": []}), iterations=2)).tolist()
        assert len(still) > 0.5 * len(cut_px)
        before = dict(zip(map(tuple, cut_px), with_cuts[0], strict=True))
        assert p.colours(still) == [before[tuple(q)] for q in still]

        # save, with the files: the reading holds the cut-outs as given
        p.js("document.querySelector('#status').textContent = ''")
        page.click("#save")
        page.wait_for_function(
            "document.querySelector('#save-info').dataset.readingId || "
            "(document.querySelector('#status').textContent && "
            "document.querySelector('#status').className !== 'ok')")
        assert page.get_attribute("#save-info", "data-reading-id"), page.text_content(
            "#status")
        live["reading_id"] = int(page.get_attribute("#save-info", "data-reading-id"))
        live["saved_doc"] = p.doc()
        assert p.last_post("readings")["rois"] == live["saved_doc"]

        # L1 drawn again from scratch: no cut-outs; L3 keeps its own
        page.click("#labels button[data-label=L1]")
        page.check("input[name=tool][value=draw]")
        p.drag(p.screen(56.0, 110.0), p.screen(74.0, 131.0))
        assert p.js("window.vbq.provenance()")["L1"] == "hand_drawn"
        assert "minus" not in p.entry("L1")
        assert p.js("window.vbq.state.rois.L1.minus") is None
        assert page.is_hidden("#minus-toggle")
        res = p.settled()
        posted = {e["label"]: e for e in p.last_post("score")["rois"]["rois"]}
        assert "minus" not in posted["L1"] and posted["L3"] == given["L3"]
        assert res["levels"]["L1"]["n_pixels"] == p.inside_count("L1")

        # L3 deleted: gone with its cut-out
        page.check("input[name=tool][value=place]")
        page.click("#labels button[data-label=L3]")
        assert page.text_content("#minus-toggle") == "Keep L3 whole"
        page.focus("#view")
        page.keyboard.press("Delete")
        assert p.entry("L3") is None and page.is_hidden("#minus-toggle")
        p.settled()

    saved = ReadingStore(server.db).get(live["reading_id"]).rois
    assert saved == live["saved_doc"]
    assert {e["label"]: e.get("minus") for e in saved["rois"]}["L1"] == given["L1"]["minus"]
    exported = [f for f in server.out.iterdir() if f.name.endswith("_rois.json")]
    assert len(exported) == 1 and len(list(server.out.iterdir())) == 5
    patient = {e["label"]: e for e in json.loads(exported[0].read_text())["rois"]}
    # the files are in patient space (a circle may become an ellipse there): same cut-outs
    assert [len(m.get("points", ())) for m in patient["L1"]["minus"]] == [
        len(m.get("points", ())) for m in given["L1"]["minus"]]


def test_proposed_cut_outs_in_the_browser(tmp_path):
    """Clicks on bodies with focal structures: the proposals' cut-outs are kept and scored."""
    need_chromium()
    from vbq.phantom import make_phantom

    info = make_phantom(tmp_path / "study", anatomy="realistic", seed=0, variants="all",
                        distractors=())
    seeds = json.loads(info.seeds_path.read_text())
    points = {s["label"]: s["point"] for s in seeds["seeds"]}
    with served(tmp_path, info.series_dir, seeds["slice"]) as (server, p):
        page = p.page
        proposed = {}
        for label in ("L1", "L3"):  # L3 brings the CSF with it
            page.click(f"#labels button[data-label={label}]")
            with page.expect_response(lambda r: r.url.endswith("/api/propose")) as got:
                page.mouse.click(*p.screen(*points[label]))
            answer = got.value.json()["rois"]
            entry = next(e for e in answer["rois"] if e["label"] == label)
            proposed[label] = {"slice": answer["slice"], **entry}
            page.wait_for_function(f"window.vbq.state.rois.{label} && !document."
                                   "querySelector('#status').textContent"
                                   ".startsWith('proposing')")
        assert len(proposed["L1"]["minus"]) >= 1
        assert all(m["shape"] == "polygon" for m in proposed["L1"]["minus"])
        res = p.settled()
        posted = {e["label"]: e for e in p.last_post("score")["rois"]["rois"]}
        for label in ("L1", "L3"):
            assert p.entry(label) == posted[label] == proposed[label]
            assert res["levels"][label]["n_pixels"] == p.inside_count(label)
        page.click("#labels button[data-label=L1]")
        n = len(proposed["L1"]["minus"])
        assert page.text_content("#minus-toggle") == "Keep L1 whole"
        assert page.text_content("#levels tbody tr:first-child td:nth-child(4)") == (
            f"accepted proposal, {n} cut-out{'' if n == 1 else 's'}")
