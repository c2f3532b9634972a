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

from vbq.batch import read_manifest, run_batch
from vbq.cli import main
from vbq.errors import BatchNote, InputError
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
    ("id,series,rois\n" + GOOD + "b,p/series\n",
     "m.csv, line 3: 2 cells but the header has 3 columns (a missing ','?)"),
    ("id;series;rois;notes\na;p/series;p/rois.json\n",
     "m.csv, line 2: 3 cells but the header has 4 columns (a missing ';'?)"),
    ("id,series,seeds,seeds\na,p/series,p/seeds.json,p/rois.json\n",
     "m.csv has the column 'seeds' twice (columns 3 'seeds' and 4 'seeds')"),
    ("id,series,rois, ROIs \na,p/series,p/rois.json,\n",
     "m.csv has the column 'rois' twice (columns 3 'rois' and 4 ' ROIs ')"),
    ("ID,series,id,rois\na,p/series,b,p/rois.json\n",
     "m.csv has the column 'id' twice (columns 1 'ID' and 3 'id')"),
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


def test_columns_in_another_case_or_with_spaces_are_read_as_theirs(root, tmp_path, capsys):
    manifest = root / "case.csv"
    manifest.write_text("ID, Series ,SEEDS\na,p/series,p/seeds.json\n")
    rc = main(["batch", str(manifest), "--out", str(tmp_path / "o.csv")])
    _, err = capsys.readouterr()
    assert rc == 0, err
    assert "vbq: warning" not in err
    assert read_manifest(manifest)[0].seeds == str(root / "p" / "seeds.json")


@pytest.mark.parametrize(("column", "known"), [("seesd", "seeds"), ("Exlcude", "exclude"),
                                               ("series uid", "series_uid"), ("msk", "mask")])
def test_a_column_resembling_a_manifest_column_is_a_warning_naming_both(
        root, tmp_path, capsys, column, known):
    manifest = root / "alike.csv"
    manifest.write_text(f"id,series,rois,{column},notes\na,p/series,p/rois.json,,hello\n")
    rc = main(["batch", str(manifest), "--out", str(tmp_path / "o.csv")])
    _, err = capsys.readouterr()
    assert rc == 0, err
    warnings = [x for x in err.splitlines() if x.startswith("vbq: warning: ")]
    assert warnings == [f"vbq: warning: manifest alike.csv: column 4 {column!r} is not a "
                        f"manifest column and is ignored; did you mean {known!r}?"]
    assert "notes" not in err  # a column for notes resembles none
    with pytest.warns(BatchNote, match=column):
        run_batch(manifest, tmp_path / "o2.csv")


def test_no_warning_when_the_resembled_column_is_there_too(root, tmp_path, capsys):
    manifest = root / "both.csv"
    manifest.write_text("id,series,rois,labels,label\na,p/series,p/rois.json,,my label\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "o.csv")]) == 0
    assert "vbq: warning" not in capsys.readouterr().err


def test_a_missing_source_column_names_its_look_alike(root, tmp_path, capsys):
    manifest = root / "missing.csv"
    manifest.write_text("id,series,seesd\na,p/series,p/seeds.json\n")
    rc = main(["batch", str(manifest), "--out", str(tmp_path / "o.csv")])
    line = one_sentence(capsys.readouterr().err)
    assert rc == 2
    assert "needs a 'rois', 'mask' or 'seeds' column" in line
    assert "is column 3 'seesd' meant to be 'seeds'?" in line


def test_a_quoted_cell_with_the_separator_and_empty_trailing_cells_are_still_read(root):
    manifest = root / "quoted.csv"
    manifest.write_text('id,series,rois,notes\n"a,1",p/series,p/rois.json,\n'
                        "b,p/series,p/rois.json,,,\n\n")
    assert [t.id for t in read_manifest(manifest)] == ["a,1", "b"]


def test_a_line_of_empty_cells_fewer_than_the_header_is_a_blank_line(root):
    manifest = root / "blank_short.csv"
    manifest.write_text("id,series,rois\n" + GOOD + ",\n ,  \n\nb,p/series,p/rois.json\n")
    assert [(t.id, t.line) for t in read_manifest(manifest)] == [("a", 2), ("b", 6)]


def test_a_manifest_that_is_not_a_regular_file_is_said_so(tmp_path):
    import os

    from vbq.batch import read_manifest
    from vbq.errors import InputError

    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"manifest .*m\.csv is not a regular file$"):
        read_manifest(fifo)
    with pytest.raises(InputError, match=r"manifest .*gone\.csv does not exist$"):
        read_manifest(tmp_path / "gone.csv")
