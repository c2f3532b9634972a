"""Shipped data sets: loading by name through importlib.resources, from a checkout or a build."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from metaanalysis import datasets
from metaanalysis.errors import InputError
from metaanalysis.table import StudyTable

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "data" / "vbq_subsequent_fracture"
PACKAGE_DIR = REPO / "metaanalysis" / "data" / "vbq_subsequent_fracture"
NAME = "vbq_subsequent_fracture"


def test_names_lists_the_vbq_data_set():
    assert NAME in datasets.names()
    assert datasets.names() == tuple(sorted(datasets.names()))


def test_load_returns_the_29_study_table():
    table = datasets.load(NAME)
    assert isinstance(table, StudyTable)
    assert table.k == 29
    assert table.n_patients == 7364
    # counted independently from the CSV text
    with open(DATA_DIR / "studies.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 29
    assert sum(int(r[c]) for r in rows for c in ("TP", "FP", "FN", "TN")) == 7364
    assert list(table.studies) == [r["study"] for r in rows]
    assert {"year", "country", "design", "cutoff", "field_strength", "source"} <= set(
        table.covariates.columns)


def test_path_goes_through_importlib_resources():
    entry = datasets.path(NAME)
    expected = resources.files("metaanalysis").joinpath("data", NAME, "studies.csv")
    assert str(entry) == str(expected)
    assert entry.read_bytes() == (DATA_DIR / "studies.csv").read_bytes()
    assert "primary_studies.csv" in datasets.files(NAME)
    assert "vertebral" in datasets.readme(NAME).lower()


def test_module_uses_no_checkout_relative_paths():
    source = Path(datasets.__file__).read_text()
    assert "__file__" not in source
    assert "parents[" not in source
    assert "importlib" in source


def test_unknown_name_is_an_input_error_naming_it():
    with pytest.raises(InputError, match="unknown data set 'nope'.*vbq_subsequent_fracture"):
        datasets.load("nope")
    with pytest.raises(InputError, match="no file 'missing.csv'"):
        datasets.path(NAME, "missing.csv")


def test_primary_registry_is_real_cohorts_with_citations():
    reg = datasets.read_csv(NAME, "primary_studies.csv")
    assert len(reg) >= 5
    assert reg["doi_or_url"].str.startswith("https://doi.org/").all()
    # the first cohort as its abstract reports it: 42 subsequent fractures in 251 patients
    yeh = reg.set_index("study_id").loc["S01"]
    assert (int(yeh["n_total"]), int(yeh["n_events"])) == (251, 42)


def test_package_copy_is_byte_identical_to_data_folder():
    shipped = sorted(p.name for p in PACKAGE_DIR.iterdir() if p.is_file())
    assert shipped == ["README.md", "more_cohorts.csv", "primary_studies.csv", "spread.csv",
                       "studies.csv", "template.csv"]
    for name in shipped:
        assert (PACKAGE_DIR / name).read_bytes() == (DATA_DIR / name).read_bytes(), name


def test_loads_from_a_built_package(tmp_path):
    """Build the packages as the wheel would hold them (setuptools build_py) and load from there."""
    build = tmp_path / "lib"
    proc = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
         "egg_info", "--egg-base", str(tmp_path), "build_py", "--build-lib", str(build)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = build / "metaanalysis" / "data" / NAME
    assert sorted(p.name for p in built.iterdir()) == [
        "README.md", "more_cohorts.csv", "primary_studies.csv", "spread.csv", "studies.csv",
        "template.csv"]
    code = ("import json, metaanalysis, metaanalysis.datasets as d; t = d.load('" + NAME + "'); "
            "print(json.dumps([metaanalysis.__file__, d.names(), t.k, t.n_patients]))")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(build)!r}); {code}"], cwd=elsewhere, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    module_file, names, k, n = json.loads(run.stdout)
    assert Path(module_file).is_relative_to(build)
    assert NAME in names and (k, n) == (29, 7364)


def _more_cohorts():
    import io

    import pandas as pd

    text = datasets.path(NAME, "more_cohorts.csv").read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_kadri_figure_is_the_one_in_the_shipped_registries():
    from metaanalysis.published import KADRI_2025

    reg = datasets.read_csv(NAME, "primary_studies.csv").set_index("study_id").loc["S02"]
    assert reg["first_author"] == "Kadri A" and reg["doi_or_url"].endswith(KADRI_2025.doi)
    assert (int(reg["n_total"]), int(reg["n_events"])) == (KADRI_2025.n_patients,
                                                           KADRI_2025.n_events)
    assert (int(reg["tp"]), int(reg["fn"])) == (KADRI_2025.tp, KADRI_2025.fn)
    assert float(reg["sensitivity"]) == KADRI_2025.sensitivity
    assert reg.isna()[["specificity", "fp", "tn"]].all()  # specificity is not reported
    row = _more_cohorts().set_index("doi_or_url").loc[KADRI_2025.doi]
    assert (int(row["tp"]), int(row["fn"])) == (17, 3)
    assert row["specificity"] == "not in abstract"
    # 85% of the 20 fractures had high VBQ: TP = 17 (rounded share), so sens = 17/20
    assert KADRI_2025.tp / KADRI_2025.n_events == KADRI_2025.sensitivity


def test_no_augmentation_cohort_in_the_registries_reports_both_figures():
    more = _more_cohorts()
    both = more[more["sensitivity"].str.match(r"^[0-9.]+$", na=False)
                & more["specificity"].str.match(r"^[0-9.]+$", na=False)]
    # the only full pair is a spine-radiotherapy cohort, not vertebral augmentation
    assert list(both["first_author"]) == ["Ehresman J"]
    assert "not vertebral augmentation" in both["procedure"].iloc[0]
    reg = datasets.read_csv(NAME, "primary_studies.csv")
    assert not (reg["sensitivity"].notna() & reg["specificity"].notna()).any()
