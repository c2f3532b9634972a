"""Drawn ROIs: the ``vbq-rois/1`` file format and placing its shapes on a series.

Owns reading a ROI file (its top level is :mod:`vbq.roi.inputfile`'s, shared
with seed files) and placing each shape on its slice. A ROI file names shapes
(ellipse, circle, rectangle, polygon) in pixel or patient coordinates, the
slice they lie on, and levels to leave out of the score. :meth:`RoiFile.masks`
turns it into a :class:`~vbq.roi.roimasks.RoiMasks`: one boolean mask per label
on the slice it was drawn on. Label masks and seed points
(:mod:`vbq.roi.labelmask`, :mod:`vbq.roi.seeds`) produce the same
:class:`~vbq.roi.roimasks.RoiMasks`, so every ROI is measured and drawn the same
way whatever its source.

Which pixels a shape selects is :mod:`vbq.roi.shapes`.

In patient space (``"space": "patient"``, points ``[x, y, z]`` in mm, DICOM
LPS) a shape is placed on the slice whose plane its centre lies in (the mean
of its points for a polygon, the corner for a rectangle) and projected onto
that plane (each polygon vertex must lie within half a slice gap of it);
radii and sizes are millimetres along the image's row axis (down the rows)
and column axis (along the columns). An ellipse or rectangle may carry
``angle_deg``: its row axis turned counter-clockwise as displayed by that
many degrees (default 0; the rule is in :mod:`vbq.roi.shapes`), in pixel and
patient space alike; in patient space the turn is made in millimetres.
Converted pixel coordinates are rounded to 1e-6 pixel so that the
floating-point noise of the conversion can never move a boundary pixel.

A ROI may carry ``minus``: shapes (same grammar, no label) cut out of it, on its
slice and in its space, such as the focal structures (vein, Modic zones, fat
islands) the click engine leaves out of an ellipse. A pixel belongs to the ROI
when its centre is in the ROI's shape and in none of its ``minus`` shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike, SliceRef
from vbq.errors import InputError
from vbq.fileio import NUMBER_LIMIT, in_limit, shown
from vbq.levels import CSF, check_level
from vbq.roi.inputfile import check_csf_level, check_label, number_list, read_document, read_slice
from vbq.roi.roimasks import RoiMasks
from vbq.roi.shapes import cos_sin, rasterise

__all__ = ["FORMAT", "SHAPES", "MAX_POLYGON_VERTICES", "MAX_MINUS", "MAX_MINUS_VERTICES",
           "RoiPart", "RoiSpec",
           "RoiFile"]

#: The format string a ROI file must carry.
FORMAT = "vbq-rois/1"

SHAPES: dict[str, tuple[str, ...]] = {
    "ellipse": ("center", "radii"),
    "circle": ("center", "radius"),
    "rectangle": ("corner", "size"),
    "polygon": ("points",),
}
_COMMON_KEYS = ("label", "shape", "level", "slice")
#: Shapes that may carry ``angle_deg`` (a circle needs none, a polygon has its points).
_TURNABLE = ("ellipse", "rectangle")
_ROUND = 6  # decimals kept after a patient -> pixel conversion

#: Most vertices a polygon ROI may have (a drawn ROI has tens to hundreds).
MAX_POLYGON_VERTICES = 10_000
#: Most shapes a ROI's ``minus`` list may hold.
MAX_MINUS = 256
#: Most polygon vertices a ROI's ``minus`` shapes may have together (scoring that many
#: takes about half a second; the click engine writes hundreds).
MAX_MINUS_VERTICES = 100_000


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class RoiPart:
    """A shape cut out of a ROI (one item of its ``minus`` list).

    Attributes
    ----------
    shape, geometry
        As :class:`RoiSpec`'s.
    """

    shape: str
    geometry: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class RoiSpec:
    """One ROI as written in a ``vbq-rois/1`` file (coordinates as given).

    Attributes
    ----------
    number
        1-based position of the ROI in the file (used in messages).
    label
        ``"L1"`` ... ``"S1"`` or ``"CSF"``.
    shape
        ``"ellipse"``, ``"circle"``, ``"rectangle"`` or ``"polygon"``.
    geometry
        The shape's parameters: ``center`` + ``radii`` (ellipse; a circle's
        ``radius`` is stored as equal radii), ``corner`` + ``size``
        (rectangle), ``points`` (polygon), as float arrays; ``angle`` (a 0-d
        array, degrees) when the file gives ``angle_deg``.
    level
        The level of a CSF ROI, else None.
    slice
        The ROI's own slice (index or SOP Instance UID), else None.
    minus
        Shapes cut out of the ROI (its ``minus`` list), on its slice.
    """

    number: int
    label: str
    shape: str
    geometry: Mapping[str, np.ndarray]
    level: str | None = None
    slice: SliceRef | None = None
    minus: tuple[RoiPart, ...] = ()

    @property
    def name(self) -> str:
        """``"ROI 3 (L4)"``: how messages refer to this ROI."""
        return f"ROI {self.number} ({self.label})"



def _positive(arr: np.ndarray, where: str, key: str) -> np.ndarray:
    if np.any(arr <= 0):
        raise InputError(f"{where}: {key!r} must be positive, got {arr.tolist()}")
    return arr




def _parse_shape(obj: Mapping[str, Any], where: str, space: str, extra: set[str]
                 ) -> tuple[str, dict[str, np.ndarray]]:
    """Check a shape's keys (``extra`` may also appear) and read its geometry."""
    shape = obj.get("shape")
    if shape is None:
        raise InputError(f'{where}: missing key "shape"')
    if not isinstance(shape, str) or shape not in SHAPES:
        text = repr(shape) if isinstance(shape, str) else shown(shape)
        raise InputError(
            f"{where}: unknown shape {text} (expected one of {', '.join(SHAPES)})"
        )
    allowed = extra | {"shape"} | set(SHAPES[shape]) | (
        {"angle_deg"} if shape in _TURNABLE else set())
    for key in obj:
        if key not in allowed:
            raise InputError(f'{where}: unknown key "{key}"')
    for key in SHAPES[shape]:
        if key not in obj:
            raise InputError(f'{where}: missing key "{key}" for a {shape}')
    dim = 2 if space == "pixel" else 3
    geometry: dict[str, np.ndarray] = {}
    if shape in ("ellipse", "circle"):
        geometry["center"] = number_list(obj["center"], dim, where, "center")
        if shape == "ellipse":
            geometry["radii"] = _positive(number_list(obj["radii"], 2, where, "radii"), where,
                                          "radii")
        else:
            r = obj["radius"]
            if not in_limit(r):
                raise InputError(f"{where}: 'radius' must be a finite number (at most "
                                 f"{NUMBER_LIMIT:g}), got {shown(r)}")
            if r <= 0:
                raise InputError(f"{where}: 'radius' must be positive, got {shown(r)}")
            geometry["radii"] = np.array([r, r], dtype=float)
    elif shape == "rectangle":
        geometry["corner"] = number_list(obj["corner"], dim, where, "corner")
        geometry["size"] = _positive(number_list(obj["size"], 2, where, "size"), where, "size")
    else:
        pts = obj["points"]
        if not isinstance(pts, list) or len(pts) < 3:
            raise InputError(f"{where}: 'points' must be a list of at least 3 points")
        if len(pts) > MAX_POLYGON_VERTICES:
            raise InputError(f"{where}: the polygon has {len(pts):,} vertices, more than the "
                             f"{MAX_POLYGON_VERTICES:,} a ROI may have; simplify it")
        geometry["points"] = np.stack(
            [number_list(p, dim, where, f"points[{i}]") for i, p in enumerate(pts)]
        )
    if "angle_deg" in obj:
        angle = obj["angle_deg"]
        if not in_limit(angle):
            raise InputError(f"{where}: 'angle_deg' must be a finite number of degrees (at most "
                             f"{NUMBER_LIMIT:g}), got {shown(angle)}")
        geometry["angle"] = np.array(float(angle))
    return shape, geometry


def _parse_minus(obj: Any, where: str, space: str) -> tuple[RoiPart, ...]:
    """Read a ROI's ``minus`` list: shapes without label, level, slice or ``minus``."""
    if not isinstance(obj, list):
        raise InputError(f"{where}: 'minus' must be a list of shapes, got {shown(obj)}")
    if len(obj) > MAX_MINUS:
        raise InputError(f"{where}: 'minus' holds {len(obj):,} shapes, more than the "
                         f"{MAX_MINUS} a ROI may have")
    vertices = sum(len(item["points"]) for item in obj
                   if isinstance(item, dict) and isinstance(item.get("points"), list))
    if vertices > MAX_MINUS_VERTICES:
        raise InputError(f"{where}: the 'minus' polygons have {vertices:,} vertices together, "
                         f"more than the {MAX_MINUS_VERTICES:,} a ROI may have; simplify them")
    parts = []
    for i, item in enumerate(obj):
        at = f"{where}: minus[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{at}: a shape must be a JSON object, got {shown(item)}")
        parts.append(RoiPart(*_parse_shape(item, at, space, set())))
    return tuple(parts)


def _parse_roi(obj: Any, number: int, space: str, src: str) -> RoiSpec:
    where = f"{src}: ROI {number}"
    if not isinstance(obj, dict):
        raise InputError(f"{where}: a ROI must be a JSON object, got {shown(obj)}")
    label = obj.get("label")
    if label is None:
        raise InputError(f'{where}: missing key "label"')
    label = check_label(label, where)
    where = f"{src}: ROI {number} ({label})"
    shape, geometry = _parse_shape(obj, where, space, set(_COMMON_KEYS) | {"minus"})
    minus = _parse_minus(obj["minus"], where, space) if "minus" in obj else ()
    level = obj.get("level")
    if label == CSF:
        if level is None:
            raise InputError(f'{where}: missing key "level" (the level of the CSF ROI)')
        check_level(level, f"{where}: level")
    elif "level" in obj:
        raise InputError(f'{where}: key "level" is only for the CSF ROI (got {shown(level)})')
    slice_ref = read_slice(obj["slice"], where) if "slice" in obj else None
    return RoiSpec(number, label, shape, geometry, level, slice_ref, minus)




# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class RoiFile:
    """A parsed ``vbq-rois/1`` ROI file.

    Attributes
    ----------
    space
        ``"pixel"`` or ``"patient"``.
    rois
        The ROIs in file order.
    slice
        The file's default slice (index or SOP Instance UID), or None for the
        series' mid-sagittal slice.
    exclude
        Level -> reason for levels to leave out of the score.
    source
        File name used in messages.

    Examples
    --------
    >>> f = RoiFile.from_json({"format": "vbq-rois/1", "space": "pixel", "rois": [
    ...     {"label": "L1", "shape": "circle", "center": [5, 5], "radius": 2}]})
    >>> f.rois[0].name
    'ROI 1 (L1)'
    """

    space: str
    rois: tuple[RoiSpec, ...]
    slice: SliceRef | None = None
    exclude: Mapping[str, str] = field(default_factory=dict)
    source: str = "rois"

    @classmethod
    def from_json(cls, obj: str | Path | Mapping[str, Any], *, source: str | None = None
                  ) -> RoiFile:
        """Parse a ROI file from a path or from an already-loaded mapping.

        Raises
        ------
        InputError
            Malformed JSON (naming the line), a wrong format string, or any
            unknown, missing or invalid key (naming the key and the ROI).
        """
        doc = read_document(obj, fmt=FORMAT, items="rois", what="ROI file", source=source,
                            item_noun="ROIs")
        src, space, rois = doc.source, doc.space, doc.items
        specs = tuple(_parse_roi(r, i + 1, space, src) for i, r in enumerate(rois))
        seen: dict[str, int] = {}
        for spec in specs:
            if spec.label in seen:
                raise InputError(
                    f"{src}: {spec.name}: label {spec.label} already used by ROI {seen[spec.label]}"
                )
            seen[spec.label] = spec.number
        return cls(space=space, rois=specs, slice=doc.slice, exclude=dict(doc.exclude),
                   source=src)

    def check_csf_level(self, csf_levels: Sequence[str], protocol: str) -> None:
        """Refuse a CSF ROI at a level not in ``csf_levels`` (:func:`check_csf_level`)."""
        for spec in self.rois:
            if spec.label == CSF:
                check_csf_level(f"{self.source}: {spec.name}", spec.level, csf_levels, protocol)

    # ----------------------------------------------------------------- placing

    def _place_patient(self, series: SeriesInfo, spec: RoiSpec, where: str
                       ) -> tuple[int, dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
        """Slice index and pixel-space geometry of a patient-space ROI and of its cut-outs."""
        g = spec.geometry
        index, _ = series.locate(_anchor(spec.shape, g))
        index = int(index)
        geom = series.slices[index].geometry
        tol = _slice_tolerance(series)
        _, dist = geom.patient_to_pixel(_anchor(spec.shape, g))
        if abs(float(dist)) > tol:
            lost = series.incomplete
            raise InputError(
                f"{where}: lies outside the image stack ({abs(float(dist)):.1f} mm from the "
                f"nearest slice plane)" + (f"; note that {lost}" if lost else "")
            )
        px = _to_pixels(geom, spec.shape, g, where, index, tol)
        parts = [_to_pixels(geom, part.shape, part.geometry, f"{where}: minus[{i}]", index, tol)
                 for i, part in enumerate(spec.minus)]
        return index, px, parts

    def masks(self, series: SeriesInfo, slice: SliceLike | None = None) -> RoiMasks:
        """Select the pixels of every ROI on the series' slices.

        Parameters
        ----------
        series
            The :class:`~vbq.dicom.series.SeriesInfo` the ROIs were drawn on.
        slice
            A slice chosen by the user (see :meth:`SliceRef.parse`); overrides
            the file's default slice (not a ROI's own slice).

        Raises
        ------
        InputError
            A slice outside the series, a ROI outside the image or with no
            pixel centre inside it, naming the ROI.
        """
        asked = "the slice asked for"
        default_ref = SliceRef.parse(slice, asked) if slice is not None else self.slice
        default_index = (
            series.resolve(default_ref, self.source if slice is None else asked)
            if default_ref is not None
            else series.default_pixel_slice(self.source) if self.space == "pixel"
            else series.mid_slice
        )
        masks: dict[str, np.ndarray] = {}
        outlines: dict[str, np.ndarray] = {}
        cut_outlines: dict[str, tuple[np.ndarray, ...]] = {}
        whole: dict[str, np.ndarray] = {}       # the shapes before their cut-outs
        slices: dict[str, int] = {}
        csf_level = None
        for spec in self.rois:
            where = f"{self.source}: {spec.name}"
            if self.space == "pixel":
                index = (
                    series.resolve(spec.slice, where)
                    if spec.slice is not None
                    else default_index
                )
                px = dict(spec.geometry)
                parts = [dict(part.geometry) for part in spec.minus]
            else:
                index, px, parts = self._place_patient(series, spec, where)
                named = spec.slice if spec.slice is not None else default_ref
                if named is not None:
                    want = series.resolve(named, where)
                    if want != index:
                        how = "asked for" if spec.slice is None and slice is not None else (
                            "named in the file")
                        raise InputError(
                            f"{where}: lies on slice {index}, not on the slice {want} {how}"
                        )
            rows, cols = (int(v) for v in series.slices[index].geometry.shape)
            mask, outline, n_beyond = rasterise(spec.shape, px, (rows, cols))
            if not mask.any():
                if n_beyond:
                    raise InputError(
                        f"{where}: lies outside the image ({rows} rows x {cols} columns)"
                    )
                raise InputError(f"{where}: contains no pixel centre, so it has no pixels")
            if n_beyond:
                raise InputError(
                    f"{where}: extends beyond the image ({rows} rows x {cols} columns; "
                    f"{n_beyond} of its pixels are outside)"
                )
            whole[spec.label] = mask
            if parts:
                mask, cut_outlines[spec.label] = _cut_out(mask, spec.minus, parts)
                if not mask.any():
                    raise InputError(f"{where}: has no pixel left once its 'minus' shapes "
                                     "are cut out")
            masks[spec.label] = mask
            outlines[spec.label] = outline
            slices[spec.label] = index
            if spec.label == CSF:
                csf_level = spec.level
        counts: dict[int, int] = {}
        for idx in slices.values():
            counts[idx] = counts.get(idx, 0) + 1
        main = max(counts, key=lambda i: (counts[i], i == default_index))
        from vbq.roi.midline import canal_of_rois

        # the sac's CSF on the CSF ROI's slice is checked (gate c), and the main slice's
        # distance from the mid-sagittal plane found from the anatomy (gate d): a drawn file
        # names its slice, which may not be the mid-sagittal one; the sac is traced
        # through the shapes' centres, whatever is cut out of them
        canal = canal_of_rois(series, whole, slices, main)
        return RoiMasks(
            slice_index=main,
            masks=masks,
            csf_level=csf_level,
            excluded=dict(self.exclude),
            source="drawn",
            outlines=outlines,
            slices=slices,
            csf_reference=canal.reference,
            midline_offset_mm=canal.midline_offset_mm,
            midline_source=None if canal.midline is None else canal.midline.source,
            cut_outlines=cut_outlines or None,
            slice_offsets_mm=None if canal.midline is None else {
                label: canal.midline.offset_mm(index) for label, index in slices.items()
                if index != main},
        )



def _cut_out(mask: np.ndarray, minus: tuple[RoiPart, ...], parts: list[dict[str, np.ndarray]]
             ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Return ``mask`` less its cut-outs (pixel geometry ``parts``) and their outlines.

    Each cut-out is rasterised on the image grid with its own membership rule
    (positions are never shifted, so boundary pixels are decided as for a ROI);
    a cut-out may remove nothing (a ROI moved off a lesion).
    """
    out = mask.copy()
    outlines = []
    for part, px in zip(minus, parts, strict=True):
        cut, outline, _ = rasterise(part.shape, px, out.shape)
        out &= ~cut
        outlines.append(outline)
    return out, tuple(outlines)


def _anchor(shape: str, g: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the point that places a patient-space shape on a slice."""
    if shape in ("ellipse", "circle"):
        return g["center"]
    if shape == "rectangle":
        return g["corner"]
    return np.asarray(g["points"].mean(axis=0))


def _to_pixels(geom: Any, shape: str, g: Mapping[str, np.ndarray], where: str, index: int,
               tol: float) -> dict[str, np.ndarray]:
    """Return a patient-space shape's pixel geometry on the slice ``geom`` (index ``index``).

    Every polygon vertex, and a cut-out's anchor, must lie within ``tol`` mm of
    the slice's plane.
    """
    points = g["points"] if shape == "polygon" else [_anchor(shape, g)]
    for i, point in enumerate(points):
        _, d = geom.patient_to_pixel(point)
        if abs(float(d)) > tol:
            if shape == "polygon":
                raise InputError(
                    f"{where}: points[{i}] lies {abs(float(d)):.1f} mm from the plane of slice "
                    f"{index}, so the polygon is not drawn on one slice")
            raise InputError(f"{where}: lies {abs(float(d)):.1f} mm from the plane of slice "
                             f"{index}, the ROI's slice")
    spacing = np.asarray(geom.spacing, dtype=float)

    def to_px(xyz: np.ndarray) -> np.ndarray:
        rc, _ = geom.patient_to_pixel(xyz)
        return np.round(np.asarray(rc, dtype=float), _ROUND)

    px: dict[str, np.ndarray] = {}
    turned = "angle" in g and cos_sin(float(g["angle"])) != (1.0, 0.0)
    if turned:  # lengths stay in mm, turned in the plane (shapes' scaled rule)
        px["angle"] = g["angle"]
        px["scale"] = spacing
    if shape in ("ellipse", "circle"):
        px["center"] = to_px(g["center"])
        px["radii"] = g["radii"] if turned else np.round(g["radii"] / spacing, _ROUND)
    elif shape == "rectangle":
        px["corner"] = to_px(g["corner"])
        px["size"] = g["size"] if turned else np.round(g["size"] / spacing, _ROUND)
    else:
        px["points"] = to_px(g["points"])
    return px


def _slice_tolerance(series: SeriesInfo) -> float:
    """Half the distance between neighbouring slice planes (mm), plus a little slack."""
    positions = np.array([s.position for s in series.slices], dtype=float)
    if positions.size < 2:
        return 2.0
    gap = float(np.median(np.diff(np.sort(positions))))
    return 0.5 * gap + 1e-3


