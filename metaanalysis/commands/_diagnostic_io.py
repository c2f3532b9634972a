"""Input and output helpers shared by the sub-commands: the study table, folders, warnings, figures.

Kept free of heavy imports at module level: numpy, pandas and matplotlib are
imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from metaanalysis.commands._options import add_table_options  # noqa: F401
from metaanalysis.errors import InputError
from metaanalysis.jsonout import dumps
from metaanalysis.jsonout import jsonable as clean

FORMATS: tuple[str, ...] = ("png", "pdf", "svg")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``, ``--plots DIR`` and ``--plot-format``."""
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--plots", metavar="DIR", default=None,
                        help="write the figures into DIR (created if missing)")
    parser.add_argument("--plot-format", default="png", metavar="FMT[,FMT]",
                        help="figure formats: png, pdf, svg, comma-separated (default png)")


#: Warnings already printed by this run of the command line (each is printed once).
_PRINTED: set[str] = set()


def reset_warnings() -> None:
    """Forget the warnings printed so far (called at the start of each command)."""
    _PRINTED.clear()


def warn(text: str) -> None:
    """Print one warning line on stderr, unless the same warning was already printed."""
    line = " ".join(str(text).split())
    if line in _PRINTED:
        return
    _PRINTED.add(line)
    print(f"metaanalysis: warning: {line}", file=sys.stderr)


#: Warning codes of a fit whose numbers cannot be relied on: the command exits 1 after
#: printing them (the result is shown, not lost, but the analysis did not succeed).
FAILED_FIT_CODES = {"not_converged": "did not converge",
                    "diverging_estimate": "has a pooled logit that diverges"}


def fit_failed(result: Any, what: str) -> int:
    """Say on stderr why a fit shown above failed, and return its exit code (1), else 0.

    ``what`` names the fit (``"the glmm fit of studies.csv"``).
    """
    codes = list(getattr(result, "warning_codes", ()) or ())
    why = [text for code, text in FAILED_FIT_CODES.items() if code in codes]
    if not why:
        return 0
    print(f"metaanalysis: error: {what} {' and '.join(why)}; its result is shown above with "
          "the warnings that say what to try, but cannot be relied on.", file=sys.stderr)
    return 1


def load_table(path: str, study_column: str | None = None, *, sheet: str | None = None,
               columns: dict[str, str] | None = None) -> Any:
    """Read the study table (CSV or .xlsx) with the one reader (errors name the file).

    When the study names come from a column not called ``study``, a note on
    stderr says which column was used.
    """
    from metaanalysis.table import StudyTable

    table = StudyTable.read(path, study_column=study_column, sheet=sheet, columns=columns)
    if table.study_column.lower() != "study":
        print(f"metaanalysis: note: {path}: study names read from column "
              f"{table.study_column!r}.", file=sys.stderr)
    return table


def fit_quietly(table: Any, model: str, **kw: Any) -> Any:
    """Fit the full model; fit warnings go to stderr once (they stay on the result)."""
    from metaanalysis.diagnostics import fit_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_model(table, model, **kw)
    for msg in res.warnings:
        warn(msg)
    return res


def plot_formats(text: str) -> list[str]:
    """Parse ``--plot-format``."""
    fmts = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise InputError(f"--plot-format must list png, pdf or svg; got {text!r}.")
    return fmts


def output_folder(path: str, option: str = "--plots") -> Path:
    """Create (if needed) and return a writable output folder.

    Called before any fitting, so a bad path fails fast with one sentence
    (``InputError``, exit 2) naming the option and the path.
    """
    import os

    if not str(path).strip():  # "" would be the working folder, chosen by no one
        raise InputError(f"{option}: the folder name is empty; give a folder.")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(f"{option} {path}: cannot create the folder ({reason}).") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the folder is not writable.")
    return out


def plots_dir(path: str | None) -> Path | None:
    """Create (if needed) and return the figure folder, or None."""
    if path is None:
        return None
    return output_folder(path, "--plots")


def save(ax: Any, folder: Path, stem: str, formats: list[str]) -> list[Path]:
    """Save one figure in every requested format, report the paths on stderr, close it."""
    import matplotlib.pyplot as plt

    from metaanalysis.plots import save_figure

    paths = [save_figure(ax, folder / f"{stem}.{fmt}") for fmt in formats]
    plt.close(ax.get_figure())
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return paths


def use_agg() -> None:
    """Select matplotlib's non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")


def records(frame: Any) -> list[dict[str, Any]]:
    """Convert a DataFrame to a list of JSON-safe row dictionaries."""
    return [clean(r) for r in frame.to_dict(orient="records")]


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    print(dumps(obj))
