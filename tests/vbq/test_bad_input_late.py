"""Bad input on the command line, named as such (and a known gap, a strict xfail).

A seed file whose bodies are all outside the protocol's levels (T12 and L5 for
the lumbar protocol, L1-L4) is the user's input at fault: exit 2, naming the file
and the labels not scored, as ``--exclude T12=...`` does.
A from-values column whose name is close to a known one (``exclusion`` for
``exclude``, ``field_strength`` for ``field_strength_t``) is ignored without a
word, so an exclusion the user meant is silently dropped; batch manifests warn
about such a column.
"""

from __future__ import annotations

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


@pytest.mark.xfail(strict=True, reason="a from-values column named like a known one is "
                   "ignored without a warning (batch manifests warn)")
@pytest.mark.parametrize("column,cell", [("exclusion", "L2=fracture"),
                                         ("field_strength", "15")])
def test_from_values_column_like_a_known_one_is_named(tmp_path, capsys, column, cell):
    table = tmp_path / "values.csv"
    table.write_text(f"id,L1,L2,L3,L4,CSF,{column}\na,400,410,420,430,130,{cell}\n")
    main(["from-values", str(table)])
    err = capsys.readouterr().err
    assert column in err
