"""Exceptions of the imaging half, and the exit code each one maps to."""

from __future__ import annotations

import sys


class VBQError(Exception):
    """Base class of every error raised on purpose by :mod:`vbq`.

    The command line prints ``str(error)`` as one sentence on stderr and exits
    with :attr:`exit_code`; no traceback is shown.
    """

    exit_code: int = 1


class InputError(VBQError, ValueError):
    """Bad input or usage: a file, folder, tag, key or value the user can fix (exit 2)."""

    exit_code = 2


class AnalysisError(VBQError, RuntimeError):
    """The input was well formed but the analysis could not produce a result (exit 1)."""

    exit_code = 1


def one_line(text: object) -> str:
    """Return ``text`` as one line: every run of whitespace, newlines included, one space.

    Messages of other libraries (nibabel's, pydicom's) may run over several
    lines; everything the command line prints on stderr is one line each.
    """
    return " ".join(str(text).split())


def print_message(kind: str, text: object) -> None:
    """Print ``vbq: KIND: TEXT`` on stderr as one line (``kind`` is e.g. ``"error"``)."""
    print(f"vbq: {kind}: {one_line(text)}", file=sys.stderr)
