"""Exceptions and warnings of the statistics half.

This module owns every error class (:class:`MetaAnalysisError` and its exit codes)
and every warning class (:class:`MetaAnalysisWarning`, each with a stable ``code``)
that :mod:`metaanalysis` raises or emits, and the helpers that turn a list of
caveats into a result's ``warnings`` and ``warning_codes``. It imports nothing of
the package.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import ClassVar


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


class MetaAnalysisWarning(UserWarning):
    """Base class of every warning :mod:`metaanalysis` emits.

    Each subclass has a stable :attr:`code` (a short snake_case word) that
    programs can match instead of the wording of the message. A result keeps
    the message in its ``warnings`` tuple and the code, at the same position,
    in its ``warning_codes`` tuple, so neither is lost when Python warnings are
    filtered; the JSON output carries both lists.
    """

    #: Stable machine-readable name of the caveat.
    code: ClassVar[str] = "warning"


class FitWarning(MetaAnalysisWarning):
    """A fit succeeded with a caveat (boundary estimate, few studies, ...).

    The same text is carried on the result's ``warnings`` tuple, so it is never
    lost when Python warnings are filtered.
    """

    code: ClassVar[str] = "fit"


class FewStudiesWarning(FitWarning):
    """Too few studies for the between-study variation to be well estimated."""

    code: ClassVar[str] = "few_studies"


class BoundaryEstimateWarning(FitWarning):
    """A variance component lies on the boundary of the parameter space (e.g. rho = +-1)."""

    code: ClassVar[str] = "boundary_estimate"


class ZeroVarianceWarning(BoundaryEstimateWarning):
    """A between-study variance is estimated at 0 (a boundary estimate)."""

    code: ClassVar[str] = "zero_variance"


class NotConvergedWarning(FitWarning):
    """The optimiser stopped before meeting its convergence criterion."""

    code: ClassVar[str] = "not_converged"


class BelowMaximumWarning(FitWarning):
    """mada's optimisation path stopped below the maximum of the likelihood."""

    code: ClassVar[str] = "below_maximum"


class UnreliableStandardErrorsWarning(FitWarning):
    """The standard errors rest on a Hessian that is singular or numerically unreliable."""

    code: ClassVar[str] = "unreliable_standard_errors"


class DivergingEstimateWarning(FitWarning):
    """A pooled logit is infinite or not determined by the data."""

    code: ClassVar[str] = "diverging_estimate"


class CorrectionDrivenWarning(FitWarning):
    """An outcome is 0% or 100% in every study: pooled from the continuity correction."""

    code: ClassVar[str] = "correction_driven"


class SingleStudyLevelWarning(FitWarning):
    """A level of a categorical covariate has a single study."""

    code: ClassVar[str] = "single_study_level"


class CodedCovariateWarning(FitWarning):
    """A covariate of a few small whole values, fitted as continuous, may be category codes."""

    code: ClassVar[str] = "coded_covariate"


class UnequalTotalsWarning(MetaAnalysisWarning):
    """A study's diseased or non-diseased total differs between the rows of its cut-offs."""

    code: ClassVar[str] = "unequal_totals"


def warning_texts(caveats: Iterable[MetaAnalysisWarning]) -> tuple[str, ...]:
    """Return the messages of ``caveats``, in order (a result's ``warnings``)."""
    return tuple(str(w) for w in caveats)


def warning_codes(caveats: Iterable[MetaAnalysisWarning]) -> tuple[str, ...]:
    """Return the codes of ``caveats``, in order (a result's ``warning_codes``)."""
    return tuple(w.code for w in caveats)


def emit(caveats: Iterable[MetaAnalysisWarning], stacklevel: int = 3) -> None:
    """Issue each caveat as a Python warning of its own class.

    ``stacklevel`` counts from the caller of :func:`emit` (3: the caller's caller, i.e.
    the user's call of the fitting function).
    """
    for w in caveats:
        warnings.warn(w, stacklevel=stacklevel)
