"""The fill-in template: valid as shipped, and every mistake named in one sentence (exit 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from metaanalysis import cli, datasets
from metaanalysis.errors import InputError
from metaanalysis.table import StudyTable

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "data" / "vbq_subsequent_fracture" / "template.csv"
STUDIES = REPO / "data" / "vbq_subsequent_fracture" / "studies.csv"


def _lines() -> list[str]:
    return TEMPLATE.read_text().splitlines()


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "filled.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_template_is_a_valid_study_table_with_the_reviewer_columns():
    table = StudyTable.from_csv(TEMPLATE)
    assert table.k == 3
    header = _lines()[0].split(",")
    assert header[:5] == ["study", "TP", "FP", "FN", "TN"]
    # the template asks for every covariate the shipped studies carry
    shipped = set(STUDIES.read_text().splitlines()[0].split(","))
    assert shipped - {"primary_study"} <= set(header) | {"primary_study"}
    assert {"year", "country", "design", "cutoff", "field_strength", "source", "doi"} <= set(header)
    # the package copy is the same file
    assert datasets.path("vbq_subsequent_fracture", "template.csv").read_bytes() == \
        TEMPLATE.read_bytes()


def test_pool_template_works(capsys):
    code = cli.main(["pool", str(TEMPLATE), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["n_studies"] == 3
    # The three example rows are homogeneous: both between-study variances end on the
    # boundary (0), where the model is the fixed-effect inverse-variance mean of each margin.
    assert result["tau2_logit_sens"] < 1e-8 and result["tau2_logit_fpr"] < 1e-8
    for key, a, b in (("logit_sens", (34, 21, 45), (6, 5, 9)),
                      ("logit_fpr", (62, 40, 110), (98, 84, 176))):
        y = [math.log(x / z) for x, z in zip(a, b, strict=True)]
        w = [1 / (1 / x + 1 / z) for x, z in zip(a, b, strict=True)]
        by_hand = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
        assert result[key]["estimate"] == pytest.approx(by_hand, abs=1e-6)
        assert result[key]["se"] == pytest.approx(1 / math.sqrt(sum(w)), rel=1e-4)
    assert "few_studies" in result["warning_codes"]  # few studies: said, not hidden


def _mistakes() -> list[tuple[str, object, str]]:
    lines = _lines()
    negative = [lines[0], lines[1].replace(",34,62,6,98,", ",34,-62,6,98,"), *lines[2:]]
    header = lines[0].split(",")
    drop = header.index("FN")
    no_fn = [",".join(f for i, f in enumerate(line.split(",")) if i != drop) for line in lines]
    duplicate = [*lines, lines[1]]
    return [
        ("negative", negative, r"row 1 \(study 'Example A 2024'\), column FP: the count '?-62'? "
                               r"is negative"),
        ("missing column", no_fn, r"missing column\(s\) FN"),
        ("duplicate", duplicate, r"row 4, column study: duplicate study name 'Example A 2024'"),
    ]


@pytest.mark.parametrize("kind, lines, message", _mistakes(), ids=[m[0] for m in _mistakes()])
def test_mistakes_are_named_in_one_sentence(tmp_path, capsys, kind, lines, message):
    path = _write(tmp_path, lines)
    with pytest.raises(InputError, match=message):
        StudyTable.from_csv(path)
    for command in (["pool", str(path)], ["reproduce", "--data", str(path),
                                          "--out", str(tmp_path / "out"), "--no-glmm"]):
        code = cli.main(command)
        err = capsys.readouterr().err
        assert code == 2, (kind, command, err)
        lines_err = err.strip().splitlines()
        assert len(lines_err) == 1 and lines_err[0].startswith("metaanalysis: error: ")
        assert str(path) in lines_err[0]
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written for bad input
