"""The workstation's JSON API, through Starlette's test client (no socket).

References: ``vbq score ... --json`` run as its own process (the score), the series choice
of :func:`vbq.dicom.choice.load_series` (the worklist), the DICOM pixels read with pydicom
and windowed by hand (the slice PNG), pydicom reading the SR, pypdf the PDF's text.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from _serve_helpers import BASE, TOKEN, VBQ, client_for, phantom

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("httpx2", reason="starlette's test client uses httpx2 (test extra)")

from starlette.testclient import TestClient  # noqa: E402

from vbq.serve.app import ServeConfig, Workstation, create_app  # noqa: E402


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Two phantom studies (distractor series in the first) under one folder."""
    root = tmp_path_factory.mktemp("serve_api")
    a = phantom(root / "studies" / "a", vbq=3.0, seed=1, distractors=("t2", "axial"))
    b = phantom(root / "studies" / "b", vbq=3.6, seed=2)
    return {"root": root, "folder": root / "studies", "a": a, "b": b}




@pytest.fixture
def client(studies, tmp_path):
    return client_for(studies, tmp_path)


def cli_json(*args):
    out = subprocess.run([*VBQ, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def study_of(client, series_uid):
    for st in client.get("/api/studies").json():
        if any(s["series_uid"] == series_uid for s in st["series"]):
            return st
    raise AssertionError(series_uid)


# --------------------------------------------------------------------------- worklist
def test_studies_list_each_study_with_the_series_vbq_score_chooses(client, studies):
    from vbq.dicom.choice import load_series

    listed = client.get("/api/studies").json()
    assert len(listed) == 2
    for key in ("a", "b"):
        uid = studies[key]["series_uid"]
        st = study_of(client, uid)
        choice = load_series(studies[key]["series"])  # each study's own folder: one study
        chosen = [s for s in st["series"] if s["chosen"]]
        assert [s["series_uid"] for s in chosen] == [choice.series.series_instance_uid] == [uid]
        assert chosen[0]["reason"] == choice.reason
        assert st["patient_id"] == "VBQ-PHANTOM" and st["study_date"] == "2024-01-15"
        assert st["study_uid"] == choice.series.study_instance_uid
        rejected = {u: why for u, _, why in choice.rejected}
        assert {s["series_uid"]: s["reason"] for s in st["series"] if not s["chosen"]} == rejected
        assert set(st) >= {"study_uid", "patient_id", "study_date", "description", "series"}
    assert len(study_of(client, studies["a"]["series_uid"])["series"]) == 3  # T1, T2, axial


# --------------------------------------------------------------------------- slices
def test_slice_png_is_the_dicom_pixels_through_the_window(client, studies):
    from PIL import Image

    from vbq.dicom.choice import load_series

    uid = studies["a"]["series_uid"]
    # slice 7's own file, decoded by pydicom
    ds = pydicom.dcmread(load_series(studies["a"]["series"]).series.slices[7].path)
    raw = ds.pixel_array.astype(float) * float(getattr(ds, "RescaleSlope", 1)) + float(
        getattr(ds, "RescaleIntercept", 0))
    resp = client.get(f"/api/series/{uid}/slices/7.png", params={"window": 400, "level": 250})
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(resp.content)))
    lo = 250 - 200
    want = np.clip(np.floor((raw - lo) * 255 / 400 + 0.5), 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    # default window: 1st to 99.5th percentile
    auto = client.get(f"/api/series/{uid}/slices/7.png")
    lo, hi = np.percentile(raw, [1.0, 99.5])
    assert float(auto.headers["x-window"]) == pytest.approx(hi - lo, rel=1e-12)
    assert float(auto.headers["x-level"]) == pytest.approx((hi + lo) / 2, rel=1e-12)


@pytest.mark.parametrize("path, status", [
    ("/api/series/{uid}/slices/15.png", 404),
    ("/api/series/{uid}/slices/-1.png", 404),
    ("/api/series/{uid}/slices/x.png", 404),
    ("/api/series/1.2.3/slices/0.png", 404),
    ("/api/series/{uid}/slices/0.png?window=0", 400),
    ("/api/series/{uid}/slices/0.png?window=abc", 400),
    ("/api/series/{uid}/slices/0.png?level=nan", 400),
])
def test_bad_slice_requests(client, studies, path, status):
    resp = client.get(path.format(uid=studies["a"]["series_uid"]))
    assert resp.status_code == status
    body = resp.json()
    assert list(body) == ["error"] and "Traceback" not in body["error"]
    assert body["error"].count("\n") == 0


# --------------------------------------------------------------------------- score
def test_score_equals_vbq_score_json(client, studies, tmp_path):
    a = studies["a"]
    st = study_of(client, a["series_uid"])
    path = tmp_path / "rois.json"
    path.write_text(json.dumps(a["rois"]))
    want = cli_json("score", str(studies["folder"]), "--study", st["study_uid"], "--series",
                    a["series_uid"], "--rois", str(path), "--json")
    got = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": a["rois"]})
    assert got.status_code == 200
    assert got.json() == want  # every field: no path or time in the result JSON
    # options pass through as in the command line
    want = cli_json("score", str(studies["folder"]), "--study", st["study_uid"], "--series",
                    a["series_uid"], "--rois", str(path), "--json", "--statistic", "median")
    got = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": a["rois"],
                                          "statistic": "median", "protocol": "lumbar"})
    assert got.json() == want


def test_measure_gives_each_roi_as_vbq_score_measures_it_without_a_score(client, studies,
                                                                         tmp_path):
    """Three of four levels excluded: no score, but each ROI's signal and pixels as the
    command line measures them with none excluded."""
    a = studies["a"]
    st = study_of(client, a["series_uid"])
    path = tmp_path / "rois.json"
    path.write_text(json.dumps(a["rois"]))
    want = {}
    for stat in ("mean", "median"):
        res = cli_json("score", str(studies["folder"]), "--study", st["study_uid"], "--series",
                       a["series_uid"], "--rois", str(path), "--json", "--statistic", stat)
        want[stat] = {lab: (part["si"], part["n_pixels"]) for lab, part in
                      [*res["levels"].items(), ("CSF", res["csf"])]}
    doc = dict(a["rois"], exclude={"L2": "fracture", "L3": "fracture", "L4": "fracture"})
    refused = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": doc})
    assert refused.status_code == 422
    for stat in ("mean", "median"):
        got = client.post("/api/measure", json={"series_uid": a["series_uid"], "rois": doc,
                                                "statistic": stat})
        assert got.status_code == 200 and got.json()["statistic"] == stat
        rois = got.json()["rois"]
        assert {lab: (r["si"], r["n_pixels"]) for lab, r in rois.items()} == want[stat]
    bad = client.post("/api/measure", json={"series_uid": a["series_uid"], "rois": doc,
                                            "statistic": "mode"})
    assert bad.status_code == 400 and "statistic" in bad.json()["error"]
    assert client.post("/api/measure", json={"series_uid": "1.2.3", "rois": doc}
                       ).status_code == 404
    assert client.post("/api/measure", json={"series_uid": a["series_uid"], "rois": doc,
                                             "force": True}).status_code == 400


def test_score_of_a_rejected_series_carries_the_choice_warning(client, studies, tmp_path):
    a = studies["a"]
    st = study_of(client, a["series_uid"])
    t2 = next(s for s in st["series"] if "T2" in s["description"])
    path = tmp_path / "rois.json"
    path.write_text(json.dumps(a["rois"]))
    out = subprocess.run([*VBQ, "score", str(studies["folder"]), "--study", st["study_uid"],
                          "--series", t2["series_uid"], "--rois", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    got = client.post("/api/score", json={"series_uid": t2["series_uid"], "rois": a["rois"]})
    if out.returncode == 0:
        assert got.status_code == 200 and got.json() == json.loads(out.stdout)
    else:  # refused the same way: exit 1 is 422, exit 2 is 400
        assert got.status_code == {1: 422, 2: 400}[out.returncode]


def implausible(rois):
    """The phantom's ROIs with the CSF ROI moved into L3's marrow and L1 to L4 into the sac."""
    doc = json.loads(json.dumps(rois))
    csf = next(r for r in doc["rois"] if r["label"] == "CSF")
    l3 = next(r for r in doc["rois"] if r["label"] == "L3")
    body_centre = l3["center"]
    new = []
    for r in doc["rois"]:
        if r["label"] == "CSF":
            new.append({**r, "center": body_centre})
        else:   # down the sac in the levels' order, 6 rows apart
            k = ("L1", "L2", "L3", "L4").index(r["label"])
            new.append({"label": r["label"], "shape": "circle", "radius": 2.5,
                        "center": [csf["center"][0] + 6.0 * (k - 1.5), csf["center"][1]]})
    doc["rois"] = new
    return doc


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b'{"series_uid": "1.2.3", "rois": {}}', 404),
    (b'{"series_uid": "%(uid)s"}', 400),
    (b'{"series_uid": "%(uid)s", "rois": [], "x": 1}', 400),
    (b'{"series_uid": "%(uid)s", "rois": {"format": "vbq-rois/2", "rois": []}}', 400),
    (b'{"series_uid": "%(uid)s", "rois": {"format": "vbq-rois/1", "rois": '
     b'[{"label": "L1", "shape": "ellipse", "center": [5, 5], "radii": [2, 2], "size": 1}]}}', 400),
    (b'{"series_uid": "%(uid)s", "rois": {"format": "vbq-rois/1", "rois": '
     b'[{"label": "L1", "shape": "circle", "center": [5000, 5], "radius": 3}]}}', 400),
    (b'{"series_uid": "%(uid)s", "rois": IMPLAUSIBLE}', 422),
    (b'{"series_uid": "%(uid)s", "rois": ROIS, "force": "yes"}', 400),
    (b'{"series_uid": "%(uid)s", "rois": ROIS, "statistic": "mode"}', 400),
    (b'{"series_uid": "%(uid)s", "rois": ROIS, "protocol": "knee"}', 400),
])
def test_score_bad_input(client, studies, body, status):
    a = studies["a"]
    text = body.replace(b"%(uid)s", a["series_uid"].encode())
    text = text.replace(b"IMPLAUSIBLE", json.dumps(implausible(a["rois"])).encode())
    text = text.replace(b"ROIS", json.dumps(a["rois"]).encode())
    resp = client.post("/api/score", content=text, headers={"Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert "Traceback" not in err and "\n" not in err and err


def test_score_of_a_csf_roi_at_a_level_the_protocol_does_not_allow_names_the_roi_and_key(
        client, studies):
    a = studies["a"]
    doc = json.loads(json.dumps(a["rois"]))
    number = next(i for i, r in enumerate(doc["rois"], start=1) if r["label"] == "CSF")
    doc["rois"][number - 1]["level"] = "T12"
    resp = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": doc})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == (f'rois: ROI {number} (CSF): "level" is T12, which protocol '
                                    "lumbar does not allow for the CSF (allowed: L3, L2, L1)")


def test_implausible_is_refused_unless_forced_as_the_command_line(client, studies, tmp_path):
    a = studies["a"]
    doc = implausible(a["rois"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    out = subprocess.run([*VBQ, "score", str(a["series"]), "--rois", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    resp = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": doc})
    assert resp.status_code == 422
    # the command line's sentence, told how the page forces a score
    from vbq.serve.app import in_the_page

    said = out.stderr.strip().removeprefix("vbq: error: ")
    assert resp.json()["error"] == in_the_page(said) != said
    forced = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": doc,
                                             "force": True})
    assert forced.status_code == 200 and forced.json()["vbq"] < 1


# --------------------------------------------------------------------------- propose
def test_propose_gives_ellipses_that_score_near_the_truth(client, studies):
    a = studies["a"]
    resp = client.post("/api/propose", json={"series_uid": a["series_uid"],
                                             "seeds": a["seeds"]})
    assert resp.status_code == 200, resp.text
    p = resp.json()
    assert p["rois"]["format"] == "vbq-rois/1" and p["rois"]["space"] == "pixel"
    labels = [r["label"] for r in p["rois"]["rois"]]
    assert labels[:4] == ["L1", "L2", "L3", "L4"] and "CSF" in labels
    # turned ellipses in the bodies; the CSF ROI, from the sac traced along the canal, is
    # the rectangle along the sac between L3's endplates
    shapes = {r["label"]: r["shape"] for r in p["rois"]["rois"]}
    assert all(shapes[lv] == "ellipse" for lv in ("L1", "L2", "L3", "L4"))
    assert shapes["CSF"] == "rectangle"
    scored = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": p["rois"]})
    assert scored.status_code == 200
    # the phantom's VBQ is known by construction; ellipses inside its bodies and sac find it
    assert scored.json()["vbq"] == pytest.approx(a["info"].vbq, rel=0.05)


def test_propose_without_the_csf_level_still_proposes_the_bodies(client, studies):
    a = studies["a"]
    one = {**a["seeds"], "seeds": [s for s in a["seeds"]["seeds"] if s["label"] == "L1"]}
    resp = client.post("/api/propose", json={"series_uid": a["series_uid"], "seeds": one})
    assert resp.status_code == 200, resp.text
    assert [r["label"] for r in resp.json()["rois"]["rois"]] == ["L1"]
    assert any("click inside the CSF" in n for n in resp.json()["notes"])


@pytest.mark.parametrize("payload, status", [
    ({"seeds": {"format": "vbq-seeds/1", "seeds": [{"label": "L1", "point": [1, 1]}]}}, 400),
    ({"series_uid": "UID", "seeds": {"format": "vbq-rois/1", "seeds": []}}, 400),
    ({"series_uid": "UID", "seeds": {"format": "vbq-seeds/1", "seeds": [
        {"label": "L1", "point": [9999, 1]}]}}, 400),
    ({"series_uid": "UID", "seeds": {"format": "vbq-seeds/1", "seeds": [
        {"label": "L1", "point": [3, 3]}]}, "find_csf": False}, 422),
    ({"series_uid": "UID", "seeds": "x"}, 400),
    ({"series_uid": "UID", "seeds": {}, "slice": "7"}, 400),
    ({"series_uid": "9.9.9", "seeds": {}}, 404),
])
def test_propose_bad_input(client, studies, payload, status):
    payload = json.loads(json.dumps(payload).replace("UID", studies["a"]["series_uid"]))
    resp = client.post("/api/propose", json=payload)
    assert resp.status_code == status, resp.text
    assert "Traceback" not in resp.json()["error"]


# --------------------------------------------------------------------------- security
def test_token_is_required_and_set_once_as_a_cookie(studies, tmp_path):
    c = client_for(studies, tmp_path)
    bare = TestClient(c.app, base_url=BASE)
    assert bare.get("/api/studies").status_code == 403
    assert bare.get("/").status_code == 403
    assert bare.get("/api/studies", headers={"Authorization": "Bearer " + "u" * 43}
                    ).status_code == 403
    assert bare.get("/?token=wrong", follow_redirects=False).status_code == 403
    first = bare.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and TOKEN.lower() in cookie
    assert bare.get("/api/studies").status_code == 200  # the cookie now
    page = bare.get("/")
    assert page.status_code == 200 and "VBQ reading workstation" in page.text


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8765", True), ("localhost:8765", True), ("localhost", True),
    ("evil.example:8765", False), ("127.0.0.1.nip.io:8765", False), ("127.0.0.1:9999", False),
])
def test_host_header_must_name_this_server(client, host, ok):
    resp = client.get("/api/studies", headers={"Host": host})
    assert resp.status_code == (200 if ok else 403)


def test_state_changing_requests_check_origin(client, studies):
    payload = {"series_uid": studies["a"]["series_uid"], "rois": studies["a"]["rois"]}
    assert client.post("/api/score", json=payload,
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/score", json=payload,
                       headers={"Origin": "http://localhost:9999"}).status_code == 403
    assert client.post("/api/score", json=payload, headers={"Origin": "null"}).status_code == 403
    assert client.post("/api/score", json=payload,
                       headers={"Origin": BASE}).status_code == 200


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2fetc%2fpasswd",
    "/static//etc/passwd", "/static/..%5capp.py", "/static/nothing.js",
])
def test_static_files_stay_in_the_package_folder(client, path):
    resp = client.get(path)
    assert resp.status_code == 404
    assert "def " not in resp.text and "root:" not in resp.text


def test_static_files_are_served(client):
    for name, kind in (("app.js", "javascript"), ("style.css", "css"), ("index.html", "html")):
        resp = client.get(f"/static/{name}")
        assert resp.status_code == 200 and kind in resp.headers["content-type"]
    js = client.get("/static/app.js").text + client.get("/static/index.html").text
    assert "http://" not in js.replace("http://www.w3.org", "") and "https://" not in js


def test_series_reached_through_a_symlink_out_of_the_folder_are_not_served(studies, tmp_path):
    import shutil

    folder = tmp_path / "served"
    shutil.copytree(studies["a"]["series"], folder / "a")
    (folder / "linked").mkdir()
    for i, f in enumerate(p for p in studies["b"]["series"].rglob("*") if p.is_file()):
        os.symlink(f, folder / "linked" / f"{i}.dcm")  # each file links out of the folder
    config = ServeConfig(folder=folder, db=tmp_path / "r.sqlite", out=tmp_path / "x",
                         token=TOKEN)
    ws = Workstation(config)
    c = TestClient(create_app(config, ws), base_url=BASE,
                   headers={"Authorization": f"Bearer {TOKEN}"})
    listed = c.get("/api/studies").json()
    assert [s["series"][0]["series_uid"] for s in listed] == [studies["a"]["series_uid"]]
    assert ws.catalog.outside == 1
    assert c.get(f"/api/series/{studies['b']['series_uid']}/slices/0.png").status_code == 404


# --------------------------------------------------------------------------- readings
def save(client, series_uid, rois, reader="ann", **extra):
    return client.post("/api/readings", json={"reader": reader, "series_uid": series_uid,
                                              "rois": rois, **extra})


def test_reading_is_the_score_and_is_kept(client, studies):
    a = studies["a"]
    score = client.post("/api/score", json={"series_uid": a["series_uid"], "rois": a["rois"]})
    resp = save(client, a["series_uid"], a["rois"],
                provenance={"L1": "accepted_proposal", "L2": "edited_proposal"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["result"] == score.json()
    assert body["reading_id"] == 1 and body["occasion"] == 1 and body["replaces"] is None
    listed = client.get("/api/readings", params={"reader": "ann"}).json()
    assert [r["reading_id"] for r in listed] == [1]
    assert listed[0]["roi_provenance"] == ("L1:accepted_proposal;L2:edited_proposal;"
                                           "L3:hand_drawn;L4:hand_drawn;CSF:hand_drawn")
    assert listed[0]["read_at"].endswith("Z")
    # the worklist marks the study read for ann, not for bob
    st = [s for s in client.get("/api/studies", params={"reader": "ann"}).json() if s["read"]]
    assert [s["study_uid"] for s in st] == [study_of(client, a["series_uid"])["study_uid"]]
    assert not any(s["read"] for s in client.get("/api/studies",
                                                 params={"reader": "bob"}).json())


def test_an_edit_is_a_new_reading_that_replaces_the_current_one(client, studies):
    a = studies["a"]
    first = save(client, a["series_uid"], a["rois"]).json()
    second = save(client, a["series_uid"], a["rois"], replaces=first["reading_id"]).json()
    assert second["replaces"] == first["reading_id"]
    third = save(client, a["series_uid"], a["rois"]).json()  # implicit: the current one
    assert third["replaces"] == second["reading_id"]
    stale = save(client, a["series_uid"], a["rois"], replaces=first["reading_id"])
    assert stale.status_code == 422
    assert [r["reading_id"] for r in client.get("/api/readings?reader=ann").json()] == [3]


def test_blinding_hides_other_readers_and_earlier_occasions(client, studies):
    a, b = studies["a"], studies["b"]
    save(client, a["series_uid"], a["rois"], reader="ann")
    save(client, a["series_uid"], a["rois"], reader="bob")
    assert [r["reader"] for r in client.get("/api/readings?reader=ann").json()] == ["ann"]
    assert client.post("/api/occasions", json={"reader": "ann"}).json()["occasion"] == 2
    assert client.get("/api/readings?reader=ann").json() == []
    assert not any(s["read"] for s in client.get("/api/studies?reader=ann").json())
    again = save(client, b["series_uid"], b["rois"], reader="ann").json()
    assert again["occasion"] == 2 and again["replaces"] is None
    assert [r["reading_id"] for r in client.get("/api/readings?reader=ann").json()] == [
        again["reading_id"]]
    assert client.get("/api/readings.csv").status_code == 403


def test_fixed_reader_refuses_another(studies, tmp_path):
    c = client_for(studies, tmp_path, reader="ann")
    a = studies["a"]
    assert save(c, a["series_uid"], a["rois"], reader="bob").status_code == 403
    assert c.post("/api/occasions", json={"reader": "bob"}).status_code == 403
    assert c.get("/api/readings?reader=bob").status_code == 403
    ok = c.post("/api/readings", json={"series_uid": a["series_uid"], "rois": a["rois"]})
    assert ok.status_code == 200  # the fixed reader when none is named
    assert c.get("/api/config").json()["reader"] == "ann"


@pytest.mark.parametrize("extra, status", [
    ({"reader": ""}, 400), ({"reader": "a;b"}, 400), ({"reader": 3}, 400),
    ({"reader": "x" * 65}, 400), ({"provenance": {"L1": "guessed"}}, 400),
    ({"provenance": {"L9": "hand_drawn"}}, 400), ({"provenance": ["L1"]}, 400),
    ({"replaces": "1"}, 400), ({"export": "yes"}, 400), ({"extra": 1}, 400),
])
def test_reading_bad_input(client, studies, extra, status):
    a = studies["a"]
    payload = {"reader": "ann", "series_uid": a["series_uid"], "rois": a["rois"], **extra}
    resp = client.post("/api/readings", json=payload)
    assert resp.status_code == status, resp.text
    assert client.get("/api/readings?reader=ann").json() == []  # nothing half-saved


def test_unblinded_csv_export_is_read_by_vbq_agreement(studies, tmp_path):
    c = client_for(studies, tmp_path, unblind=True)
    a, b = studies["a"], studies["b"]
    accepted = {k: "accepted_proposal" for k in ("L1", "L2", "L3", "L4", "CSF")}

    def shifted(rois, d):
        doc = json.loads(json.dumps(rois))
        for r in doc["rois"]:
            for key in ("center", "corner"):
                if key in r:
                    r[key] = [r[key][0] + d, r[key][1]]
            if "points" in r:
                r["points"] = [[p[0] + d, p[1]] for p in r["points"]]
        return doc

    ids = []
    for reader, d in (("ann", 0.0), ("bob", 0.5)):
        for s in (a, b):
            r = save(c, s["series_uid"], shifted(s["rois"], d), reader=reader,
                     provenance=accepted if reader == "ann" else None)
            assert r.status_code == 200, r.text
            ids.append(r.json())
    # the listing carries the asking reader's own ROIs (the page reopens them), not others'
    listed = c.get("/api/readings?reader=ann").json()
    assert sorted(r["reader"] for r in listed) == ["ann", "ann", "bob", "bob"]
    assert [r["rois"] for r in listed if r["reader"] == "ann"] == [a["rois"], b["rois"]]
    assert all("rois" not in r for r in listed if r["reader"] == "bob")
    resp = c.get("/api/readings.csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    from vbq.batch import output_columns

    header = resp.text.splitlines()[0].split(",")
    assert header[:len(output_columns(["L1", "L2", "L3", "L4"]))] == output_columns(
        ["L1", "L2", "L3", "L4"])
    assert set(header) >= {"study_instance_uid", "patient_id", "reader", "occasion", "read_at",
                           "reading_id", "roi_provenance"}
    assert [float(r["vbq"]) for r in rows] == [x["result"]["vbq"] for x in ids]
    assert [r["id"] for r in rows] == [r["reading_id"] for r in rows]
    assert rows[0]["roi_provenance"] == ";".join(f"{k}:accepted_proposal" for k in accepted)
    path = tmp_path / "readings.csv"
    path.write_text(resp.text)
    # the same as the command line's export
    out = subprocess.run([*VBQ, "readings", "export", "--db", str(tmp_path / "r.sqlite")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == resp.text
    agreement = subprocess.run([*VBQ, "agreement", str(path), "--json"], capture_output=True,
                               text=True, timeout=120)
    assert agreement.returncode == 0, agreement.stderr
    result = json.loads(agreement.stdout)
    assert result["provenance"]["n_unedited_proposals"] == 2  # ann's two readings
    assert "unedited_proposals" in result["warning_codes"]


def test_readings_export_command_bad_input(tmp_path):
    out = subprocess.run([*VBQ, "readings", "export", "--db", str(tmp_path / "none.sqlite")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (tmp_path / "junk.sqlite").write_text("not a database")
    out = subprocess.run([*VBQ, "readings", "export", "--db", str(tmp_path / "junk.sqlite")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "junk.sqlite" in out.stderr and "Traceback" not in out.stderr


def test_readings_are_append_only_in_the_database(client, studies, tmp_path):
    import sqlite3

    save(client, studies["a"]["series_uid"], studies["a"]["rois"])
    con = sqlite3.connect(tmp_path / "r.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE readings SET reader = 'eve'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM readings")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


# --------------------------------------------------------------------------- exports
def test_exports_are_written_under_server_chosen_names(client, studies, tmp_path):
    from pypdf import PdfReader

    from vbq.score import score_series
    from vbq.sr import read_sr_measurements

    a = studies["a"]
    resp = save(client, a["series_uid"], a["rois"], reader="Dr. Ann-x", export=True)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    files = body["files"]
    stem = f"VBQ-PHANTOM_2024-01-15_Dr-Ann-x_{body['reading_id']}"
    assert files == {"rois": f"{stem}_rois.json", "result": f"{stem}_result.json",
                     "qc": f"{stem}_qc.png", "sr": f"{stem}_sr.dcm", "pdf": f"{stem}.pdf"}
    out = tmp_path / "exports"
    assert sorted(p.name for p in out.iterdir()) == sorted(files.values())
    assert json.loads((out / files["result"]).read_text()) == body["result"]
    # the patient-space ROI file scores as the pixel ROIs did
    patient = json.loads((out / files["rois"]).read_text())
    assert patient["space"] == "patient"
    again = score_series(a["series"], rois=out / files["rois"])
    assert again.vbq == pytest.approx(body["result"]["vbq"], rel=1e-12)
    assert {k: v.si for k, v in again.levels.items()} == pytest.approx(
        {k: v["si"] for k, v in body["result"]["levels"].items()}, rel=1e-12)
    sr = read_sr_measurements(out / files["sr"])
    assert sr  # a readable SR with measurements
    text = PdfReader(out / files["pdf"]).pages[0].extract_text()
    assert len(PdfReader(out / files["pdf"]).pages) == 1
    for phrase in ("VBQ-PHANTOM", "2024-01-15", "T1 SAG TSE", f"VBQ {body['result']['vbq']:.3f}",
                   "Dr. Ann-x", "research use", "vbq-toolkit"):
        assert phrase in text, phrase
    for c in body["result"]["cutoffs"]:
        assert c["doi"] in text.replace("\n", "")
    assert (out / files["qc"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rotated_ellipse_is_scored_and_exported(client, studies, tmp_path):
    from vbq.score import score_series

    a = studies["a"]
    doc = json.loads(json.dumps(a["rois"]))
    doc["rois"][0] = {"label": "L1", "shape": "ellipse", "center": [65.3, 120.6],
                      "radii": [5.5, 8.0], "angle_deg": 12.5}
    resp = save(client, a["series_uid"], doc, export=True)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    again = score_series(a["series"], rois=tmp_path / "exports" / body["files"]["rois"])
    assert again.vbq == pytest.approx(body["result"]["vbq"], rel=1e-12)
    assert again.levels["L1"].measurement.n_pixels == body["result"]["levels"]["L1"]["n_pixels"]


@pytest.mark.parametrize("angle", [17.5, 30.0, 90.0, -62.0, 135.0])
def test_turned_ellipse_on_oblong_pixels_selects_the_same_pixels_in_millimetres(angle):
    """An affine map sends an ellipse to an ellipse: the mm ellipse the export writes must
    select exactly the pixels of the pixel ellipse drawn (the ROI rule of vbq.roi.shapes)."""
    from vbq.roi.shapes import ellipse_mask
    from vbq.serve.exports import _radii_mm

    spacing = (0.6, 1.3)
    radii_px = (9.3, 5.1)
    radii_mm, angle_mm = _radii_mm(list(radii_px), angle, spacing)
    drawn = ellipse_mask((64, 64), (31.4, 30.2), radii_px, angle)
    written = ellipse_mask((64, 64), (31.4, 30.2), tuple(radii_mm), angle_mm or 0.0, spacing)
    assert drawn.sum() > 100
    assert np.array_equal(drawn, written)


def test_starlette_test_client_imports_without_a_deprecation_warning():
    # with httpx alone starlette warns that its test client's HTTP library is deprecated
    out = subprocess.run([sys.executable, "-W", "error", "-c",
                          "import starlette.testclient"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr


def test_canal_summary_is_traced_once_per_series_slice_and_centres(studies, monkeypatch):
    from vbq.roi import midline
    from vbq.serve.catalog import Catalog

    series = Catalog(studies["b"]["series"]).series(studies["b"]["series_uid"])
    rois = studies["b"]["rois"]
    from vbq.roi.rois import RoiFile

    fresh = RoiFile.from_json(rois).masks(series)  # computed, then remembered
    calls = []
    real = midline.trace_canal
    monkeypatch.setattr(midline, "trace_canal", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = RoiFile.from_json(rois).masks(series)
    assert calls == []  # the same ROIs on the same series: not traced again
    assert again.csf_reference == fresh.csf_reference is not None
    assert again.midline_offset_mm == fresh.midline_offset_mm  # None: drawn files name a slice
    # the reference: a new series object (no memo) computes the same numbers
    other = Catalog(studies["b"]["series"]).series(studies["b"]["series_uid"])
    third = RoiFile.from_json(rois).masks(other)
    assert calls == [1]
    assert third.midline_offset_mm == fresh.midline_offset_mm
    assert third.csf_reference == fresh.csf_reference
    # other centres, or another image for the same slice, are traced afresh
    index = int(rois.get("slice", series.mid_slice))
    centres = {"L1": (100.0, 120.0), "L4": (200.0, 118.0)}
    midline.summarise_canal(series, index, centres)
    assert len(calls) == 2
    midline.summarise_canal(series, index, centres)
    assert len(calls) == 2
    midline.summarise_canal(series, index, centres, image=series.pixels(index) + 1.0)
    assert len(calls) == 3


def _realistic_client(tmp_path, seed, variants):
    from vbq.phantom import make_phantom

    info = make_phantom(tmp_path / "study", anatomy="realistic", seed=seed, variants=variants,
                        distractors=())
    config = ServeConfig(folder=info.series_dir, db=tmp_path / "r.sqlite", out=tmp_path / "x",
                         token=TOKEN, host="127.0.0.1", port=8765)
    client = TestClient(create_app(config, Workstation(config)), base_url=BASE,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    return info, client


def _symmetric_slice_by_pydicom(folder):
    """The symmetry answer on the stack read with pydicom alone, ordered along the normal."""
    from vbq.roi.symmetry import symmetry_midline

    dss = [pydicom.dcmread(p) for p in sorted(folder.rglob("*")) if p.is_file()]
    normal = np.cross(*[np.asarray(dss[0].ImageOrientationPatient[i:i + 3], dtype=float)
                        for i in (0, 3)])
    dss.sort(key=lambda d: float(np.asarray(d.ImagePositionPatient, dtype=float) @ normal))
    stack = [d.pixel_array * float(getattr(d, "RescaleSlope", 1))
             + float(getattr(d, "RescaleIntercept", 0)) for d in dss]
    return symmetry_midline(stack).slice_index


def test_series_opens_on_the_symmetric_slice_before_any_click(tmp_path):
    # a realistic anatomy (every variant, obliquity and scoliosis included) whose true
    # mid-sagittal plane is on slice 6, not the middle (7), and which the symmetric plane
    # refined to the canal's dark column finds (the symmetric plane alone was on slice 5)
    info, client = _realistic_client(tmp_path, seed=4, variants="all")
    assert [p.name for p in info.series_dir.iterdir()] == ["003_T1_SAG_TSE"]
    truth = info.expected["geometry"]["mid_sagittal"]
    uid = info.series_instance_uid
    got = client.get(f"/api/series/{uid}").json()
    assert truth["slice"] == 6 != got["middle"] == got["n_slices"] // 2
    assert got["midline_source"] == "symmetry" and got["midline_reason"] is None
    assert got["midline_slice"] == got["open_at"] == truth["slice"]
    assert got["midline_slice"] == _symmetric_slice_by_pydicom(info.series_dir)
    # the plane's distance from that slice, within half a slice spacing
    spacing = info.expected["geometry"]["slice_spacing_mm"]
    assert abs(got["midline_offset_mm"]) <= spacing / 2


def test_first_slice_starts_the_search_and_the_answer_is_kept(tmp_path, monkeypatch):
    from vbq.roi import symmetry

    info, client = _realistic_client(tmp_path, seed=4, variants="all")
    calls = []
    real = symmetry.symmetry_midline
    monkeypatch.setattr(symmetry, "symmetry_midline",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    uid = info.series_instance_uid
    assert client.get(f"/api/series/{uid}/slices/0.png").status_code == 200
    first = client.get(f"/api/series/{uid}").json()
    again = client.get(f"/api/series/{uid}").json()
    assert first == again and first["midline_slice"] == 6
    assert client.get(f"/api/series/{uid}/slices/3.png").status_code == 200
    assert len(calls) == 1  # once per series, whether started by a slice or the series


def test_unreadable_slice_leaves_the_series_middle(tmp_path):
    import shutil

    info = phantom(tmp_path / "study")
    folder = tmp_path / "copy"
    shutil.copytree(info["series"], folder)
    victim = sorted(p for p in folder.rglob("*") if p.is_file())[2]
    raw = victim.read_bytes()
    victim.write_bytes(raw[: len(raw) - 5000])  # pixel data cut short
    config = ServeConfig(folder=folder, db=tmp_path / "r.sqlite", out=tmp_path / "x",
                         token=TOKEN, host="127.0.0.1", port=8765)
    client = TestClient(create_app(config, Workstation(config)), base_url=BASE,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    got = client.get(f"/api/series/{info['series_uid']}").json()
    assert got["midline_slice"] is None and got["midline_source"] is None
    assert got["open_at"] == got["middle"] and "cannot be read" in got["midline_reason"]


def test_series_opens_on_the_mid_sagittal_slice_once_the_sac_is_traced(tmp_path):
    # a realistic anatomy whose true mid-sagittal plane is on slice 6, not the middle (7),
    # turned 5.6 degrees about the vertical, rolled 3 degrees and scoliotic, with every
    # variant: the image-only search opens on slice 5, the traced sac wins
    info, client = _realistic_client(tmp_path, seed=14, variants="all")
    truth = info.expected["geometry"]["mid_sagittal"]
    spacing = info.expected["geometry"]["slice_spacing_mm"]
    true_k = int(np.argmin(np.abs(truth["slice_offsets_mm"])))
    uid = info.series_instance_uid
    got = client.get(f"/api/series/{uid}").json()
    n = got["n_slices"]
    assert n == len(truth["slice_offsets_mm"]) and true_k != n // 2
    assert got["midline_source"] == "symmetry" and got["midline_slice"] != true_k
    seeds = json.loads(info.seeds_path.read_text())
    p = client.post("/api/propose", json={"series_uid": uid, "seeds": seeds})
    assert p.status_code == 200, p.text
    assert p.json()["midline_slice"] == true_k
    assert p.json()["midline_source"] in ("bodies", "canal")
    got = client.get(f"/api/series/{uid}").json()
    assert got["midline_slice"] == got["open_at"] == true_k
    assert got["midline_source"] == p.json()["midline_source"]
    # the plane's distance from that slice, against the truth, within half a slice spacing
    assert abs(got["midline_offset_mm"] - truth["slice_offsets_mm"][true_k]) < spacing / 2
    assert client.get("/api/series/1.2.3.4").status_code == 404


def test_each_slice_is_decoded_once_when_requests_need_it_together(tmp_path, monkeypatch):
    """A slice image, the symmetry search it starts, proposals and scores share the decoding."""
    import threading
    import time
    from collections import Counter

    from vbq.dicom import pixels as dicom_pixels

    ph = phantom(tmp_path / "study")
    config = ServeConfig(folder=ph["series"], db=tmp_path / "r.sqlite", out=tmp_path / "x",
                         token=TOKEN, host="127.0.0.1", port=8765)
    ws = Workstation(config)
    client = TestClient(create_app(config, ws), base_url=BASE,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    decoded: Counter = Counter()
    real = dicom_pixels.decode

    def slow_decode(sl, *args, **kwargs):
        decoded[str(sl.path)] += 1
        time.sleep(0.02)  # a slow disk: requests arriving together overlap
        return real(sl, *args, **kwargs)

    monkeypatch.setattr(dicom_pixels, "decode", slow_decode)
    uid = ph["series_uid"]
    answers: list[int] = []

    def ask(method, path, body=None):
        r = client.post(path, json=body) if method == "POST" else client.get(path)
        answers.append(r.status_code)

    jobs = [("GET", f"/api/series/{uid}/slices/7.png"),
            ("POST", "/api/propose", {"series_uid": uid, "seeds": ph["seeds"]}),
            ("POST", "/api/score", {"series_uid": uid, "rois": ph["rois"]}),
            ("GET", f"/api/series/{uid}/slices/3.png"),
            ("POST", "/api/propose", {"series_uid": uid, "seeds": ph["seeds"]})]
    threads = [threading.Thread(target=ask, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    info = client.get(f"/api/series/{uid}").json()  # waits for the symmetry search
    assert answers == [200] * len(jobs)
    assert info["midline_slice"] is not None
    series = ws.series(uid)
    assert sorted(decoded) == sorted(str(s.path) for s in series.slices)
    assert set(decoded.values()) == {1}, decoded


def test_a_fresh_server_imports_nothing_on_its_first_proposal_and_score(tmp_path):
    """The analysis is loaded when the application is built, not by the first reader's click."""
    ph = phantom(tmp_path / "study", n_slices=5)
    code = f"""
import json, sys
from starlette.testclient import TestClient
from vbq.serve.app import ServeConfig, create_app
config = ServeConfig(folder={str(ph['series'])!r}, db={str(tmp_path / 'r.sqlite')!r},
                     out={str(tmp_path / 'x')!r}, token={TOKEN!r}, host="127.0.0.1", port=8765)
client = TestClient(create_app(config), base_url={BASE!r},
                    headers={{"Authorization": "Bearer {TOKEN}"}})
uid = {ph['series_uid']!r}
assert client.get("/api/studies").status_code == 200
assert client.get(f"/api/series/{{uid}}").status_code == 200
before = set(sys.modules)
p = client.post("/api/propose", json={{"series_uid": uid, "seeds": {ph['seeds']!r}}})
s = client.post("/api/score", json={{"series_uid": uid, "rois": {ph['rois']!r}}})
assert p.status_code == s.status_code == 200, (p.text, s.text)
# the standard library's own small modules (a package data reader) do not count
print(json.dumps(sorted(m for m in set(sys.modules) - before
                        if m.split(".")[0] not in sys.stdlib_module_names)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    late = json.loads(out.stdout.strip().splitlines()[-1])
    # a module named here is imported by the first request: add it to ANALYSIS_MODULES
    assert late == []


def test_an_axial_series_has_no_mid_sagittal_slice(client, studies):
    """The axial distractor: its plane read by pydicom is not sagittal, so no midline."""
    a = studies["a"]
    st = study_of(client, a["series_uid"])
    axial = [s["series_uid"] for s in st["series"] if "AX" in (s["description"] or "").upper()]
    assert len(axial) == 1
    files = [f for f in a["series"].rglob("*") if f.is_file()]
    orient = {tuple(round(float(x)) for x in d.ImageOrientationPatient)
              for d in (pydicom.dcmread(f, stop_before_pixels=True) for f in files)
              if d.SeriesInstanceUID == axial[0]}
    assert orient == {(1, 0, 0, 0, 1, 0)}  # rows along x, columns along y: an axial slice
    got = client.get(f"/api/series/{axial[0]}").json()
    assert got["midline_slice"] is None and got["midline_source"] is None
    assert got["open_at"] == got["middle"]
    assert got["midline_reason"] == ("the series is axial, so it has no mid-sagittal slice; it "
                                     "opens at its middle")
