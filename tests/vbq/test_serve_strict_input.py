"""The workstation refuses what it cannot take, in one sentence with the status the README
gives (400 malformed, 403 reader, 404 unknown, 422 not applicable): strict JSON bodies on
every endpoint, the reading an edit replaces, reader names, and window/level; and no CSV it
writes from the database holds a cell a spreadsheet would run as a formula (OWASP)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import warnings

import numpy as np
import pytest
from _serve_helpers import VBQ, client_for, phantom

pytest.importorskip("starlette")
pytest.importorskip("httpx2", reason="starlette's test client uses httpx2 (test extra)")





@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_strict")
    a = phantom(root / "studies" / "a", vbq=3.0, seed=1)
    b = phantom(root / "studies" / "b", vbq=3.6, seed=2)
    return {"folder": root / "studies", "a": a, "b": b}




@pytest.fixture
def client(studies, tmp_path):
    return client_for(studies, tmp_path)


def one_sentence(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == ["error"]
    err = body["error"]
    assert err and "\n" not in err and "Traceback" not in err and "internal error" not in err
    return err


def post(client, path, raw: bytes):
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


ENDPOINTS = ["/api/propose", "/api/score", "/api/readings", "/api/occasions"]


# --------------------------------------------------------------------------- strict JSON
@pytest.mark.parametrize("path", ENDPOINTS)
def test_deeply_nested_body_is_400_on_every_endpoint(client, path):
    deep = b'{"series_uid": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert "nested too deeply" in one_sentence(post(client, path, deep), 400)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_duplicate_key_is_400_naming_the_key(client, studies, path):
    uid = studies["a"]["series_uid"]
    raw = (f'{{"series_uid": "{uid}", "reader": "ann", "series_uid": "{uid}"}}').encode()
    if path == "/api/occasions":
        raw = b'{"reader": "ann", "reader": "bob"}'
        key = "reader"
    else:
        key = "series_uid"
    err = one_sentence(post(client, path, raw), 400)
    assert f'key "{key}" appears twice' in err


def test_duplicate_key_deep_inside_the_rois_is_refused(client, studies):
    a = studies["a"]
    rois = json.dumps(a["rois"])
    rois = rois.replace('"format": "vbq-rois/1"', '"format": "vbq-rois/1", "format": "x"', 1)
    raw = f'{{"series_uid": "{a["series_uid"]}", "rois": {rois}}}'.encode()
    assert 'key "format" appears twice' in one_sentence(post(client, "/api/score", raw), 400)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999",
                                     b"1" * 400])
def test_numbers_that_are_not_finite_doubles_are_400(client, studies, literal):
    raw = (b'{"series_uid": "' + studies["a"]["series_uid"].encode() + b'", "slice": '
           + literal + b', "seeds": {}}')
    one_sentence(post(client, "/api/propose", raw), 400)


def test_parse_body_depth_limit_and_what_it_accepts():
    from vbq.serve.app import ApiError, parse_body

    ok = parse_body(b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}")  # 32 levels with the object
    assert list(ok) == ["a"]
    with pytest.raises(ApiError) as err:
        parse_body(b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}")
    assert err.value.status == 400 and "32" in str(err.value)
    assert parse_body(b'{"x": 1.5e3, "y": -2, "z": [true, null, "s"]}') == {
        "x": 1500.0, "y": -2, "z": [True, None, "s"]}
    for raw in (b"[]", b'"s"', b"\xff\xfe", b'{"a": 1,}', b""):
        with pytest.raises(ApiError) as err:
            parse_body(raw)
        assert err.value.status == 400 and "\n" not in str(err.value)


# --------------------------------------------------------------------------- replaces
def save(client, series_uid, rois, reader="ann", **extra):
    return client.post("/api/readings", json={"reader": reader, "series_uid": series_uid,
                                              "rois": rois, **extra})


def test_replacing_an_unknown_reading_is_404(client, studies):
    a = studies["a"]
    err = one_sentence(save(client, a["series_uid"], a["rois"], replaces=99999), 404)
    assert "99999" in err
    assert client.get("/api/readings?reader=ann").json() == []  # nothing saved


@pytest.mark.parametrize("replaces", [0, -1, 2 ** 63, 10 ** 300])
def test_replacing_an_id_outside_sqlites_integers_is_404(client, studies, replaces):
    a = studies["a"]
    save(client, a["series_uid"], a["rois"])
    err = one_sentence(save(client, a["series_uid"], a["rois"], replaces=replaces), 404)
    assert "does not exist" in err
    assert len(client.get("/api/readings?reader=ann").json()) == 1   # nothing more saved


def test_replacing_another_readers_reading_is_403(client, studies):
    a = studies["a"]
    bobs = save(client, a["series_uid"], a["rois"], reader="bob").json()["reading_id"]
    err = one_sentence(save(client, a["series_uid"], a["rois"], reader="ann", replaces=bobs),
                       403)
    assert str(bobs) in err and "another reader" in err
    assert client.get("/api/readings?reader=ann").json() == []


def test_replacing_a_reading_of_another_series_is_422(client, studies):
    a, b = studies["a"], studies["b"]
    first = save(client, a["series_uid"], a["rois"]).json()["reading_id"]
    err = one_sentence(save(client, b["series_uid"], b["rois"], replaces=first), 422)
    assert "another series" in err
    assert [r["reading_id"] for r in client.get("/api/readings?reader=ann").json()] == [first]
    # replacing the current reading of the same series still works
    ok = save(client, a["series_uid"], a["rois"], replaces=first)
    assert ok.status_code == 200 and ok.json()["replaces"] == first


# --------------------------------------------------------------------------- reader names
@pytest.mark.parametrize("name", ["@SUM(1+1)", "+cmd|' /C calc'!A0", "=1+1", "-2+3",
                                  "ann\tbob", "ann\r\nbob", "'ann", "a;b", "a,b", "x" * 65, " "])
def test_reader_names_that_are_not_plain_names_are_400(client, studies, name):
    a = studies["a"]
    err = one_sentence(save(client, a["series_uid"], a["rois"], reader=name), 400)
    assert "reader" in err and "letters" in err
    one_sentence(client.post("/api/occasions", json={"reader": name}), 400)
    one_sentence(client.get("/api/readings", params={"reader": name}), 400)


@pytest.mark.parametrize("name", ["ann", "Dr. O'Neil-Smith", "Müller_2", "R1", "x" * 64])
def test_plain_reader_names_are_accepted(client, studies, name):
    a = studies["a"]
    resp = save(client, a["series_uid"], a["rois"], reader=f"  {name} ")
    assert resp.status_code == 200, resp.text
    listed = client.get("/api/readings", params={"reader": name}).json()
    assert [r["reader"] for r in listed] == [name]


def test_fixed_reader_must_be_a_plain_name(studies, tmp_path):
    out = subprocess.run([*VBQ, "serve", str(studies["folder"]), "--port", "0", "--db",
                          str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "x"),
                          "--reader", "=cmd()"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert "--reader" in lines[-1] and "Traceback" not in out.stderr and out.stdout == ""


# --------------------------------------------------------------------------- CSV exports
def _store_hostile(db):
    """Readings written straight to the database (as an older version or another tool could)."""
    from vbq.serve.storage import ReadingStore

    store = ReadingStore(db)
    row = {"id": "", "study_instance_uid": "1.2", "patient_id": "=HYPERLINK(\"x\")",
           "vbq": "3.1", "series_instance_uid": "1.2.3", "csf_offset": "-2.5"}
    for reader in ("@SUM(1+1)", "+cmd|' /C calc'!A0", "ann"):
        store.add(reader=reader, study_instance_uid="1.2", series_instance_uid=f"1.2.{reader}",
                  patient_id="=HYPERLINK(\"x\")", rois={"rois": []},
                  roi_provenance="-L1:hand_drawn", result={"vbq": 3.1}, batch_row=row)
    return store


def _cells(text):
    return list(csv.DictReader(io.StringIO(text)))


def _no_formula(rows):
    for row in rows:
        for key, cell in row.items():
            if cell and cell[0] in "=+@\t\r":
                raise AssertionError(f"{key}: {cell!r} starts a formula")
            if cell and cell[0] == "-":
                float(cell)  # only a plain negative number may start with "-"


def test_store_export_neutralises_formula_cells(tmp_path):
    store = _store_hostile(tmp_path / "r.sqlite")
    rows = _cells(store.export_csv())
    _no_formula(rows)
    assert [r["reader"] for r in rows] == ["'@SUM(1+1)", "'+cmd|' /C calc'!A0", "ann"]
    assert rows[0]["patient_id"] == "'=HYPERLINK(\"x\")"
    assert rows[0]["roi_provenance"] == "'-L1:hand_drawn"
    assert rows[0]["vbq"] == "3.1"


def test_readings_export_command_neutralises_formula_cells(tmp_path):
    _store_hostile(tmp_path / "r.sqlite")
    out = subprocess.run([*VBQ, "readings", "export", "--db", str(tmp_path / "r.sqlite")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = _cells(out.stdout)
    _no_formula(rows)
    assert rows[1]["reader"] == "'+cmd|' /C calc'!A0"


def test_unblinded_csv_neutralises_formula_cells(studies, tmp_path):
    _store_hostile(tmp_path / "r.sqlite")
    c = client_for(studies, tmp_path, unblind=True)
    resp = c.get("/api/readings.csv")
    assert resp.status_code == 200
    rows = _cells(resp.text)
    _no_formula(rows)
    assert rows[0]["reader"] == "'@SUM(1+1)"


def test_csv_cell_rule():
    from vbq.serve.storage import csv_cell

    for text in ("=1", "+1+1", "-x", "@a", "\tx", "\rx", "-1-1", "--5"):
        assert csv_cell(text) == "'" + text
    for value in ("-2.5", "-3", "-1e-3", "ann", "", 5, -2.5, None, "a=b"):
        assert csv_cell(value) == value


# --------------------------------------------------------------------------- window/level
@pytest.mark.parametrize("query", ["window=1e308", "level=1e308", "level=-1e308",
                                   "window=10000001", "window=-5", "window=inf", "level=nan",
                                   "window=1_000", "window=0x10", "level=%EF%BC%91",
                                   "window=1e400"])
def test_window_and_level_out_of_range_are_400_without_a_warning(client, studies, query):
    uid = studies["a"]["series_uid"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resp = client.get(f"/api/series/{uid}/slices/7.png?{query}")
    one_sentence(resp, 400)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("window, level", [(1e7, 0), (1e7, -1e7), (1e-300, 250),
                                           (5e-324, 1e7)])
def test_extreme_windows_in_range_render_without_overflow(client, studies, window, level):
    uid = studies["a"]["series_uid"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resp = client.get(f"/api/series/{uid}/slices/7.png",
                          params={"window": repr(window), "level": repr(level)})
    assert resp.status_code == 200, resp.text
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_to_bytes_clips_before_scaling():
    from vbq.serve.render import to_bytes

    image = np.array([[-1e7, 0.0, 49.0, 50.0, 51.0, 1e7, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # a window far narrower than the pixel spacing: below the level black, above white
        assert to_bytes(image, 1e-300, 50.0).tolist() == [[0, 0, 0, 0, 255, 255, 0]]
        # the widest window: 255 (x + 5e6) / 1e7, rounded half up
        want = np.floor((np.array([-1e7, 0, 49, 50, 51, 1e7]) + 5e6) * 255 / 1e7 + 0.5)
        got = to_bytes(image, 1e7, 0.0)[0]
        assert got[:6].tolist() == np.clip(want, 0, 255).tolist() and got[6] == 0
