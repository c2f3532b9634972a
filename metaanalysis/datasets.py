"""Data sets shipped with the package, loaded by name.

The files live in ``metaanalysis/data/<name>/`` as package data, so they load
from an installed wheel as well as from a checkout: everything here goes
through :mod:`importlib.resources`, never through paths relative to the source
tree. Each data set is a folder holding ``studies.csv`` (the 2x2 tables, one
row per study), a ``README.md`` with its provenance, and optionally further
files (``primary_studies.csv``, ``template.csv``).

Examples
--------
>>> from metaanalysis import datasets
>>> datasets.names()
('vbq_subsequent_fracture',)
>>> table = datasets.load("vbq_subsequent_fracture")
>>> table.k, table.n_patients
(29, 7364)
"""

from __future__ import annotations

import io
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

from metaanalysis.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metaanalysis.table import StudyTable

__all__ = ["names", "files", "path", "load", "read_csv", "readme"]

#: The file in each data-set folder that holds the 2x2 tables.
STUDIES_FILE = "studies.csv"


def _root() -> Traversable:
    return resources.files("metaanalysis").joinpath("data")


def names() -> tuple[str, ...]:
    """Names of the shipped data sets, sorted.

    Returns
    -------
    tuple of str
        Every folder of the package data that holds a ``studies.csv``.
    """
    root = _root()
    if not root.is_dir():
        return ()
    found = [entry.name for entry in root.iterdir()
             if entry.is_dir() and entry.joinpath(STUDIES_FILE).is_file()]
    return tuple(sorted(found))


def _folder(name: str) -> Traversable:
    if not isinstance(name, str) or name not in names():
        known = ", ".join(names()) or "none"
        raise InputError(f"unknown data set {name!r}; shipped data sets: {known}.")
    return _root().joinpath(name)


def files(name: str) -> tuple[str, ...]:
    """File names inside one shipped data set, sorted.

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    tuple of str
    """
    return tuple(sorted(e.name for e in _folder(name).iterdir() if e.is_file()))


def path(name: str, filename: str = STUDIES_FILE) -> Traversable:
    """Resource handle of one file of a data set (its 2x2 table by default).

    For a normal (unzipped) installation this is a :class:`pathlib.Path`;
    use :func:`importlib.resources.as_file` when a real file is required in
    every case.

    Parameters
    ----------
    name : str
        A name from :func:`names`.
    filename : str, default "studies.csv"
        The file inside the data set's folder.

    Returns
    -------
    importlib.resources.abc.Traversable
    """
    entry = _folder(name).joinpath(filename)
    if not entry.is_file():
        raise InputError(f"data set {name!r} has no file {filename!r}; "
                         f"it has: {', '.join(files(name))}.")
    return entry


def read_csv(name: str, filename: str = STUDIES_FILE) -> pd.DataFrame:
    """Read one CSV file of a data set as a DataFrame, without validation.

    Parameters
    ----------
    name : str
        A name from :func:`names`.
    filename : str, default "studies.csv"
        For example ``"primary_studies.csv"`` for the registry of real cohorts.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    text = path(name, filename).read_text(encoding="utf-8")
    header = pd.read_csv(io.StringIO(text), nrows=0)
    as_text = {c: str for c in header.columns if str(c).strip().lower() == "study"}
    return pd.read_csv(io.StringIO(text), dtype=as_text)


def readme(name: str) -> str:
    """Return the provenance note (``README.md``) of a data set."""
    return path(name, "README.md").read_text(encoding="utf-8")


def load(name: str) -> StudyTable:
    """Load a shipped data set as a validated :class:`~metaanalysis.table.StudyTable`.

    Parameters
    ----------
    name : str
        A name from :func:`names`, e.g. ``"vbq_subsequent_fracture"``.

    Returns
    -------
    StudyTable
        The 2x2 tables with every other column as a study-level covariate,
        read by :meth:`StudyTable.from_csv`, the reader every command uses.

    Raises
    ------
    InputError
        If no data set has that name.
    """
    from metaanalysis.table import StudyTable

    with resources.as_file(path(name, STUDIES_FILE)) as file:
        return StudyTable.from_csv(file, source=f"metaanalysis.datasets:{name}/{STUDIES_FILE}")
