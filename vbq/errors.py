"""Exceptions of the imaging half, and the exit code each one maps to."""

from __future__ import annotations


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
