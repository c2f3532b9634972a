"""Mutations of valid ROI (``vbq-rois/1``), seed (``vbq-seeds/1``) and label-map files.

The oracle follows docs/DESIGN.md: anything but the documented keys is an
error naming the key; values must have the documented type and be finite
numbers; a ROI or seed that lies outside the image, a slice that does not
exist, a label named twice and an unknown label cannot give a score.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from typing import Any

NAN = math.nan
INF = math.inf
#: Placeholder that :func:`dumps` writes as an integer of 4,400 digits, more than
#: Python's int parser accepts by default (4,300).
BIGINT = "@@BIGINT@@"


def deep(n: int) -> str:
    """A placeholder that :func:`dumps` writes as a list nested ``n`` deep."""
    return f"@@DEEP{n}@@"


def _expand(text: str) -> str:
    text = text.replace(f'"{BIGINT}"', "7" * 4400)
    return re.sub(r'"@@DEEP(\d+)@@"', lambda m: "[" * int(m.group(1)) + "1"
                  + "]" * int(m.group(1)), text)


def _bad_points(dim: int) -> list[tuple[Any, str]]:
    ok = [5.0] * dim
    return [(None, "input"), ("x", "input"), (True, "input"), ([], "input"),
            (ok[:-1], "input"), (ok + [5.0], "input"), ([str(v) for v in ok], "input"),
            ([ok, ok], "input"), ({}, "input"), ([True] * dim, "input"),
            ([NAN] + ok[1:], "input"), ([INF] + ok[1:], "input"),
            ([BIGINT] + ok[1:], "refused"), ([-1e4] * dim, "refused"),
            ([1e308] * dim, "refused"), (deep(1000), "input")]


def _bad_extent(dim: int = 2) -> list[tuple[Any, str]]:
    return [(None, "input"), ("x", "input"), (True, "input"), ([], "input"), ([2.0], "input"),
            ([2.0, 2.0, 2.0], "input"), ([NAN, 2.0], "input"), ([INF, 2.0], "input"),
            ([-1.0, 2.0], "refused"), ([0.0, 2.0], "refused"), ([BIGINT, 2.0], "refused"),
            (["2", "2"], "input"), ([True, True], "input")]


def bad_values(key: str, space: str) -> list[tuple[Any, str]]:
    """Values ``key`` may not take in a ROI or seed, each with its oracle."""
    dim = 3 if space == "patient" else 2
    if key in ("center", "corner", "point"):
        return _bad_points(dim)
    if key in ("radii", "size"):
        return _bad_extent()
    if key == "radius":
        return [(None, "input"), ("x", "input"), (True, "input"), ([], "input"),
                ([2.0], "input"), (NAN, "input"), (INF, "refused"), (-1.0, "refused"),
                (0.0, "refused"), (BIGINT, "refused")]
    if key == "points":
        p = [5.0] * dim
        return [("x", "input"), ([], "refused"), ([p], "refused"), ([p, p], "refused"),
                ([p + [1.0]] * 3, "input"), ([[NAN] + p[1:], p, p], "input"),
                ([["a"] * dim, p, p], "input"), ([[-1e4] * dim, [-1e4] * dim, [-1e4] * dim],
                                                  "refused"), (deep(1000), "input")]
    if key == "shape":
        return [(["ellipse"], "input"), ("hexagon", "input"), ("", "input"), (None, "input"),
                (1, "input"), ({"a": 1}, "input")]
    if key == "label":
        return [("L9", "input"), ("", "input"), (None, "input"), (1, "input"),
                (["L1"], "input"), ("CSFF", "input")]
    if key == "level":
        return [("L9", "input"), (1, "input"), (["L3"], "input"), (True, "input")]
    return [("x", "input")]


TOP_BAD: dict[str, list[tuple[Any, str]]] = {
    "format": [("vbq-rois/2", "input"), (None, "input"), (1, "input"), ("", "input")],
    "space": [("voxel", "input"), (None, "input"), (1, "input"), (["pixel"], "input")],
    "slice": [(-1, "refused"), (99, "refused"), (1.5, "input"), ("x", "input"), (True, "input"),
              ([2], "input"), ({"sop_instance_uid": "1.2.3"}, "refused"), ({}, "input"),
              (BIGINT, "refused"), (deep(1000), "input")],
    "exclude": [({"L2": "bogus"}, "input"), ({"L9": "fracture"}, "input"), (["L2"], "input"),
                ("L2", "input"), ({"L2": 1}, "input")],
}


def dumps(obj: Any, rng: random.Random) -> str:
    """Serialise; NaN/Infinity become the non-standard tokens Python's json writes."""
    return _expand(json.dumps(obj, indent=rng.choice((None, 1, 2))))


Mutation = tuple[str | bytes, str, str, str | None]


def mutate_points_file(rng: random.Random, base: dict, list_key: str) -> Mutation:
    """Mutate a ROI file (``list_key="rois"``) or a seed file (``"seeds"``)."""
    obj = copy.deepcopy(base)
    items = obj[list_key]
    space = obj.get("space", "pixel")
    fmt_key = "vbq-rois/2" if list_key == "rois" else "vbq-seeds/2"
    i = rng.randrange(len(items))
    lab = items[i].get("label")
    pick = rng.random()
    if pick < 0.35:
        key = rng.choice(sorted(items[i]))
        value, oracle = rng.choice(bad_values(key, space))
        items[i][key] = value
        return (dumps(obj, rng), f"{key}-value", f"{list_key}[{i}] ({lab}).{key} := "
                f"{_show(value)}", oracle)
    if pick < 0.47:
        key = rng.choice(sorted(TOP_BAD))
        value, oracle = rng.choice(TOP_BAD[key])
        if key == "format" and value == "vbq-rois/2":
            value = fmt_key
        if key == "slice" and space == "patient" and oracle == "refused" and value != 99:
            oracle = None  # a patient-space file may name a slice only as a check
        obj[key] = value
        return dumps(obj, rng), f"top-{key}", f"{key} := {_show(value)}", oracle
    if pick < 0.53:
        where = rng.choice(("roi", "top"))
        if where == "roi":
            items[i]["colour"] = "red"
        else:
            obj["comment"] = "extra"
        return dumps(obj, rng), "unknown-key", f"unknown key added ({where} {i})", "input"
    if pick < 0.60:
        key = rng.choice(sorted(k for k in items[i] if k != "level"))
        del items[i][key]
        return dumps(obj, rng), "missing-key", f"{list_key}[{i}] ({lab}) without {key}", \
            "input"
    if pick < 0.66:
        key = rng.choice(sorted(items[i]))
        text = json.dumps(obj)
        one = json.dumps(items[i])
        other = "L4" if key == "label" and lab != "L4" else items[i][key]
        twice = one[:-1] + f", {json.dumps(key)}: {json.dumps(other)}}}"
        assert one in text
        return (text.replace(one, twice, 1), "duplicate-json-key",
                f"{list_key}[{i}] ({lab}) has key {key!r} twice", "input")
    if pick < 0.70:
        twin = copy.deepcopy(items[i])
        items.append(twin)
        return dumps(obj, rng), "label-twice", f"{list_key}[{i}] ({lab}) given twice", "refused"
    if pick < 0.74:
        value, fam = rng.choice(((None, "null"), ([], "list"), ("x", "text"), (1, "number")))
        items[i] = value
        return dumps(obj, rng), f"item-{fam}", f"{list_key}[{i}] := {value!r}", "input"
    if pick < 0.77:
        value = rng.choice(([], "x", None, 1, [obj]))
        return dumps(value, rng), "top-not-object", f"the file is {_show(value)}", "input"
    if pick < 0.80:
        value, oracle = rng.choice((([], "refused"), ({}, "input"), ("x", "input"),
                                    (None, "input"), (deep(100_000), "input")))
        obj[list_key] = value
        return dumps(obj, rng), f"{list_key}-value", f"{list_key} := {_show(value)}", oracle
    if pick < 0.90:
        return _same(rng, obj, list_key)
    return _damage(rng, json.dumps(obj, indent=1).encode())


def _same(rng: random.Random, obj: dict, list_key: str) -> Mutation:
    """A file that says the same as ``obj``."""
    choice = rng.randrange(4)
    if choice == 0:
        obj = dict(obj)
        items = list(obj[list_key])
        rng.shuffle(items)
        obj[list_key] = items
        return (dumps(obj, rng), "same-item-order",
                f"{list_key} in order {[x.get('label') for x in items]}", "same")
    if choice == 1:
        obj = {k: obj[k] for k in reversed(list(obj))}
        obj[list_key] = [{k: x[k] for k in reversed(list(x))} for x in obj[list_key]]
        return dumps(obj, rng), "same-key-order", "every object's keys reversed", "same"
    if choice == 2:
        return (b"\xef\xbb\xbf" + json.dumps(obj).encode(), "same-bom", "UTF-8 BOM",
                "same-or-2")
    return json.dumps(obj, indent=3).replace("\n", "\r\n"), "same-crlf", "CRLF, indent 3", "same"


def _damage(rng: random.Random, data: bytes) -> Mutation:
    b = bytearray(data)
    pos = rng.randrange(len(b))
    choice = rng.randrange(5)
    if choice == 0:
        b[pos] ^= 1 << rng.randrange(8)
        return bytes(b), "bytes-flip", f"bit flipped at byte {pos}", None
    if choice == 1:
        return bytes(b[:pos]), "bytes-truncate", f"truncated to {pos} bytes", "input"
    if choice == 2:
        return data.decode().encode("utf-16"), "utf16", "encoded UTF-16", "same-or-2"
    if choice == 3:
        return b"", "empty", "empty file", "input"
    return b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(64)), "binary", \
        "a PNG signature and random bytes", "input"


def mutate_labels(rng: random.Random, base: dict) -> Mutation:
    """Mutate a ``vbq-labels/1`` mapping."""
    obj = dict(base)
    keys = [k for k in obj if k != "format"]
    key = rng.choice(keys)
    pick = rng.random()
    if pick < 0.45:
        value, oracle = rng.choice((
            ("x", "input"), (1.5, "input"), (True, "input"), (None, "input"),
            ({}, "input"), ([41, "x"], "input"), (NAN, "input"), (INF, "input"),
            (BIGINT, "unused"), (2 ** 64 + 41, "unused"), (2 ** 32 + 41, "unused"),
            (2 ** 63 + 41, "unused"), (-1, "unused"), (deep(1000), "input"), ("41", None),
            ([], "unused")))
        if oracle == "unused":
            # no voxel has that number: the level is missing (or the file refused)
            oracle = f"unused:{key}" if key.startswith("L") else None
        obj[key] = value
        return dumps(obj, rng), f"value-{key[:2]}", f"{key} := {_show(value)}", oracle
    if pick < 0.55:
        other = rng.choice([k for k in keys if k != key])
        obj[key] = base[other]
        # two structures the score uses on one number: which one those voxels are is unknown
        used = ("L1", "L2", "L3", "L4", "spinal_canal", "spinal_cord")
        return (json.dumps(obj), "same-number-twice",
                f"{key} := {other}'s number {base[other]}",
                "refused" if key in used and other in used else None)
    if pick < 0.62:
        obj[rng.choice(("L9", "colour", "vertebrae_L1x"))] = 99
        return json.dumps(obj), "unknown-key", "an unknown key added", "input"
    if pick < 0.69:
        text = json.dumps(obj)
        text = text[:-1] + f", {json.dumps(key)}: 77}}"
        return text, "duplicate-json-key", f"key {key!r} twice (second 77)", "input"
    if pick < 0.74:
        obj["format"] = rng.choice(("vbq-labels/2", None, 1))
        return json.dumps(obj), "format", f"format := {obj['format']!r}", "input"
    if pick < 0.80:
        if key.startswith("L"):
            obj[key] = [base[key], 143]
            return json.dumps(obj), "same-list", f"{key} := [{base[key]}, 143]", "same"
        return json.dumps(obj, indent=2), "same-indent", "indented", "same"
    if pick < 0.86:
        return json.dumps({k: obj[k] for k in reversed(list(obj))}), "same-key-order", \
            "keys reversed", "same"
    return _damage(rng, json.dumps(obj).encode())


def _show(value: Any) -> str:
    text = repr(value).replace(repr(BIGINT), "<4,400-digit int>")
    text = re.sub(r"'@@DEEP(\d+)@@'", r"<list nested \1 deep>", text)
    if len(text) > 80:
        return text[:40] + f"... ({len(text)} chars)"
    return text
