"""Malformed batch manifests: one sentence naming the manifest and the line or column,
exit 2, raised before the output is opened (an existing --out keeps every byte).

References: the hand-written manifests below; the good rows score the phantom,
whose ROI and seed files are written by construction.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vbq.batch import read_manifest
from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom

GOOD = "a,p/series,p/rois.json\n"
EARLIER = b"an earlier output: every byte of it must survive\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifests")
    make_phantom(root / "p", n_slices=5, rows=96, distractors=None)
    return root


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbq: error: "), err
    assert "Traceback" not in err
    return lines[0]


# (manifest text, words of the sentence)
MALFORMED = [
    ('id,series,rois\na,p/series,"p/rois.json\nb,p/series,p/rois.json\n',
     "m.csv, line 2: a double quote opened there is never closed"),
    ('id,series,rois\n' + GOOD + '"b,p/series,p/rois.json\n',
     "m.csv, line 3: a double quote opened there is never closed"),
    ('id,series,rois\n"a"b,p/series,p/rois.json\n', "m.csv, line 2: malformed CSV"),
    ('id;series;rois\na;p/series;"p/rois.json\n', "m.csv, line 2: a double quote"),
    ('id,series,rois\na,p/series,"p/rois.json\nb,p/series,p/rois.json"\n',
     "m.csv, line 2: the cell of column 'rois' runs over several lines"),
    ("id,series,rois\na,p/ser\0ies,p/rois.json\n", "m.csv, line 2: holds a NUL character"),
    ('id,series,rois\na,p/series,"' + "x" * 200_000 + '"\n', "m.csv, line 2: malformed CSV"),
    ("id,series,rois\na,p/series,p/rois.json,x,y\n",
     "m.csv, line 2: 5 cells but the header has 3 columns"),
]


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize(("text", "words"), MALFORMED)
def test_a_malformed_manifest_is_one_sentence_exit_2_and_the_output_keeps_every_byte(
        root, tmp_path, capsys, text, words, resume):
    manifest = root / "m.csv"
    manifest.write_text(text, newline="")
    out = tmp_path / "out.csv"
    out.write_bytes(EARLIER)
    with pytest.raises(InputError, match=words.split("(")[0].rstrip()):
        read_manifest(manifest)
    rc = main(["batch", str(manifest), "--out", str(out), *(["--resume"] if resume else [])])
    _, err = capsys.readouterr()
    assert rc == 2
    assert words in one_sentence(err)
    assert out.read_bytes() == EARLIER


def test_an_unclosed_quote_through_the_console_script(root, tmp_path):
    manifest = root / "quote.csv"
    manifest.write_text('id,series,rois\na,p/series,"p/rois.json\nb,p/series,p/rois.json\n')
    out = tmp_path / "out.csv"
    out.write_bytes(EARLIER)
    proc = subprocess.run([sys.executable, "-m", "vbq.cli", "batch", str(manifest),
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          env={**os.environ})
    assert proc.returncode == 2, proc.stderr
    line = one_sentence(proc.stderr)
    assert "quote.csv, line 2: a double quote opened there is never closed" in line
    assert out.read_bytes() == EARLIER


def test_a_quoted_cell_with_the_separator_and_empty_trailing_cells_are_still_read(root):
    manifest = root / "quoted.csv"
    manifest.write_text('id,series,rois,notes\n"a,1",p/series,p/rois.json,\n'
                        "b,p/series,p/rois.json,,,\n\n")
    assert [t.id for t in read_manifest(manifest)] == ["a,1", "b"]
