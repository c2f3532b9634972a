"""ROIs from seed points: the ``vbq-seeds/1`` format, scored as the proposal's ROI file.

Owns reading a seed file (its top level is :mod:`vbq.roi.inputfile`'s, shared
with ROI files, and read by :mod:`vbq.roi.seedfile`) and turning it into ROIs.

A seed file names one point inside each vertebral body (and optionally one in
the CSF)::

    {"format": "vbq-seeds/1", "space": "pixel", "slice": 5,
     "seeds": [{"label": "L1", "point": [47.0, 110.0]},
               {"label": "CSF", "level": "L3", "point": [133.0, 170.0]}]}

``space`` and ``slice`` follow the ROI file's rules (:mod:`vbq.roi.rois`): pixel
points are ``[row, column]``; patient points ``[x, y, z]`` mm (LPS) are placed
on the slice whose plane they lie in (a slice named for a patient point, in the
file or by the caller must be that one). A seed may carry its own ``slice``;
``exclude`` works as in the ROI file. The CSF seed names its ``level``; without
one the protocol's CSF level is assumed, with a warning.

The seeds go through :func:`vbq.roi.proposal.propose` (from each body click,
the body's four borders and an ellipse aligned with its endplates, 2 mm inside
them, less the focal structures found in it (its ``minus`` polygons); a click on
an endplate or in a disc moved
into its body with a ``seed_moved`` warning, or refused), and the proposal's
``vbq-rois/1`` document is then selected as any ROI file is, so seeds and a
saved proposal give the same ROIs and the same score. The CSF ROI is the
proposal's: grown from a CSF seed (:func:`vbq.roi.growing.grow_csf`) with the
largest ellipse inside, or without one placed in the thecal sac traced along
the canal (:func:`vbq.roi.canal.place_csf`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike
from vbq.protocol import Protocol
from vbq.roi.growing import CSF_RADIUS_MM, SEED_STATS_MM, grow_csf
from vbq.roi.proposal import propose
from vbq.roi.roimasks import RoiMasks
from vbq.roi.rois import RoiFile
from vbq.roi.seedfile import FORMAT, Seed, SeedFile

__all__ = ["FORMAT", "Seed", "SeedFile", "rois_from_seeds", "grow_csf", "SEED_STATS_MM",
           "CSF_RADIUS_MM"]


def rois_from_seeds(series: SeriesInfo, seeds: str | Path | Mapping[str, Any] | SeedFile,
                    protocol: str | Protocol = "lumbar", slice: SliceLike | None = None, *,
                    find_csf: bool = True, exclude: Iterable[str] = ()) -> RoiMasks:
    """Place the vertebral and CSF ROIs from seed points, as a reader would draw them.

    The seeds are turned into a ``vbq-rois/1`` document by
    :func:`vbq.roi.proposal.propose` and its ROIs selected by
    :meth:`vbq.roi.rois.RoiFile.masks`, so the ROIs (and the score) equal those
    of the proposal saved as a ROI file; the proposal's warnings (a moved click,
    a missing level, the CSF found from the image) are carried on the result.

    Parameters
    ----------
    series
        The chosen :class:`vbq.dicom.series.SeriesInfo`.
    seeds
        A ``vbq-seeds/1`` file, mapping or :class:`SeedFile`.
    protocol
        A protocol name or object (levels, CSF level and fallbacks).
    slice
        Overrides the file's slice for pixel-space seeds without their own.
    find_csf
        Without a CSF seed, search the image for the CSF (default); False
        leaves the CSF ROI to the caller (no ``"CSF"`` mask, ``csf_level`` None).
    exclude
        Levels the score leaves out: one whose body cannot be found from its
        click is left out with a note (:func:`vbq.roi.proposal.propose`).

    Raises
    ------
    InputError
        A malformed file, or a seed outside the image (naming the seed).
    BodyNotFoundError
        A click from which no body can be found, two clicks in one body, or a
        click in the middle of a disc, with what to try.
    CsfNotFoundError
        When the CSF cannot be placed.

    References
    ----------
    Ehresman J, et al. Novel MRI-based score for assessment of bone density in
    operative spine patients. Spine J. 2020;20(4):556-562.
    doi:10.1016/j.spinee.2019.10.018 (ROIs in the medullary portion of L1-L4 on
    the mid-sagittal T1 slice, CSF at L3).
    """
    sf = seeds if isinstance(seeds, SeedFile) else SeedFile.from_json(seeds)
    proposal = propose(series, sf, slice=slice, protocol=protocol, find_csf=find_csf,
                       exclude=exclude)
    drawn = RoiFile.from_json(proposal.rois, source=sf.source).masks(series)
    # the proposal searched for the mid-sagittal plane (an ROI file does not): keep its offset
    return replace(drawn, source="seeds",
                   warnings=tuple(proposal.warning_objects) + tuple(drawn.warnings),
                   csf_reference=drawn.csf_reference or proposal.csf_reference,
                   midline_offset_mm=proposal.midline_offset_mm,
                   midline_source=proposal.midline_source)
