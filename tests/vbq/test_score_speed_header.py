"""The header reader's inlined element header reads every file as the general reader does.

Reference: :func:`vbq.dicom.header._element_header`, the general reading of one
element's header (used for every element when the inlined reading is switched
off here). On phantom files (classic and multi-frame), a file with sequences of
undefined length and a long private element, every truncation of a header and
hundreds of files with random byte damage, :func:`read_header` must give the
very same outcome: the same kind, the same values, the same pixel data place,
or the same sentence.
"""

from __future__ import annotations

import pydicom
import pytest
from test_dicom_header import _undefined_length_sequences, damaged_headers

from vbq.dicom import header as dicom_header
from vbq.dicom.header import read_header
from vbq.phantom import make_phantom


def _general(data, pos):
    """An unpack that never takes the inlined path (an item tag's group)."""
    return 0xFFFE, 0, b"  ", 0


def _safe(value):
    """A value as compared: raw bytes (the fast reader), else pydicom's value as text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return f"{type(value).__name__}: {value}"
    except Exception as err:  # noqa: BLE001 - a damaged value pydicom cannot show
        return f"{type(err).__name__}: {err}"


def _outcome(path):
    try:
        kind, h = read_header(path)
    except Exception as err:  # noqa: BLE001 - compared: both readers must fail alike
        return "raised", f"{type(err).__name__}: {err}"
    if kind != "header":
        return kind, h
    return kind, ({tag: _safe(v) for tag, v in h.values.items()}, h.transfer_syntax,
                  h.sop_class, h.pixel_offset, h.pixel_tag, h.pixel_header, h.pixel_length,
                  h.file_size, h.preamble)


def _both(path, monkeypatch):
    fast = _outcome(path)
    with monkeypatch.context() as m:
        m.setattr(dicom_header, "_EXPLICIT", _general)
        general = _outcome(path)
    return fast, general


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("hdr")
    small = make_phantom(root / "small", rows=64, n_slices=3, distractors="t2,axial")
    make_phantom(root / "enh", rows=64, n_slices=3, distractors="none", enhanced=True)
    ds = pydicom.dcmread(small.files["t1"][0])
    _undefined_length_sequences(ds)
    seq = root / "seq.dcm"
    ds.save_as(seq)
    files = [*sorted(p for p in (root / "small").rglob("*.dcm")),
             *sorted(p for p in (root / "enh").rglob("*.dcm")), seq]
    return root, files


def test_every_file_reads_the_same(sources, monkeypatch):
    _, files = sources
    kinds = set()
    for path in files:
        fast, general = _both(path, monkeypatch)
        assert fast == general, path
        kinds.add(fast[0])
        assert fast[0] == "header" and fast[1][0]  # values were read
    assert kinds == {"header"}


def test_every_truncation_reads_the_same(sources, monkeypatch):
    root, files = sources
    src = files[-1].read_bytes()
    end = src.rfind(b"\xe0\x7f\x10\x00") + 16
    for n in sorted({*range(128, 400, 3), *range(400, end, 97), end - 1, end}):
        p = root / "cut.dcm"
        p.write_bytes(src[:n])
        fast, general = _both(p, monkeypatch)
        assert fast == general, n


@pytest.mark.parametrize("seed", range(3))
def test_random_damage_reads_the_same(sources, monkeypatch, seed):
    root, files = sources
    kinds = set()
    for i, data in enumerate(damaged_headers(files[seed].read_bytes(), seed, 120, 4)):
        p = root / f"damaged{seed}_{i}.dcm"
        p.write_bytes(data)
        fast, general = _both(p, monkeypatch)
        assert fast == general, i
        kinds.add(fast[0])
    assert "header" in kinds
