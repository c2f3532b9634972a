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
    Without one: :func:`vbq.roi.anatomy.find_csf_behind_body` searches posteriorly from the
    CSF level's body for the dark band of the canal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike, SliceRef
from vbq.errors import (
    AnalysisError,
    BodyNotFoundError,
    CsfFromImage,
    CsfLevelAssumed,
    CsfNotFoundError,
    InputError,
    LevelMissing,
    RegionAtLimit,
    SeedSignalOutlier,
    VbqWarning,
)
from vbq.fileio import in_limit, shown
from vbq.levels import CSF, check_level
from vbq.protocol import Protocol
from vbq.roi.anatomy import (
    BODY_EROSION_MM,
    body_roi,
    cc_band,
    find_csf_behind_body,
    protocol_levels,
)
from vbq.roi.inputfile import check_label, read_document, read_slice
from vbq.roi.morphology import ellipse_element, erode_mm, largest_region
from vbq.roi.roimasks import MIN_ROI_PIXELS, RoiMasks

FORMAT = "vbq-seeds/1"
#: Radius (mm) of the neighbourhood whose signal sets the growth window.
SEED_STATS_MM = 3.0
#: Farthest (mm) a body region may grow from its seed.
GROW_RADIUS_MM = 30.0
#: Farthest (mm) a CSF region may grow from its seed.
CSF_RADIUS_MM = 15.0

_SEED_KEYS = ("label", "point", "level", "slice")

__all__ = ["Seed", "SeedFile", "rois_from_seeds", "grow_body", "grow_csf",
           "GROW_RADIUS_MM", "SEED_STATS_MM", "CSF_RADIUS_MM"]


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class Seed:
    """One seed point as written in the file."""

    number: int
    label: str
    point: tuple[float, ...]
    level: str | None = None
    slice: SliceRef | None = None

    @property
    def name(self) -> str:
        """``"seed 3 (L4)"``: how messages refer to this seed."""
        return f"seed {self.number} ({self.label})"


@dataclass(frozen=True)
class SeedFile:
    """A parsed ``vbq-seeds/1`` file."""

    space: str
    seeds: tuple[Seed, ...]
    slice: SliceRef | None = None
    exclude: Mapping[str, str] = field(default_factory=dict)
    source: str = "seeds"

    @classmethod
    def from_json(cls, obj: str | Path | Mapping[str, Any]) -> SeedFile:
        """Parse a seed file from a path or an already-loaded mapping.

        Raises
        ------
        InputError
            Malformed JSON, wrong format, or an unknown, missing or invalid
            key (naming the key and the seed).
        """
        doc = read_document(obj, fmt=FORMAT, items="seeds", what="seed file")
        src, space = doc.source, doc.space
        dim = 2 if space == "pixel" else 3
        seeds: list[Seed] = []
        seen: set[str] = set()
        for i, item in enumerate(doc.items, start=1):
            where = f"{src}: seed {i}"
            if not isinstance(item, dict):
                raise InputError(f"{where}: a seed must be a JSON object")
            for key in item:
                if key not in _SEED_KEYS:
                    raise InputError(f'{where}: unknown key "{key}"')
            label = check_label(item.get("label"), where)
            where = f"{src}: seed {i} ({label})"
            if label in seen:
                raise InputError(f"{where}: label {label} has more than one seed")
            seen.add(label)
            point = item.get("point")
            ok = (isinstance(point, list) and len(point) == dim
                  and all(in_limit(v) for v in point))
            if not ok:
                raise InputError(f"{where}: 'point' must be a list of {dim} numbers (each "
                                 f"between -1e+06 and 1e+06), got {shown(point)}")
            level = item.get("level")
            if label == CSF:
                level = check_level(level, f"{where}: level") if level is not None else None
            elif "level" in item:
                raise InputError(f'{where}: key "level" is only for the CSF seed (got '
                                 f'{shown(level)})')
            sl = read_slice(item["slice"], where) if "slice" in item else None
            seeds.append(Seed(i, label, tuple(float(v) for v in list(point or ())), level, sl))
        return cls(space, tuple(seeds), doc.slice, dict(doc.exclude), src)


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


def _place(series: SeriesInfo, seed: Seed, space: str, default_index: int | None,
           file_slice: SliceRef | None, src: str) -> tuple[int, tuple[float, float]]:
    """Slice index and pixel ``(row, column)`` of a seed; refuse one off the image."""
    where = f"{src}: {seed.name}"
    if space == "pixel":
        if seed.slice is not None:
            index = series.resolve(seed.slice, src)
        elif default_index is not None:
            index = default_index
        elif file_slice is not None:
            index = series.resolve(file_slice, src)
        else:
            index = series.default_pixel_slice(src)
        rc = (seed.point[0], seed.point[1])
    else:
        index, rc_arr = series.locate(np.asarray(seed.point))
        index = int(index)
        geom = series.slices[index].geometry
        _, dist = geom.patient_to_pixel(np.asarray(seed.point))
        positions = sorted(s.position for s in series.slices)
        gap = float(np.median(np.diff(positions))) if len(positions) > 1 else 2.0
        if abs(float(dist)) > 0.5 * gap + 1e-3:
            raise InputError(f"{where}: point {list(seed.point)} lies outside the image stack "
                             f"({abs(float(dist)):.1f} mm from the nearest slice plane)")
        # as in a ROI file: a slice named for the point must be the one it lies on
        if seed.slice is not None:
            want, asked = series.resolve(seed.slice, where), "named for the seed"
        elif default_index is not None:
            want, asked = default_index, "asked for"
        elif file_slice is not None:
            want, asked = series.resolve(file_slice, src), "named in the file"
        else:
            want, asked = None, ""
        if want is not None and want != index:
            raise InputError(f"{where}: lies on slice {index}, not on the slice {want} {asked}")
        rc = (float(rc_arr[0]), float(rc_arr[1]))
    rows, cols = series.slices[index].geometry.shape
    if not (-0.5 <= rc[0] < rows - 0.5 and -0.5 <= rc[1] < cols - 0.5):
        raise InputError(f"{where}: point [{rc[0]:.1f}, {rc[1]:.1f}] (row, column) lies outside "
                         f"the image ({rows} rows x {cols} columns)")
    return int(index), rc


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
        tried: list[str] = []
        for lvl in csf_levels:
            if lvl not in bodies:
                tried.append(f"no seed for {lvl}")
                continue
            idx = placed[lvl][1]
            try:
                masks["CSF"] = find_csf_behind_body(image_of(idx), bodies[lvl],
                                                    series.slices[idx].geometry)
            except AnalysisError as err:
                tried.append(f"at {lvl}: {err}")
                continue
            csf_level = lvl
            slices["CSF"] = idx
            note = f"CSF ROI found in the image behind the {lvl} body"
            if tried:
                note += f" instead of {csf_levels[0]} (" + "; ".join(tried) + ")"
            warnings.append(CsfFromImage(note))
            break
        if csf_level is None:
            raise CsfNotFoundError(f"{sf.source}: no CSF seed and no CSF found behind "
                                f"{', '.join(csf_levels)}: " + "; ".join(tried))
    return RoiMasks(slice_index=main, masks=masks, csf_level=csf_level, excluded=excluded,
                    warnings=tuple(warnings), source="seeds", slices=slices)
