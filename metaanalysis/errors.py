"""Exceptions and warnings of the statistics half."""

from __future__ import annotations


class MetaAnalysisError(Exception):
    """Base class of every error raised on purpose by :mod:`metaanalysis`.

    The command line prints ``str(error)`` as one sentence on stderr and exits
    with :attr:`exit_code`; no traceback is shown.
    """

    exit_code: int = 1


class InputError(MetaAnalysisError, ValueError):
    """Bad input: the file, row, column or argument at fault is named (exit 2)."""

    exit_code = 2


class AnalysisError(MetaAnalysisError, RuntimeError):
    """Well-formed input on which the analysis cannot be done (exit 1).

    For example a covariate with the same value in every study, studies whose
    data leave a test undefined, or too few studies for the method. The command
    line exits 1 (the analysis failed), not 2 (the input could not be read), as
    :class:`vbq.errors.AnalysisError` does in the imaging half.
    """

    exit_code = 1


class FitError(MetaAnalysisError, RuntimeError):
    """A model could not be fitted; the message lists what to try (exit 1)."""

    exit_code = 1


class FitWarning(UserWarning):
    """A fit succeeded with a caveat (boundary estimate, few studies, ...).

    The same text is carried on the result's ``warnings`` tuple, so it is never
    lost when Python warnings are filtered.
    """
