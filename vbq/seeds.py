"""ROIs grown from seed points: the ``vbq-seeds/1`` format and region growing.

A seed file names one point inside each vertebral body (and optionally one in
the CSF)::

    {"format": "vbq-seeds/1", "space": "pixel", "slice": 5,
     "seeds": [{"label": "L1", "point": [47.0, 110.0]},
               {"label": "CSF", "level": "L3", "point": [133.0, 170.0]}]}

``space`` and ``slice`` follow the ROI file's rules (:mod:`vbq.rois`): pixel
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
    and the region is eroded by :data:`vbq.masks.BODY_EROSION_MM` as a
    mask-derived body is.
CSF ROI
    With a CSF seed: grown the same way within a window of +-30 % of the CSF
    signal near the seed, limited to the craniocaudal extent of the CSF
    level's body and :data:`CSF_RADIUS_MM` of the seed, then eroded by 2 mm
    (the grown edge holds pixels part CSF, part dura or cortex).
    Without one: :func:`find_csf_behind_body` searches posteriorly from the
    CSF level's body for the dark band of the canal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vbq.errors import AnalysisError, InputError
from vbq.fileio import read_json_file
from vbq.masks import (
    BODY_EROSION_MM,
    CSF_EROSION_MM,
    MIN_PIXELS,
    body_roi,
    cc_band,
    erode_mm,
    largest_region,
    protocol_levels,
    resolve_slice,
)
from vbq.rois import _in_limit, _shown

if TYPE_CHECKING:  # pragma: no cover
    from vbq.rois import RoiMasks

FORMAT = "vbq-seeds/1"
#: Radius (mm) of the neighbourhood whose signal sets the growth window.
SEED_STATS_MM = 3.0
#: Farthest (mm) a body region may grow from its seed.
GROW_RADIUS_MM = 30.0
#: Farthest (mm) a CSF region may grow from its seed.
CSF_RADIUS_MM = 15.0

_TOP_KEYS = ("format", "space", "slice", "seeds", "exclude")
_SEED_KEYS = ("label", "point", "level", "slice")

__all__ = ["Seed", "SeedFile", "rois_from_seeds", "grow_body", "grow_csf",
           "find_csf_behind_body", "GROW_RADIUS_MM", "SEED_STATS_MM", "CSF_RADIUS_MM"]


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class Seed:
    """One seed point as written in the file."""

    number: int
    label: str
    point: tuple[float, ...]
    level: str | None = None
    slice: int | str | None = None

    @property
    def name(self) -> str:
        """``"seed 3 (L4)"``: how messages refer to this seed."""
        return f"seed {self.number} ({self.label})"


def _parse_slice(value: Any, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, dict) and "frame" in value:  # one frame of a multi-frame image
        from vbq.dicomio import FrameRef

        return FrameRef.from_json(value, where)
    if isinstance(value, dict) and set(value) == {"sop_instance_uid"}:
        uid = value["sop_instance_uid"]
        if isinstance(uid, str) and uid:
            return uid
    raise InputError(
        f'{where}: slice must be a 0-based index or {{"sop_instance_uid": "..."}}, '
        f"got {_shown(value)}"
    )


@dataclass(frozen=True)
class SeedFile:
    """A parsed ``vbq-seeds/1`` file."""

    space: str
    seeds: tuple[Seed, ...]
    slice: int | str | None = None
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
        from vbq.levels import CSF, LABELS, check_level, check_reason

        if isinstance(obj, str | Path):
            path = Path(obj)
            src = path.name
            data = read_json_file(path, "seed file")
        else:
            data, src = obj, "seeds"
        if not isinstance(data, Mapping):
            raise InputError(f"{src}: a seed file must be a JSON object")
        for key in data:
            if key not in _TOP_KEYS:
                raise InputError(f'{src}: unknown key "{key}"')
        if data.get("format") != FORMAT:
            raise InputError(f'{src}: "format" must be "{FORMAT}", got '
                             f'{_shown(data.get("format"))}')
        space = data.get("space", "pixel")
        if space not in ("pixel", "patient"):
            raise InputError(f'{src}: "space" must be "pixel" or "patient", got {space!r}')
        raw = data.get("seeds")
        if not isinstance(raw, list) or not raw:
            raise InputError(f'{src}: "seeds" must be a non-empty list of seeds')
        dim = 2 if space == "pixel" else 3
        seeds: list[Seed] = []
        seen: set[str] = set()
        for i, item in enumerate(raw, start=1):
            where = f"{src}: seed {i}"
            if not isinstance(item, dict):
                raise InputError(f"{where}: a seed must be a JSON object")
            for key in item:
                if key not in _SEED_KEYS:
                    raise InputError(f'{where}: unknown key "{key}"')
            label = item.get("label")
            if label not in LABELS:
                raise InputError(f"{where}: unknown label {label!r} "
                                 f"(expected one of C1-C7, T1-T12, L1-L5, S1, CSF)")
            where = f"{src}: seed {i} ({label})"
            if label in seen:
                raise InputError(f"{where}: label {label} has more than one seed")
            seen.add(label)
            point = item.get("point")
            ok = (isinstance(point, list) and len(point) == dim
                  and all(_in_limit(v) for v in point))
            if not ok:
                raise InputError(f"{where}: 'point' must be a list of {dim} numbers (each "
                                 f"between -1e+06 and 1e+06), got {_shown(point)}")
            level = item.get("level")
            if label == CSF:
                level = check_level(level, f"{where}: level") if level is not None else None
            elif "level" in item:
                raise InputError(f'{where}: key "level" is only for the CSF seed (got '
                                 f'{_shown(level)})')
            sl = _parse_slice(item["slice"], where) if "slice" in item else None
            seeds.append(Seed(i, label, tuple(float(v) for v in point), level, sl))
        file_slice = _parse_slice(data["slice"], src) if "slice" in data else None
        exclude_raw = data.get("exclude", {})
        if not isinstance(exclude_raw, dict):
            raise InputError(f'{src}: "exclude" must be an object like {{"L2": "fracture"}}')
        exclude = {check_level(k, f"{src}: exclude"): check_reason(v, f"{src}: exclude {k}")
                   for k, v in exclude_raw.items()}
        return cls(space, tuple(seeds), file_slice, exclude, src)


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

    from vbq.masks import _ellipse_element

    dist = _distance_mm(image.shape, rc, spacing)
    cand = (image >= low) & (image <= high) & (dist <= radius_mm)
    if limit is not None:
        cand &= limit
    opened = ndimage.binary_opening(cand, structure=_ellipse_element(1.0, spacing))
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
              ) -> tuple[np.ndarray, list[str]]:
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
        raise AnalysisError(f"{name}: the signal at the seed is not above zero, so it is not "
                            f"inside a vertebral body")
    low = med - max(3 * sd, 0.35 * med)
    high = med + max(3 * sd, 0.50 * med)
    region = _grow(image, seed_rc, spacing, low, high, radius_mm)
    warnings: list[str] = []
    if region.sum() < MIN_PIXELS:
        raise AnalysisError(f"{name}: region growing from the seed found only "
                            f"{int(region.sum())} pixels of marrow-like signal; move the seed "
                            f"into the body")
    dist = _distance_mm(image.shape, seed_rc, spacing)
    rim = dist[region] > radius_mm - 1.5 * max(spacing)
    if rim.sum() > 0.05 * region.sum():
        warnings.append(f"{name}: the grown region reached the {radius_mm:.0f} mm limit around "
                        f"the seed and may include tissue outside the body; check the QC figure")
    return region, warnings


def grow_csf(image: np.ndarray, seed_rc: Sequence[float], spacing: tuple[float, float],
             limit: np.ndarray | None = None, name: str = "CSF",
             radius_mm: float = CSF_RADIUS_MM,
             erosion_mm: float = 2.0) -> np.ndarray:
    """Grow the CSF ROI from a seed inside the canal.

    Raises
    ------
    AnalysisError
        When the grown region has fewer than :data:`vbq.masks.MIN_PIXELS` pixels.
    """
    med, sd = _local_stats(image, seed_rc, spacing, radius_mm=1.5)
    tol = max(3 * sd, 0.3 * abs(med))
    region = _grow(image, seed_rc, spacing, med - tol, med + tol, radius_mm, limit)
    if region.sum() < MIN_PIXELS:
        raise AnalysisError(f"{name}: region growing from the CSF seed found only "
                            f"{int(region.sum())} pixels; move the seed into the canal")
    roi = largest_region(erode_mm(region, erosion_mm, spacing))
    return roi if roi.sum() >= MIN_PIXELS else region


def _direction_px(geometry: Any, lps: Sequence[float]) -> np.ndarray:
    """In-plane pixel step ``[d_row, d_col]`` moving 1 mm along the LPS direction ``lps``."""
    v = np.asarray(lps, dtype=float)
    d = np.array([v @ geometry.col_dir / geometry.spacing[0],
                  v @ geometry.row_dir / geometry.spacing[1]])
    mm = math.hypot(d[0] * geometry.spacing[0], d[1] * geometry.spacing[1])
    if mm < 1e-6:
        raise AnalysisError("the image plane does not contain the needed direction; "
                            "a sagittal series is required")
    return d / mm


def find_csf_behind_body(image: np.ndarray, body: np.ndarray, geometry: Any, *,
                         dark_fraction: float = 0.6, cortex_mm: float = 2.5,
                         tolerance: float = 0.3, margin_mm: float = 1.0,
                         search_mm: float = 30.0,
                         erosion_mm: float = CSF_EROSION_MM) -> np.ndarray:
    """Find the CSF in the canal behind a vertebral body.

    Scan lines run posteriorly (patient +y) from the middle 70 % of the body's
    height. On each, after leaving the body, the first sample darker than
    ``dark_fraction`` x the marrow median starts the posterior cortex; past
    ``cortex_mm`` of it, the signal of the next 3 mm is taken as the CSF
    level, and the band continues while the signal stays within
    ``tolerance`` (relative) of that level, i.e. until the cord, the dura and
    epidural fat or the posterior elements. Each band loses ``margin_mm`` at
    both ends (partial volume). The ROI is the area those bands span,
    restricted to pixels within the same tolerance of the median CSF level,
    eroded by ``erosion_mm`` when enough pixels remain.

    Raises
    ------
    AnalysisError
        When fewer than three scan lines find a CSF band at least 3 mm wide.
    """
    from scipy import ndimage

    marrow = float(np.median(image[body]))
    threshold = dark_fraction * marrow
    post = _direction_px(geometry, (0.0, 1.0, 0.0))
    sup = _direction_px(geometry, (0.0, 0.0, 1.0))
    z = geometry.pixel_centres()[..., 2]
    zb = z[body]
    height = float(zb.max() - zb.min())
    centre = np.array(ndimage.center_of_mass(body))
    step = 0.5
    ts = np.linspace(-0.35 * height, 0.35 * height, 15)
    ds = np.arange(0.0, 60.0 + search_mm, step)
    lo: list[float] = []
    hi: list[float] = []
    used: list[float] = []
    levels: list[float] = []
    rows, cols = image.shape
    for t in ts:
        pts = centre[None, :] + t * sup[None, :] + ds[:, None] * post[None, :]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= rows - 1) & (pts[:, 1] >= 0) & (
            pts[:, 1] <= cols - 1)
        ri = np.clip(np.round(pts[:, 0]).astype(int), 0, rows - 1)
        ci = np.clip(np.round(pts[:, 1]).astype(int), 0, cols - 1)
        in_body = body[ri, ci] & inside
        if not in_body.any():
            continue
        exit_i = int(np.flatnonzero(in_body)[-1]) + 1
        vals = ndimage.map_coordinates(image, pts.T, order=1, mode="nearest")
        vals = ndimage.median_filter(vals, size=3, mode="nearest")
        stop = min(exit_i + int(search_mm / step), len(ds))
        dark = np.flatnonzero((vals[exit_i:stop] < threshold) & inside[exit_i:stop])
        if dark.size == 0:
            continue
        start = exit_i + int(dark[0]) + int(round(cortex_mm / step))
        window = vals[start:start + int(3.0 / step)]
        if window.size == 0:
            continue
        level = float(np.median(window))
        if level <= 0:
            continue
        close = np.flatnonzero(np.abs(window - level) <= tolerance * level)
        if close.size == 0:
            continue
        start += int(close[0])  # skip what is left of the cortex
        k = start
        while k < len(ds) and inside[k] and abs(vals[k] - level) <= tolerance * level:
            k += 1
        if ds[k - 1] - ds[start] >= 3.0 + 2 * margin_mm:
            lo.append(float(ds[start]) + margin_mm)
            hi.append(float(ds[k - 1]) - margin_mm)
            used.append(float(t))
            levels.append(level)
    if len(used) < 3:
        raise AnalysisError("no CSF band was found behind the body")
    csf = float(np.median(levels))
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)
    dr, dc = rr - centre[0], cc - centre[1]
    basis = np.array([[sup[0], post[0]], [sup[1], post[1]]])
    tt, dd = np.linalg.solve(basis, np.vstack([dr.ravel(), dc.ravel()]))
    tt = tt.reshape(rows, cols)
    dd = dd.reshape(rows, cols)
    order = np.argsort(used)
    u = np.asarray(used)[order]
    p_lo = np.interp(tt, u, np.asarray(lo)[order])
    p_hi = np.interp(tt, u, np.asarray(hi)[order])
    region = ((tt >= u[0]) & (tt <= u[-1]) & (dd >= p_lo) & (dd <= p_hi)
              & (np.abs(image - csf) <= tolerance * csf))
    region = largest_region(region)
    if region.sum() < MIN_PIXELS:
        raise AnalysisError(f"the CSF band behind the body has only {int(region.sum())} pixels")
    roi = largest_region(erode_mm(region, erosion_mm, tuple(geometry.spacing)))
    return roi if roi.sum() >= MIN_PIXELS else region


# --------------------------------------------------------------------------- seeds -> ROIs


def _place(series: Any, seed: Seed, space: str, default_index: int | None,
           file_slice: int | str | None, src: str) -> tuple[int, tuple[float, float]]:
    where = f"{src}: {seed.name}"
    if space == "pixel":
        ref = seed.slice if seed.slice is not None else default_index
        if ref is None:
            ref = file_slice
        if ref is None:
            check = getattr(series, "default_pixel_slice", None)
            index = int(check(src)) if check is not None else int(series.mid_slice)
        else:
            index = resolve_slice(series, ref, src)
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
            want, asked = resolve_slice(series, seed.slice, where), "named for the seed"
        elif default_index is not None:
            want, asked = default_index, "asked for"
        elif file_slice is not None:
            want, asked = resolve_slice(series, file_slice, src), "named in the file"
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


def rois_from_seeds(series: Any, seeds: str | Path | Mapping[str, Any] | SeedFile,
                    protocol: Any = "lumbar", slice: int | str | None = None, *,
                    erosion_mm: float = BODY_EROSION_MM,
                    radius_mm: float = GROW_RADIUS_MM) -> RoiMasks:
    """Grow the vertebral and CSF ROIs from seed points.

    Parameters
    ----------
    series
        The chosen :class:`vbq.dicomio.SeriesInfo`.
    seeds
        A ``vbq-seeds/1`` file, mapping or :class:`SeedFile`.
    protocol
        A protocol name or object (levels, CSF level and fallbacks).
    slice
        Overrides the file's slice for pixel-space seeds without their own.
    erosion_mm, radius_mm
        Erosion of each grown body, and how far it may grow from its seed.

    Raises
    ------
    InputError
        A malformed file, or a seed outside the image (naming the seed).
    AnalysisError
        When a body or the CSF cannot be grown.
    """
    from vbq.rois import RoiMasks

    sf = seeds if isinstance(seeds, SeedFile) else SeedFile.from_json(seeds)
    levels, csf_levels = protocol_levels(protocol)
    default_index = resolve_slice(series, slice)
    placed = {s.label: (s, *_place(series, s, sf.space, default_index, sf.slice, sf.source))
              for s in sf.seeds}
    counts: dict[int, int] = {}
    for _, idx, _ in placed.values():
        counts[idx] = counts.get(idx, 0) + 1
    main = max(counts, key=lambda i: counts[i])
    warnings: list[str] = []
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
                warnings.append(f"{sf.source}: no seed for {lvl}; {lvl} is excluded")
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
                warnings.append(
                    f"{sf.source}: the region grown from the {lvl} seed has a median signal of "
                    f"{value:.0f}, far from the other levels' {typical:.0f}; check that the "
                    f"seed lies inside the {lvl} body")
    csf_level: str | None = None
    if "CSF" in placed:
        seed, idx, rc = placed["CSF"]
        csf_level = seed.level or (csf_levels[0] if csf_levels else None)
        if seed.level is None and csf_level is not None:
            warnings.append(f"{sf.source}: the CSF seed does not name its level; "
                            f"assumed {csf_level}")
        geom = series.slices[idx].geometry
        spacing = (float(geom.spacing[0]), float(geom.spacing[1]))
        limit = None
        if csf_level in bodies and slices.get(csf_level, placed[csf_level][1]) == idx:
            limit = cc_band(bodies[csf_level], geom)
        masks["CSF"] = grow_csf(image_of(idx), rc, spacing, limit,
                                f"{sf.source}: {seed.name}")
        slices["CSF"] = idx
    else:
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
            warnings.append(note)
            break
        if csf_level is None:
            raise AnalysisError(f"{sf.source}: no CSF seed and no CSF found behind "
                                f"{', '.join(csf_levels)}: " + "; ".join(tried))
    return RoiMasks(slice_index=main, masks=masks, csf_level=csf_level, excluded=excluded,
                    warnings=tuple(warnings), source="seeds", slices=slices)
