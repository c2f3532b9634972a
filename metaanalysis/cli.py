"""The ``metaanalysis`` command line: one sub-command per module in :mod:`metaanalysis.commands`.

Machine-readable output goes to stdout; logs and warnings to stderr. Exit codes:
0 ok, 1 a fit that failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from metaanalysis.errors import MetaAnalysisError

#: Modules that each define ``register(subparsers)``; the parser they add sets
#: ``func`` to a callable ``run(args) -> int``.
COMMANDS: tuple[str, ...] = (
    "metaanalysis.commands.pool",
    "metaanalysis.commands.regress",
    "metaanalysis.commands.loo",
    "metaanalysis.commands.bias",
    "metaanalysis.commands.fagan",
    "metaanalysis.commands.reproduce",
    "metaanalysis.commands.thresholds",
    "metaanalysis.commands.report",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one sentence and exit 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = _Parser(prog="metaanalysis",
                     description="Bivariate meta-analysis of diagnostic accuracy.",
                     epilog="Run 'metaanalysis COMMAND --help' for the options of a command. "
                            "Results go to stdout, warnings to stderr. Exit codes: 0 ok, "
                            "1 the analysis failed, 2 bad input or usage.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a sub-command not installed in this build
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """Print a Python warning as one line, without the source location, once."""
    from metaanalysis.commands._diagnostic_io import warn

    warn(str(message))


#: numpy's floating-point notices: not messages for a user (results carry their own
#: warnings), so the command line does not print them.
_NUMPY_NOTICES = (r"(divide by zero|invalid value|overflow|underflow) encountered"
                  r"|Mean of empty slice|Degrees of freedom <= 0")


#: Options naming a command's input files, and what the messages call them.
_INPUT_OPTIONS = (("file", "study table"), ("data", "study table --data"),
                  ("grade", "GRADE file"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    An option's value may start with ``-`` when it starts as a negative number
    does (``--at -1e3``): see :func:`metaanalysis.commands._numbers.join_negative_values`.
    """
    from metaanalysis.commands._diagnostic_io import reset_warnings
    from metaanalysis.commands._numbers import join_negative_values

    parser = build_parser()
    args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    reset_warnings()
    from metaanalysis.fileio import protect_inputs

    # no output of a command may replace one of its inputs
    protect_inputs({what: getattr(args, attr, None) for attr, what in _INPUT_OPTIONS})
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.filterwarnings("ignore", message=_NUMPY_NOTICES, category=RuntimeWarning)
            return int(args.func(args) or 0)
    except MetaAnalysisError as err:
        print(f"metaanalysis: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a file or folder that cannot be read or written
        if isinstance(err, BrokenPipeError):
            return _quiet_pipe()
        where = f"{err.filename}: " if err.filename else ""
        print(f"metaanalysis: error: {where}{err.strerror or err}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metaanalysis: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an unexpected failure: one line unless debugging
        if os.environ.get("METAANALYSIS_DEBUG"):
            raise
        print(f"metaanalysis: internal error: {type(err).__name__}: {err} "
              "(set METAANALYSIS_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    finally:
        protect_inputs({})


def _quiet_pipe() -> int:
    """Stdout was closed early (e.g. piped into ``head``): stop quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
