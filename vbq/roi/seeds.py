"""ROIs grown from seed points: the ``vbq-seeds/1`` format and region growing.

Owns reading a seed file (its top level is :mod:`vbq.roi.inputfile`'s, shared
with ROI files), placing each seed, and growing the body and CSF regions.

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

Body ROI (:func:`grow_body`)
    The marrow signal near the seed (median and MAD-based SD within
    :data:`SEED_STATS_MM` of it) sets an intensity window, ``median -
    max(3 SD, 35 % of median)`` to ``median + max(3 SD, 50 % of median)``.
    The region grows from the seed through 8-connected pixels inside that
    window and within :data:`GROW_RADIUS_MM` of the seed. Cortex and endplates
    are dark on T1 (so are disc and CSF relative to fatty marrow), which stops
    the growth there. A 1 mm opening then cuts thin leaks, holes are filled,
    and the region is eroded by :data:`vbq.roi.anatomy.BODY_EROSION_MM` as a
    mask-derived body is.
CSF ROI
    With a CSF seed: grown the same way within a window of +-30 % of the CSF
    signal near the seed, limited to the craniocaudal extent of the CSF
    level's body and :data:`CSF_RADIUS_MM` of the seed, then eroded by 2 mm
    (the grown edge holds pixels part CSF, part dura or cortex).
    Without one: the thecal sac is traced along the canal through the grown
    bodies' centres and the CSF ROI placed in it at the middle of the CSF
    level (:func:`vbq.roi.canal.place_csf`). Either way the sac's CSF sampled
    along the canal and the slice's distance from the mid-sagittal plane are
    carried on the result (:func:`vbq.roi.midline.canal_of_rois`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike
from vbq.errors import (
    AnalysisError,
    BodyNotFoundError,
    CsfFromImage,
    CsfLevelAssumed,
    CsfNotFoundError,
    LevelMissing,
    RegionAtLimit,
    SeedSignalOutlier,
    VbqWarning,
)
from vbq.protocol import Protocol
from vbq.roi.anatomy import (
    BODY_EROSION_MM,
    body_roi,
    cc_band,
    protocol_levels,
)
from vbq.roi.midline import canal_of_rois, level_centres
from vbq.roi.morphology import ellipse_element, erode_mm, largest_region
from vbq.roi.roimasks import MIN_ROI_PIXELS, RoiMasks
from vbq.roi.seedfile import FORMAT, Seed, SeedFile
from vbq.roi.seedfile import place_seed as _place

#: Radius (mm) of the neighbourhood whose signal sets the growth window.
SEED_STATS_MM = 3.0
#: Farthest (mm) a body region may grow from its seed.
GROW_RADIUS_MM = 30.0
#: Farthest (mm) a CSF region may grow from its seed.
CSF_RADIUS_MM = 15.0

__all__ = ["FORMAT", "Seed", "SeedFile", "rois_from_seeds", "grow_body", "grow_csf",
           "GROW_RADIUS_MM", "SEED_STATS_MM", "CSF_RADIUS_MM"]


# --------------------------------------------------------------------------- growing


def _distance_mm(shape: tuple[int, int], rc: Sequence[float],
                 spacing: tuple[float, float]) -> np.ndarray:
    r = (np.arange(shape[0], dtype=float) - rc[0])[:, None] * spacing[0]
    c = (np.arange(shape[1], dtype=float) - rc[1])[None, :] * spacing[1]
    return np.hypot(r, c)


def _local_stats(image: np.ndarray, rc: Sequence[float], spacing: tuple[float, float],
                 radius_mm: float = SEED_STATS_MM) -> tuple[float, float]:
    near = _distance_mm(image.shape, rc, spacing) <= radius_mm
    vals = image[near]
    med = float(np.median(vals))
    sd = 1.4826 * float(np.median(np.abs(vals - med)))
    return med, sd


def _grow(image: np.ndarray, rc: Sequence[float], spacing: tuple[float, float],
          low: float, high: float, radius_mm: float,
          limit: np.ndarray | None = None) -> np.ndarray:
    from scipy import ndimage

    dist = _distance_mm(image.shape, rc, spacing)
    cand = (image >= low) & (image <= high) & (dist <= radius_mm)
    if limit is not None:
        cand &= limit
    opened = ndimage.binary_opening(cand, structure=ellipse_element(1.0, spacing))
    lab, n = ndimage.label(opened, structure=np.ones((3, 3), dtype=bool))
    r, c = int(round(rc[0])), int(round(rc[1]))
    if n == 0:
        return np.zeros_like(cand)
    k = lab[r, c]
    if k == 0:  # the seed pixel itself was opened away: take the nearest region
        d = np.where(lab > 0, dist, np.inf)
        idx = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[idx] > SEED_STATS_MM:
            return np.zeros_like(cand)
        k = lab[idx]
    return ndimage.binary_fill_holes(lab == k)


def grow_body(image: np.ndarray, seed_rc: Sequence[float], spacing: tuple[float, float],
              name: str = "body", radius_mm: float = GROW_RADIUS_MM
              ) -> tuple[np.ndarray, list[VbqWarning]]:
    """Grow a vertebral body region from a seed (before erosion).

    Returns
    -------
    region, warnings
        The filled region, and a remark when it reached the radius limit
        (a leak into a neighbouring structure is then likely).

    Raises
    ------
    AnalysisError
        When nothing marrow-like surrounds the seed.
    """
    med, sd = _local_stats(image, seed_rc, spacing)
    if med <= 0:
        raise BodyNotFoundError(f"{name}: the signal at the seed is not above zero, so it is not "
                            f"inside a vertebral body")
    low = med - max(3 * sd, 0.35 * med)
    high = med + max(3 * sd, 0.50 * med)
    region = _grow(image, seed_rc, spacing, low, high, radius_mm)
    warnings: list[VbqWarning] = []
    if region.sum() < MIN_ROI_PIXELS:
        raise BodyNotFoundError(f"{name}: region growing from the seed found only "
                            f"{int(region.sum())} pixels of marrow-like signal; move the seed "
                            f"into the body")
    dist = _distance_mm(image.shape, seed_rc, spacing)
    rim = dist[region] > radius_mm - 1.5 * max(spacing)
    if rim.sum() > 0.05 * region.sum():
        warnings.append(RegionAtLimit(
            f"{name}: the grown region reached the {radius_mm:.0f} mm limit around the seed and "
            "may include tissue outside the body; check the QC figure"))
    return region, warnings


def grow_csf(image: np.ndarray, seed_rc: Sequence[float], spacing: tuple[float, float],
             limit: np.ndarray | None = None, name: str = "CSF",
             radius_mm: float = CSF_RADIUS_MM,
             erosion_mm: float = 2.0) -> np.ndarray:
    """Grow the CSF ROI from a seed inside the canal.

    Raises
    ------
    AnalysisError
        When the grown region has fewer than :data:`vbq.roi.roimasks.MIN_ROI_PIXELS`
        pixels.
    """
    med, sd = _local_stats(image, seed_rc, spacing, radius_mm=1.5)
    tol = max(3 * sd, 0.3 * abs(med))
    region = _grow(image, seed_rc, spacing, med - tol, med + tol, radius_mm, limit)
    if region.sum() < MIN_ROI_PIXELS:
        raise AnalysisError(f"{name}: region growing from the CSF seed found only "
                            f"{int(region.sum())} pixels; move the seed into the canal")
    roi = largest_region(erode_mm(region, erosion_mm, spacing))
    return roi if roi.sum() >= MIN_ROI_PIXELS else region




# --------------------------------------------------------------------------- seeds -> ROIs


def rois_from_seeds(series: SeriesInfo, seeds: str | Path | Mapping[str, Any] | SeedFile,
                    protocol: str | Protocol = "lumbar", slice: SliceLike | None = None, *,
                    erosion_mm: float = BODY_EROSION_MM,
                    radius_mm: float = GROW_RADIUS_MM, find_csf: bool = True) -> RoiMasks:
    """Grow the vertebral and CSF ROIs from seed points.

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
    erosion_mm, radius_mm
        Erosion of each grown body, and how far it may grow from its seed.
    find_csf
        Without a CSF seed, search the image for the CSF (default); False
        leaves the CSF ROI to the caller (no ``"CSF"`` mask, ``csf_level`` None).

    Raises
    ------
    InputError
        A malformed file, or a seed outside the image (naming the seed).
    AnalysisError
        When a body or the CSF cannot be grown.
    """
    sf = seeds if isinstance(seeds, SeedFile) else SeedFile.from_json(seeds)
    levels, csf_levels = protocol_levels(protocol)
    default_index = None if slice is None else series.resolve(slice, "the slice asked for")
    placed = {s.label: (s, *_place(series, s, sf.space, default_index, sf.slice, sf.source))
              for s in sf.seeds}
    counts: dict[int, int] = {}
    for _, idx, _ in placed.values():
        counts[idx] = counts.get(idx, 0) + 1
    main = max(counts, key=lambda i: counts[i])
    warnings: list[VbqWarning] = []
    masks: dict[str, np.ndarray] = {}
    bodies: dict[str, np.ndarray] = {}
    slices: dict[str, int] = {}
    excluded = dict(sf.exclude)
    images: dict[int, np.ndarray] = {}
    seed_signal: dict[str, float] = {}

    def image_of(index: int) -> np.ndarray:
        if index not in images:
            images[index] = np.asarray(series.pixels(index), dtype=float)
        return images[index]

    wanted = list(levels) + [lvl for lvl in csf_levels if lvl not in levels]
    for lvl in wanted:
        if lvl not in placed:
            if lvl in levels and lvl not in excluded:
                warnings.append(LevelMissing(f"{sf.source}: no seed for {lvl}; {lvl} is excluded"))
                excluded[lvl] = "other"
            continue
        seed, idx, rc = placed[lvl]
        geom = series.slices[idx].geometry
        spacing = (float(geom.spacing[0]), float(geom.spacing[1]))
        region, notes = grow_body(image_of(idx), rc, spacing, f"{sf.source}: {seed.name}",
                                  radius_mm)
        warnings.extend(notes)
        bodies[lvl] = region
        seed_signal[lvl] = float(np.median(image_of(idx)[region]))
        if lvl in levels:
            roi, notes = body_roi(region, spacing, lvl, erosion_mm)
            warnings.extend(notes)
            masks[lvl] = roi
            slices[lvl] = idx

    if len(seed_signal) >= 3:
        typical = float(np.median(list(seed_signal.values())))
        for lvl, value in seed_signal.items():
            if not 0.6 * typical <= value <= 1.6 * typical:
                warnings.append(SeedSignalOutlier(
                    f"{sf.source}: the region grown from the {lvl} seed has a median signal of "
                    f"{value:.0f}, far from the other levels' {typical:.0f}; check that the "
                    f"seed lies inside the {lvl} body"))
    csf_level: str | None = None
    if "CSF" in placed:
        seed, idx, rc = placed["CSF"]
        csf_level = seed.level or (csf_levels[0] if csf_levels else None)
        if seed.level is None and csf_level is not None:
            warnings.append(CsfLevelAssumed(f"{sf.source}: the CSF seed does not name its "
                                            f"level; assumed {csf_level}"))
        geom = series.slices[idx].geometry
        spacing = (float(geom.spacing[0]), float(geom.spacing[1]))
        limit = None
        if csf_level in bodies and slices.get(csf_level, placed[csf_level][1]) == idx:
            limit = cc_band(bodies[csf_level], geom)
        masks["CSF"] = grow_csf(image_of(idx), rc, spacing, limit,
                                f"{sf.source}: {seed.name}")
        slices["CSF"] = idx
    elif find_csf:
        from vbq.roi.canal import place_csf

        at = next((lvl for lvl in csf_levels if lvl in bodies), None)
        if at is None:
            raise CsfNotFoundError(f"{sf.source}: no CSF seed and no seed for "
                                   f"{', '.join(csf_levels)}; add a seed in that body or a "
                                   "CSF seed")
        idx = placed[at][1]
        centres = level_centres({lvl: b for lvl, b in bodies.items() if placed[lvl][1] == idx})
        try:
            spot = place_csf(image_of(idx), series.slices[idx].geometry, centres, csf_levels)
        except AnalysisError as err:
            raise CsfNotFoundError(f"{sf.source}: no CSF seed, and {err}") from None
        masks["CSF"] = spot.mask
        csf_level = spot.level
        slices["CSF"] = idx
        warnings.append(CsfFromImage(f"{sf.source}: CSF found in the sac behind the "
                                     f"{spot.level} body; {spot.note}"))
    canal = canal_of_rois(series, {**bodies, **{k: v for k, v in masks.items() if k == "CSF"}},
                          {**{lvl: placed[lvl][1] for lvl in bodies}, **slices}, main)
    return RoiMasks(slice_index=main, masks=masks, csf_level=csf_level, excluded=excluded,
                    warnings=tuple(warnings), source="seeds", slices=slices,
                    csf_reference=canal.reference, midline_offset_mm=canal.midline_offset_mm)
