"""Regions of interest: the ``vbq-rois/1`` file format and the pixel masks it selects.

A ROI file names shapes (ellipse, circle, rectangle, polygon) in pixel or
patient coordinates, the slice they lie on, and levels to leave out of the
score. :meth:`RoiFile.masks` turns it into a :class:`RoiMasks`: one boolean
mask per label on the slice it was drawn on. Label masks and seed points
(:mod:`vbq.masks`, :mod:`vbq.seeds`) produce the same :class:`RoiMasks`, so
every ROI is measured and drawn the same way whatever its source.

Membership is decided on pixel centres only (row ``r``, column ``c``, 0-based,
centres on integers):

- ellipse / circle: ``((r - r0) / ry)**2 + ((c - c0) / rx)**2 <= 1`` with
  ``"center": [r0, c0]`` and ``"radii": [ry, rx]`` (the semi-axis down the
  rows first, then the one along the columns, in the order of ``center``),
  evaluated as ``dr**2 * rx**2 + dc**2 * ry**2 <= rx**2 * ry**2`` so that
  boundary pixels of integer and half-integer shapes are decided exactly;
- rectangle: ``corner <= centre < corner + size`` on both axes (half-open),
  with ``"corner": [r, c]`` and ``"size": [rows, columns]``;
- polygon: even-odd rule, a ray cast along increasing column; a centre on an
  edge belongs to the polygon when the edge is on its left or top side, which
  makes an axis-aligned polygon select exactly what the same rectangle does.

In patient space (``"space": "patient"``, points ``[x, y, z]`` in mm, DICOM
LPS) a shape is placed on the slice whose plane its centre lies in (the mean
of its points for a polygon, the corner for a rectangle) and projected onto
that plane (each polygon vertex must lie within half a slice gap of it);
radii and sizes are millimetres along the image's row axis (down the rows)
and column axis (along the columns). Converted pixel coordinates are rounded
to 1e-6 pixel so that the floating-point noise of the conversion can never
move a boundary pixel.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError
from vbq.fileio import read_json_file
from vbq.levels import CSF, LABELS, check_level, check_reason

#: The format string a ROI file must carry.
FORMAT = "vbq-rois/1"

SHAPES: dict[str, tuple[str, ...]] = {
    "ellipse": ("center", "radii"),
    "circle": ("center", "radius"),
    "rectangle": ("corner", "size"),
    "polygon": ("points",),
}
_COMMON_KEYS = ("label", "shape", "level", "slice")
_TOP_KEYS = ("format", "space", "slice", "rois", "exclude")
_ROUND = 6  # decimals kept after a patient -> pixel conversion
_LIMIT = 1e6  # largest coordinate or size accepted (pixels or mm)

#: Most vertices a polygon ROI may have (a drawn ROI has tens to hundreds).
MAX_POLYGON_VERTICES = 10_000

#: A slice reference: a 0-based index or a SOP Instance UID.
SliceRef = int | str


# --------------------------------------------------------------------------- masks


@dataclass(frozen=True)
class RoiMasks:
    """Boolean masks of the ROIs to measure, one per label.

    Attributes
    ----------
    slice_index
        The slice most ROIs lie on (0-based, in the series' sorted order);
        the QC figure shows this slice.
    masks
        Label (``"L1"`` ... ``"S1"``, ``"CSF"``) -> boolean mask with the
        image's shape ``(rows, columns)``.
    csf_level
        The level the CSF ROI was placed at, or None when there is no CSF ROI.
    excluded
        Level -> reason, for levels to leave out of the score.
    warnings
        Remarks from building the masks, carried onto the result.
    source
        ``"drawn"`` (a ROI file), ``"mask"`` (a label map) or ``"seeds"``.
    outlines
        Optional label -> ``(N, 2)`` polygon ``[row, column]`` to draw; labels
        without one are drawn by the contour of their mask.
    slices
        Optional label -> slice index, for ROIs not on ``slice_index``.
    """

    slice_index: int
    masks: Mapping[str, np.ndarray]
    csf_level: str | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    source: str = "drawn"
    outlines: Mapping[str, np.ndarray] | None = None
    slices: Mapping[str, int] | None = None

    def slice_of(self, label: str) -> int:
        """Return the slice index the ROI ``label`` lies on."""
        if self.slices and label in self.slices:
            return int(self.slices[label])
        return int(self.slice_index)


# --------------------------------------------------------------------------- membership


def _grid(shape: tuple[int, int], r_lo: float, r_hi: float, c_lo: float, c_hi: float):
    """Index ranges of the pixel centres inside a bounding box, clipped to the image."""
    rows, cols = shape
    r0 = max(0, math.ceil(r_lo))
    r1 = min(rows - 1, math.floor(r_hi))
    c0 = max(0, math.ceil(c_lo))
    c1 = min(cols - 1, math.floor(c_hi))
    return r0, r1, c0, c1


def ellipse_mask(
    shape: tuple[int, int], center: tuple[float, float], radii: tuple[float, float]
) -> np.ndarray:
    """Pixels whose centre satisfies ``((r-r0)/ry)**2 + ((c-c0)/rx)**2 <= 1``.

    Parameters
    ----------
    shape
        ``(rows, columns)`` of the image.
    center
        ``(r0, c0)`` in pixels.
    radii
        ``(ry, rx)``: the semi-axis along the rows (vertical) and along the
        columns (horizontal), in pixels.
    """
    r0, c0 = (float(v) for v in center)
    ry, rx = (float(v) for v in radii)
    mask = np.zeros(shape, dtype=bool)
    a, b, c, d = _grid(shape, r0 - ry, r0 + ry, c0 - rx, c0 + rx)
    if a > b or c > d:
        return mask
    dr = np.arange(a, b + 1, dtype=float)[:, None] - r0
    dc = np.arange(c, d + 1, dtype=float)[None, :] - c0
    mask[a : b + 1, c : d + 1] = dr * dr * (rx * rx) + dc * dc * (ry * ry) <= (rx * rx) * (ry * ry)
    return mask


def rectangle_mask(
    shape: tuple[int, int], corner: tuple[float, float], size: tuple[float, float]
) -> np.ndarray:
    """Pixels whose centre satisfies ``corner <= centre < corner + size`` on both axes."""
    r0, c0 = (float(v) for v in corner)
    h, w = (float(v) for v in size)
    rows = np.arange(shape[0], dtype=float)
    cols = np.arange(shape[1], dtype=float)
    in_r = (rows >= r0) & (rows < r0 + h)
    in_c = (cols >= c0) & (cols < c0 + w)
    return in_r[:, None] & in_c[None, :]


def polygon_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Pixels whose centre is inside the polygon by the even-odd rule.

    A ray is cast from each centre towards increasing column; an edge from
    ``(r1, c1)`` to ``(r2, c2)`` is crossed when ``(r1 > r) != (r2 > r)`` and the
    centre lies strictly left of the edge. The test is written without
    division, so integer vertices give exact answers.
    """
    pts = np.asarray(points, dtype=float)
    mask = np.zeros(shape, dtype=bool)
    a, b, c, d = _grid(
        shape, pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max()
    )
    if a > b or c > d:
        return mask
    cc = np.arange(c, d + 1, dtype=float)[None, :]
    inside = np.zeros((b - a + 1, d - c + 1), dtype=bool)
    for (r1, c1), (r2, c2) in zip(pts.tolist(), np.roll(pts, -1, axis=0).tolist(),
                                  strict=True):
        if r1 == r2:
            continue
        # the rows the edge straddles, (r1 > r) != (r2 > r), i.e. lo <= r < hi: only
        # those rows are visited, so the work is about twice the bounding box, not
        # the number of edges times the bounding box
        lo, hi = (r1, r2) if r1 < r2 else (r2, r1)
        first = max(a, math.ceil(lo))
        last = min(b, math.ceil(hi) - 1)
        if first > last:
            continue
        rr = np.arange(first, last + 1, dtype=float)[:, None]
        # c < c1 + (r - r1) * (c2 - c1) / (r2 - r1), multiplied through by (r2 - r1)
        lhs = (cc - c1) * (r2 - r1)
        rhs = (rr - r1) * (c2 - c1)
        left = lhs < rhs if r2 > r1 else lhs > rhs
        inside[first - a : last - a + 1] ^= left
    mask[a : b + 1, c : d + 1] = inside
    return mask


def _ellipse_outline(center, radii, n: int = 96) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    return np.column_stack([center[0] + radii[0] * np.sin(t), center[1] + radii[1] * np.cos(t)])


def mask_touches_edge(mask: np.ndarray) -> bool:
    """Whether any pixel of ``mask`` lies in the first or last row or column."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


# --------------------------------------------------------------------------- specs


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
        (rectangle), ``points`` (polygon), as float arrays.
    level
        The level of a CSF ROI, else None.
    slice
        The ROI's own slice (index or SOP Instance UID), else None.
    """

    number: int
    label: str
    shape: str
    geometry: Mapping[str, np.ndarray]
    level: str | None = None
    slice: SliceRef | None = None

    @property
    def name(self) -> str:
        """``"ROI 3 (L4)"``: how messages refer to this ROI."""
        return f"ROI {self.number} ({self.label})"


def _in_limit(v: Any) -> bool:
    """Whether ``v`` is a JSON number (not a bool) within +-_LIMIT; never raises."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(float(v)) and abs(float(v)) <= _LIMIT
    except OverflowError:  # an integer too large for a double
        return False


def _shown(value: Any, limit: int = 80) -> str:
    """``value`` as short JSON for a message."""
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        text = repr(type(value).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number_list(value: Any, n: int | None, where: str, key: str) -> np.ndarray:
    ok = isinstance(value, list) and (n is None or len(value) == n)
    if ok:
        ok = all(_in_limit(v) for v in value)
    if not ok:
        want = f"a list of {n} numbers" if n else "a list of numbers"
        want += f" (each between {-_LIMIT:g} and {_LIMIT:g})"
        raise InputError(f"{where}: {key!r} must be {want}, got {_shown(value)}")
    return np.asarray(value, dtype=float)


def _positive(arr: np.ndarray, where: str, key: str) -> np.ndarray:
    if np.any(arr <= 0):
        raise InputError(f"{where}: {key!r} must be positive, got {arr.tolist()}")
    return arr


def _parse_slice(value: Any, where: str) -> SliceRef:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InputError(f"{where}: slice must be a 0-based index >= 0, got {value}")
        return value
    if isinstance(value, dict) and "frame" in value:  # one frame of a multi-frame image
        from vbq.dicomio import FrameRef

        return FrameRef.from_json(value, where)
    if isinstance(value, dict):
        extra = sorted(set(value) - {"sop_instance_uid"})
        if extra:
            raise InputError(f'{where}: unknown key "{extra[0]}" in slice')
        uid = value.get("sop_instance_uid")
        if isinstance(uid, str) and uid:
            return uid
    raise InputError(
        f'{where}: slice must be a 0-based index or {{"sop_instance_uid": "..."}}, '
        f"got {_shown(value)}"
    )


def _parse_roi(obj: Any, number: int, space: str, src: str) -> RoiSpec:
    where = f"{src}: ROI {number}"
    if not isinstance(obj, dict):
        raise InputError(f"{where}: a ROI must be a JSON object, got {_shown(obj)}")
    label = obj.get("label")
    if label is None:
        raise InputError(f'{where}: missing key "label"')
    if label not in LABELS:
        raise InputError(
            f"{where}: unknown label {label!r} (expected one of C1-C7, T1-T12, L1-L5, S1, CSF)"
        )
    where = f"{src}: ROI {number} ({label})"
    shape = obj.get("shape")
    if shape is None:
        raise InputError(f'{where}: missing key "shape"')
    if not isinstance(shape, str) or shape not in SHAPES:
        shown = repr(shape) if isinstance(shape, str) else _shown(shape)
        raise InputError(
            f"{where}: unknown shape {shown} (expected one of {', '.join(SHAPES)})"
        )
    allowed = set(_COMMON_KEYS) | set(SHAPES[shape])
    for key in obj:
        if key not in allowed:
            raise InputError(f'{where}: unknown key "{key}"')
    for key in SHAPES[shape]:
        if key not in obj:
            raise InputError(f'{where}: missing key "{key}" for a {shape}')
    dim = 2 if space == "pixel" else 3
    geometry: dict[str, np.ndarray] = {}
    if shape in ("ellipse", "circle"):
        geometry["center"] = _number_list(obj["center"], dim, where, "center")
        if shape == "ellipse":
            geometry["radii"] = _positive(_number_list(obj["radii"], 2, where, "radii"), where,
                                          "radii")
        else:
            r = obj["radius"]
            if not _in_limit(r):
                raise InputError(f"{where}: 'radius' must be a finite number (at most "
                                 f"{_LIMIT:g}), got {_shown(r)}")
            if r <= 0:
                raise InputError(f"{where}: 'radius' must be positive, got {_shown(r)}")
            geometry["radii"] = np.array([r, r], dtype=float)
    elif shape == "rectangle":
        geometry["corner"] = _number_list(obj["corner"], dim, where, "corner")
        geometry["size"] = _positive(_number_list(obj["size"], 2, where, "size"), where, "size")
    else:
        pts = obj["points"]
        if not isinstance(pts, list) or len(pts) < 3:
            raise InputError(f"{where}: 'points' must be a list of at least 3 points")
        if len(pts) > MAX_POLYGON_VERTICES:
            raise InputError(f"{where}: the polygon has {len(pts):,} vertices, more than the "
                             f"{MAX_POLYGON_VERTICES:,} a ROI may have; simplify it")
        geometry["points"] = np.stack(
            [_number_list(p, dim, where, f"points[{i}]") for i, p in enumerate(pts)]
        )
    level = obj.get("level")
    if label == CSF:
        if level is None:
            raise InputError(f'{where}: missing key "level" (the level of the CSF ROI)')
        check_level(level, f"{where}: level")
    elif "level" in obj:
        raise InputError(f'{where}: key "level" is only for the CSF ROI (got {_shown(level)})')
    slice_ref = _parse_slice(obj["slice"], where) if "slice" in obj else None
    return RoiSpec(number, label, shape, geometry, level, slice_ref)


def _load_json(path: Path) -> Any:
    return read_json_file(path, "ROI file")


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
        if isinstance(obj, str | Path):
            path = Path(obj)
            data = _load_json(path)
            src = source or path.name
        else:
            data = obj
            src = source or "rois"
        if not isinstance(data, Mapping):
            raise InputError(f"{src}: a ROI file must be a JSON object")
        for key in data:
            if key not in _TOP_KEYS:
                raise InputError(f'{src}: unknown key "{key}"')
        if data.get("format") != FORMAT:
            raise InputError(
                f'{src}: "format" must be "{FORMAT}", got {_shown(data.get("format"))}'
            )
        space = data.get("space", "pixel")
        if space not in ("pixel", "patient"):
            raise InputError(f'{src}: "space" must be "pixel" or "patient", got {space!r}')
        rois = data.get("rois")
        if not isinstance(rois, list) or not rois:
            raise InputError(f'{src}: "rois" must be a non-empty list of ROIs')
        specs = tuple(_parse_roi(r, i + 1, space, src) for i, r in enumerate(rois))
        seen: dict[str, int] = {}
        for spec in specs:
            if spec.label in seen:
                raise InputError(
                    f"{src}: {spec.name}: label {spec.label} already used by ROI {seen[spec.label]}"
                )
            seen[spec.label] = spec.number
        slice_ref = _parse_slice(data["slice"], src) if "slice" in data else None
        exclude_raw = data.get("exclude", {})
        if not isinstance(exclude_raw, dict):
            raise InputError(f'{src}: "exclude" must be an object like {{"L2": "fracture"}}')
        exclude = {
            check_level(k, f"{src}: exclude"): check_reason(v, f"{src}: exclude {k}")
            for k, v in exclude_raw.items()
        }
        return cls(space=space, rois=specs, slice=slice_ref, exclude=exclude, source=src)

    # ----------------------------------------------------------------- placing

    def _slice_index(self, series: Any, ref: SliceRef, where: str) -> int:
        n = len(series.slices)
        if isinstance(ref, str):
            return int(series.slice_index(ref))
        if not 0 <= ref < n:
            raise InputError(f"{where}: slice {ref} is outside the series (slices 0-{n - 1})")
        check = getattr(series, "check_index_reference", None)
        if check is not None:
            check(int(ref), where)
        return int(ref)

    def _place_patient(self, series: Any, spec: RoiSpec, where: str):
        """Slice index and pixel-space geometry of a patient-space ROI."""
        g = spec.geometry
        if spec.shape in ("ellipse", "circle"):
            anchor = g["center"]
        elif spec.shape == "rectangle":
            anchor = g["corner"]
        else:
            anchor = g["points"].mean(axis=0)
        index, _ = series.locate(anchor)
        index = int(index)
        geom = series.slices[index].geometry
        _, dist = geom.patient_to_pixel(anchor)
        tol = _slice_tolerance(series)
        if abs(float(dist)) > tol:
            lost = getattr(series, "incomplete", None)
            raise InputError(
                f"{where}: lies outside the image stack ({abs(float(dist)):.1f} mm from the "
                f"nearest slice plane)" + (f"; note that {lost}" if lost else "")
            )
        if spec.shape == "polygon":  # every vertex must lie in the plane, not only their mean
            for i, point in enumerate(g["points"]):
                _, d = geom.patient_to_pixel(point)
                if abs(float(d)) > tol:
                    raise InputError(
                        f"{where}: points[{i}] lies {abs(float(d)):.1f} mm from the plane of "
                        f"slice {index}, so the polygon is not drawn on one slice"
                    )
        spacing = np.asarray(geom.spacing, dtype=float)

        def to_px(xyz: np.ndarray) -> np.ndarray:
            rc, _ = geom.patient_to_pixel(xyz)
            return np.round(np.asarray(rc, dtype=float), _ROUND)

        px: dict[str, np.ndarray] = {}
        if spec.shape in ("ellipse", "circle"):
            px["center"] = to_px(g["center"])
            px["radii"] = np.round(g["radii"] / spacing, _ROUND)
        elif spec.shape == "rectangle":
            px["corner"] = to_px(g["corner"])
            px["size"] = np.round(g["size"] / spacing, _ROUND)
        else:
            px["points"] = to_px(g["points"])
        return index, px

    def masks(self, series: Any, slice: SliceRef | None = None) -> RoiMasks:
        """Select the pixels of every ROI on the series' slices.

        Parameters
        ----------
        series
            A :class:`vbq.dicomio.SeriesInfo` (anything with ``slices``,
            ``slice_index``, ``locate`` and ``mid_slice``).
        slice
            A slice chosen by the user; overrides the file's default slice
            (not a ROI's own slice).

        Raises
        ------
        InputError
            A slice outside the series, a ROI outside the image or with no
            pixel centre inside it, naming the ROI.
        """
        if slice is not None:
            default_ref: SliceRef | None = slice
        else:
            default_ref = self.slice
        default_index = (
            self._slice_index(series, default_ref,
                              self.source if slice is None else "the slice asked for")
            if default_ref is not None
            else _default_slice(series, self.source) if self.space == "pixel"
            else int(series.mid_slice)
        )
        masks: dict[str, np.ndarray] = {}
        outlines: dict[str, np.ndarray] = {}
        slices: dict[str, int] = {}
        csf_level = None
        for spec in self.rois:
            where = f"{self.source}: {spec.name}"
            if self.space == "pixel":
                index = (
                    self._slice_index(series, spec.slice, where)
                    if spec.slice is not None
                    else default_index
                )
                px = dict(spec.geometry)
            else:
                index, px = self._place_patient(series, spec, where)
                named = spec.slice if spec.slice is not None else default_ref
                if named is not None:
                    want = self._slice_index(series, named, where)
                    if want != index:
                        asked = "asked for" if spec.slice is None and slice is not None else (
                            "named in the file")
                        raise InputError(
                            f"{where}: lies on slice {index}, not on the slice {want} {asked}"
                        )
            shape = tuple(int(v) for v in series.slices[index].geometry.shape)
            mask, outline, n_beyond = _rasterise(spec.shape, px, shape)
            rows, cols = shape
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
            masks[spec.label] = mask
            outlines[spec.label] = outline
            slices[spec.label] = index
            if spec.label == CSF:
                csf_level = spec.level
        counts: dict[int, int] = {}
        for idx in slices.values():
            counts[idx] = counts.get(idx, 0) + 1
        main = max(counts, key=lambda i: (counts[i], i == default_index))
        return RoiMasks(
            slice_index=main,
            masks=masks,
            csf_level=csf_level,
            excluded=dict(self.exclude),
            source="drawn",
            outlines=outlines,
            slices=slices,
        )


def _rasterise(shape_name: str, px: Mapping[str, np.ndarray], shape: tuple[int, int]):
    """Mask on the image, outline, and how many selected pixel centres fall off the image.

    The shape is rasterised on the image grid padded on every side by as much as
    its extent reaches past the image (capped at the image size, beyond which
    the count is only a lower bound), so pixels off the image are counted by
    the same membership rule.
    """
    if shape_name in ("ellipse", "circle"):
        center, radii = px["center"], px["radii"]
        lo, hi = center - radii, center + radii
        outline = _ellipse_outline(center, radii)
    elif shape_name == "rectangle":
        corner, size = px["corner"], px["size"]
        lo, hi = corner, corner + size
        r0, c0 = corner
        r1, c1 = corner + size
        outline = np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0], [r0, c0]])
    else:
        pts = px["points"]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        outline = np.vstack([pts, pts[:1]])
    rows, cols = shape
    reach = max(0.0, -float(lo[0]), -float(lo[1]), float(hi[0]) - rows + 1,
                float(hi[1]) - cols + 1)
    if not math.isfinite(reach):
        reach = float(max(rows, cols)) + 1.0
    pad = int(min(math.ceil(reach), max(rows, cols)))
    big = (rows + 2 * pad, cols + 2 * pad)
    if shape_name in ("ellipse", "circle"):
        full = ellipse_mask(big, tuple(px["center"] + pad), tuple(px["radii"]))
    elif shape_name == "rectangle":
        full = rectangle_mask(big, tuple(px["corner"] + pad), tuple(px["size"]))
    else:
        full = polygon_mask(big, px["points"] + pad)
    mask = full[pad : pad + rows, pad : pad + cols]
    n_beyond = int(full.sum() - mask.sum())
    if pad and not n_beyond and not mask.any() and reach > pad:
        n_beyond = 1  # the shape lies wholly beyond the padded grid
    return np.ascontiguousarray(mask), outline, n_beyond


def _slice_tolerance(series: Any) -> float:
    """Half the distance between neighbouring slice planes (mm), plus a little slack."""
    positions = np.array([s.position for s in series.slices], dtype=float)
    if positions.size < 2:
        return 2.0
    gap = float(np.median(np.diff(np.sort(positions))))
    return 0.5 * gap + 1e-3


def _default_slice(series: Any, where: str) -> int:
    """Return the mid slice, refused where lost files may have shifted the stack."""
    check = getattr(series, "default_pixel_slice", None)
    return int(check(where)) if check is not None else int(series.mid_slice)
