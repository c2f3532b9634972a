"""Errors and warnings of the imaging half: the exit code of each error, the code of a warning."""

from __future__ import annotations

import sys
from typing import ClassVar


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


# ------------------------------------------------------------------------------ warnings
class VbqWarning(UserWarning):
    """Base class of every warning of :mod:`vbq`: a check that did not pass, never silent.

    Warnings are carried on the result (``VBQResult.warnings``, the texts, and
    ``VBQResult.warning_codes``, the :attr:`code` of each, in the same order)
    rather than issued through :mod:`warnings`. :attr:`code` is stable: match
    it, not the text, which may be reworded. A text given by a caller (not
    made by :mod:`vbq`) is carried with this base class's code ``"other"``.

    Examples
    --------
    >>> w = CsfFallback("CSF measured at L2, a fallback")
    >>> w.code, str(w)
    ('csf_fallback', 'CSF measured at L2, a fallback')
    """

    code: ClassVar[str] = "other"

    @property
    def text(self) -> str:
        """The warning's sentence."""
        return str(self)


# the series and its files
class LostFile(VbqWarning):
    """A DICOM file of the folder was skipped: damaged, or not an image although named like one."""

    code = "lost_file"


class SliceIndexesUnsafe(VbqWarning):
    """A file that may be a slice of the chosen series was lost: slice indexes may be shifted."""

    code = "slice_indexes_unsafe"


class SliceUnreadable(VbqWarning):
    """A slice of the chosen series cannot be decoded (it is an error only if measured)."""

    code = "slice_unreadable"


class SeriesStructure(VbqWarning):
    """The series named by UID mixes planes, grids or several images per position."""

    code = "series_structure"


class NotSagittal(VbqWarning):
    """The series named by UID is not sagittal."""

    code = "not_sagittal"


class NotT1(VbqWarning):
    """The series is not T1-weighted, or not T1-like by its TR and TE."""

    code = "not_t1"


class T1Unverified(VbqWarning):
    """The series has no RepetitionTime or no EchoTime: its T1 weighting is not verified."""

    code = "t1_unverified"


class ContrastAgent(VbqWarning):
    """The series named by UID was acquired after a contrast agent."""

    code = "contrast_agent"


class OutsideNormativeWindow(VbqWarning):
    """TR or TE lies outside the normative window of the VBQ protocol."""

    code = "outside_normative_window"


class RescaleDiffers(VbqWarning):
    """Slices of the series differ in modality rescale slope or intercept."""

    code = "rescale_differs"


class ZeroRescaleSlope(VbqWarning):
    """A slice has RescaleSlope 0, read as 1."""

    code = "zero_rescale_slope"


class NoFieldStrength(VbqWarning):
    """The series has no MagneticFieldStrength: cut-offs by field strength cannot be matched."""

    code = "no_field_strength"


# ROIs
class MaskHeaderNote(VbqWarning):
    """What nibabel's header checks said about a mask file it could still read."""

    code = "mask_header_note"


class LabelsAssumed(VbqWarning):
    """No label scheme was named for a mask; a preset was assumed."""

    code = "labels_assumed"


class LevelMissing(VbqWarning):
    """A level has no voxel in the mask, or no seed: it is excluded."""

    code = "level_missing"


class RoiEroded(VbqWarning):
    """A body was small, so its ROI was eroded less than intended."""

    code = "roi_eroded_less"


class RegionAtLimit(VbqWarning):
    """A region grown from a seed reached the radius limit (a leak is likely)."""

    code = "region_at_limit"


class SeedSignalOutlier(VbqWarning):
    """The region grown from one seed is far from the other levels' signal."""

    code = "seed_signal_outlier"


class CsfFromImage(VbqWarning):
    """The CSF ROI was found in the image behind a body, not from a canal label or seed."""

    code = "csf_from_image"


class CsfFallback(VbqWarning):
    """The CSF was measured at a fallback level of the protocol."""

    code = "csf_fallback"


class CsfLevelAssumed(VbqWarning):
    """The CSF ROI or seed does not name its level; the protocol's was assumed."""

    code = "csf_level_assumed"


class RoiSmall(VbqWarning):
    """A ROI has fewer pixels than :data:`vbq.roi.roimasks.MIN_ROI_PIXELS`."""

    code = "roi_small"


class RoiAtEdge(VbqWarning):
    """A ROI touches the image edge."""

    code = "roi_at_edge"


# the score
class NotProtocolLevel(VbqWarning):
    """A value or ROI is of a level the protocol does not score: it is not used."""

    code = "not_a_protocol_level"


class LevelNotMeasured(VbqWarning):
    """Levels of the protocol were not measured."""

    code = "level_not_measured"


class LevelsExcluded(VbqWarning):
    """Levels were excluded from the score (the text names them and their reasons)."""

    code = "levels_excluded"


class NonPositiveSignal(VbqWarning):
    """A level's signal intensity is zero or negative."""

    code = "nonpositive_signal"


# plausibility of the score (vbq.roi.plausibility)
class ImplausibleScoreForced(VbqWarning):
    """The CSF is at least as bright as the median marrow (VBQ <= 1), scored only because forced."""

    code = "implausible_score_forced"


class VbqOutsidePublishedRange(VbqWarning):
    """The VBQ lies outside the range published for T1 VBQ."""

    code = "vbq_outside_published_range"


class CsfRoiHeterogeneous(VbqWarning):
    """The CSF ROI's signal varies too much (CV above the limit): fat or roots may be inside."""

    code = "csf_roi_heterogeneous"


class CsfRoiBrighterThanCanal(VbqWarning):
    """The CSF ROI is brighter than the sac's CSF sampled along the canal."""

    code = "csf_roi_brighter_than_canal"


class RoisOverlap(VbqWarning):
    """Two ROIs share pixels on the same slice."""

    code = "rois_overlap"


class RoiOutsideBody(VbqWarning):
    """A vertebral ROI extends outside its body."""

    code = "roi_outside_body"


class SliceOffMidline(VbqWarning):
    """The measured slice lies more than the allowed distance from the mid-sagittal plane."""

    code = "slice_off_midline"


class MidlineUnknown(VbqWarning):
    """The mid-sagittal plane was not found: the slice's distance from it is unchecked."""

    code = "midline_unknown"


class LevelSignalOutlier(VbqWarning):
    """A used level's signal differs from the median of the other used levels by too much."""

    code = "level_signal_outlier"


class SeedMoved(VbqWarning):
    """A click on an endplate or in a disc was moved into the body it belongs to."""

    code = "seed_moved"


class LevelSpacingUneven(VbqWarning):
    """Bodies found from clicks are spaced unevenly for their labels (a level skipped?)."""

    code = "level_spacing_uneven"


class BodyLow(VbqWarning):
    """A body found from a click is low for the spacing of the other bodies found.

    A disc or an endplate zone taken for the body, or a crushed (fractured) body.
    """

    code = "body_low"


# the batch
class BatchNote(VbqWarning):
    """What a batch noticed and did not refuse (a note, not a warning of a result).

    A manifest column that resembles a known one; a row of an earlier output
    with status ok but no number in ``vbq``, which ``--resume`` redoes.
    :func:`vbq.batch.run_batch` hands it to its ``on_note`` callback (the
    command line prints it on stderr), else issues it through :mod:`warnings`.
    """

    code = "batch_note"


# ROIs that cannot be found (errors with what to try)
class ImplausibleScoreError(AnalysisError):
    """The CSF is at least as bright as the median marrow (VBQ <= 1): no score unless forced."""


class NotSagittalError(AnalysisError):
    """The series to score is not sagittal (axial, coronal, oblique): no score unless forced."""


class CsfNotFoundError(AnalysisError):
    """No CSF ROI could be placed automatically (the command line adds what to try)."""


class BodyNotFoundError(AnalysisError):
    """A vertebral body could not be found from its seed or label."""


def as_warning(item: VbqWarning | str) -> VbqWarning:
    """Return ``item`` as a :class:`VbqWarning` (a caller's plain text gets code ``"other"``)."""
    return item if isinstance(item, VbqWarning) else VbqWarning(str(item))


def warning_codes() -> dict[str, type[VbqWarning]]:
    """Every warning code of :mod:`vbq` -> its class.

    Examples
    --------
    >>> warning_codes()["roi_small"].__name__
    'RoiSmall'
    """
    out: dict[str, type[VbqWarning]] = {VbqWarning.code: VbqWarning}
    todo = list(VbqWarning.__subclasses__())
    while todo:
        cls = todo.pop()
        out[cls.code] = cls
        todo.extend(cls.__subclasses__())
    return dict(sorted(out.items()))
