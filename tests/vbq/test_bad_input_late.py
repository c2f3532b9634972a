"""Bad input on the command line, named as such (and a known gap, a strict xfail).

A seed file whose bodies are all outside the protocol's levels (T12 and L5 for
the lumbar protocol, L1-L4) is the user's input at fault: exit 2, naming the file
and the labels not scored, as ``--exclude T12=...`` does.
A from-values column whose name is close to an absent known one (``exclusion``
for ``exclude``, ``field_strength`` for ``field_strength_t``) is still ignored,
but named on stderr with the column it resembles, as batch manifests do; the
row is scored as without it.
"""

from __future__ import annotations

import csv
import json

import pytest

from vbq.cli import main


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from vbq.phantom import make_phantom

    return make_phantom(tmp_path_factory.mktemp("late"), n_slices=7, distractors=())


@pytest.mark.parametrize("with_csf", [True, False], ids=["csf_seed", "no_csf_seed"])
def test_seeds_only_outside_the_protocol_name_the_file_and_labels(phantom, tmp_path, capsys,
                                                                   with_csf):
    doc = json.loads(phantom.seeds_path.read_text())
    by_label = {s["label"]: s for s in doc["seeds"]}
    l5 = by_label["L5"]
    t12 = {"label": "T12", "point": [l5["point"][0] - 5 * 31.0, l5["point"][1]]}
    seeds = [t12, l5] + ([by_label["CSF"]] if with_csf else [])
    path = tmp_path / "outside.json"
    path.write_text(json.dumps({**doc, "seeds": seeds}))
    rc = main(["score", str(phantom.series_dir), "--seeds", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "outside.json" in err and "T12" in err and "L5" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("column,cell,meant", [("exclusion", "L2=fracture", "exclusions"),
                                               ("Field_Strength", "15", "field_strength_t"),
                                               ("csf level", "L2", "csf_level"),
                                               ("forced", "yes", "force")])
def test_from_values_column_like_a_known_one_is_named(tmp_path, capsys, column, cell, meant):
    table = tmp_path / "values.csv"
    table.write_text(f"id,L1,L2,L3,L4,CSF,notes,{column}\na,400,410,420,430,130,x,{cell}\n")
    out = tmp_path / "out.csv"
    assert main(["from-values", str(table), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("vbq: note:") == 1  # "notes" resembles no known column
    assert f"column 8 {column!r}" in err and f"did you mean {meant!r}" in err
    # ignored: the median of the four levels over the CSF, (410 + 420) / 2 / 130
    row = next(csv.DictReader(out.open()))
    assert float(row["vbq"]) == pytest.approx(415 / 130, rel=1e-9)


@pytest.mark.parametrize("header", ["exclusions,exclusion", "exclude,exclusion",
                                    "field_strength_t,field_strength"])
def test_from_values_lookalike_of_a_present_column_is_not_named(tmp_path, capsys, header):
    table = tmp_path / "values.csv"
    cells = ",".join("" for _ in header.split(","))
    table.write_text(f"id,L1,L2,L3,L4,CSF,{header}\na,400,410,420,430,130,{cells}\n")
    assert main(["from-values", str(table), "--out", str(tmp_path / "o.csv")]) == 0
    assert "note" not in capsys.readouterr().err


@pytest.mark.parametrize("text, said", [
    ("id,L1,L2,L3,L4,CSF,exclude,exclusions\na,400,410,420,430,130,L2=fracture,L3=fracture\n",
     "values.csv: columns 'exclude' and 'exclusions' both give the levels to exclude; keep one"),
    ("id,L1,L2,L3,L4,c\u017ff\na,400,410,420,430,130\n",     # a long s: no CSF column
     "values.csv: no 'CSF' column (columns: id, L1, L2, L3, L4, c\u017ff)"),
    ("\nid,L1,L2,L3,L4,CSF\na,400,410,420,430,130\n",
     "values.csv: the first line is blank; the header (id, the levels, CSF) must be the first"),
    ("id\x00,L1,L2,L3,L4,CSF\na,400,410,420,430,130\n",
     "values.csv: no 'id' column (columns: id\\x00, L1, L2, L3, L4, CSF)"),
])
def test_from_values_table_level_faults_are_one_sentence(tmp_path, capsys, text, said):
    table = tmp_path / "values.csv"
    table.write_text(text, encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("KEEP")
    assert main(["from-values", str(table), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vbq: error: {said}") and err.count("\n") == 1, err
    assert "\x00" not in err
    assert out.read_text() == "KEEP"


def test_from_values_row_faults_name_their_column(tmp_path, capsys):
    table = tmp_path / "values.csv"
    table.write_text("id,L1,L2,L3,L4,CSF,csf_level\na,400,410,420,430,130,L9\n"
                     "b,400,410,420,430,130,L2\n")
    out = tmp_path / "out.csv"
    assert main(["from-values", str(table), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("vbq: error: values.csv row 1 (id a), column csf_level: 'L9' is not a CSF level "
            "of protocol lumbar (L3, L2, L1)\n") in err
    rows = list(csv.DictReader(out.open()))
    assert rows[1]["csf_level"] == "L2" and float(rows[1]["vbq"]) == pytest.approx(
        415 / 130, rel=1e-9)


def test_from_values_notes_name_unnamed_columns_and_level_case(tmp_path, capsys):
    table = tmp_path / "values.csv"
    table.write_text("id,L1,L2,L3,L4,CSF,,L 5\na,400,410,420,430,130,7,300\n")
    assert main(["from-values", str(table), "--out", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "vbq: note: values.csv: column 8 'L 5' is not a known column and is ignored; did you "
        "mean 'L5'?",
        "vbq: note: values.csv: column 7 has values but no name in the header and is ignored"]
