"""ROIs from a label mask: NIfTI, DICOM SEG or ``.npy`` on the series' grid.

Owns reading a label mask, placing it on the series grid, choosing the slice,
and deriving the body and CSF ROIs from its labels (what a label value means is
:mod:`vbq.roi.labels`; the erosion and the CSF search are :mod:`vbq.roi.anatomy`).

The mask is never resampled. A NIfTI (or SEG) volume is placed by its affine
in whatever voxel order it was written (dcm2niix, for one, flips the rows);
its axes are permuted and flipped onto the series grid ``[row, column, slice]``
and the two grids must then agree within :data:`GRID_TOLERANCE_MM` at every
voxel centre, or the mask is refused with one sentence saying how they differ
(shape, spacing, orientation or origin, with numbers).

From the label map on the series grid:

- **slice**: the one where the protocol's vertebral bodies are largest (sum of
  the areas of each level's largest connected region in front of the spinal
  canal on that slice); near-ties (within 5 %) go to the slice nearest the
  left-right centre of the vertebrae. Without a canal label, that centre.
  ``slice=`` overrides it.
- **vertebral ROI**: that level's body on the slice (its largest connected
  region, holes filled), eroded by :data:`BODY_EROSION_MM` (3 mm, two to three
  pixels at a routine 1.1-1.3 mm in-plane resolution) to keep away from the
  cortex and the endplates, where partial volume with cortical bone and disc
  lowers the signal. Segmentations label the whole body including its 1-2 mm
  cortical shell, so 3 mm from the label's edge leaves about 1 mm of marrow
  between the ROI and the inner cortical surface (on the phantoms, 2.5 mm
  left a -0.8 % bias of the VBQ against the construction value, 3 mm -0.1 %).
  The erosion (a disc whose radius is rounded to whole pixels along rows and
  columns) is halved, with a warning, until at least
  :data:`~vbq.roi.roimasks.MIN_ROI_PIXELS` pixels remain. Focal structures
  the label includes (basivertebral vein, Modic zones, haemangiomas, fat
  islands: spots departing from the ROI's median by more than 22 %) are then
  left out with a 1 mm margin (:func:`vbq.roi.anatomy.without_focal`).
- **CSF ROI**: spinal canal minus spinal cord on the slice, between the
  cranial and caudal ends of the CSF level's body, eroded by
  :data:`CSF_EROSION_MM` (1 mm) against partial volume with the dura, the cord
  and epidural fat, then without the nerve roots the canal label holds
  (pixels whose mean over 3 mm along the sac and 1.5 mm across lies more than
  10 % or three noise SDs above the sac's CSF level, with a 1 mm margin:
  :func:`vbq.roi.anatomy.without_roots`). If the level or the
  canal there is missing, the protocol's fallback levels are tried in order
  (with a warning). A label scheme with no canal label (TotalSegmentator
  ``vertebrae_mr``) finds the CSF in the image behind the body instead
  (:func:`vbq.roi.anatomy.find_csf_behind_body`).

A level absent from the mask is excluded (reason ``"other"``) with a warning;
a mask whose scheme names a canal but that holds no canal voxel is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.geometry import SliceGeometry, volume_affine_ras
from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike
from vbq.errors import (
    AnalysisError,
    CsfFallback,
    CsfFromImage,
    CsfNotFoundError,
    InputError,
    LabelsAssumed,
    LevelMissing,
    MaskHeaderNote,
    VbqWarning,
)
from vbq.fileio import captured_log, shown_number
from vbq.protocol import Protocol
from vbq.roi.anatomy import (
    BODY_EROSION_MM,
    CSF_EROSION_MM,
    body_roi,
    cc_band,
    protocol_levels,
    without_focal,
    without_roots,
)
from vbq.roi.canal import place_csf, trace_canal
from vbq.roi.labels import LEVELS, LabelScheme, get_label_scheme
from vbq.roi.midline import Midline, midline_from_canal, midline_from_labels, slice_positions
from vbq.roi.morphology import erode_mm, largest_region
from vbq.roi.roimasks import MIN_ROI_PIXELS, RoiMasks

#: Largest allowed distance (mm) between corresponding voxel centres of mask and series.
GRID_TOLERANCE_MM = 1e-3

__all__ = [
    "GRID_TOLERANCE_MM", "LabelVolume", "load_label_volume", "rois_from_mask",
    "choose_mask_slice", "align_to_series", "series_affine_ras", "anterior_of_canal",
]


# --------------------------------------------------------------------------- geometry


def series_affine_ras(series: SeriesInfo) -> np.ndarray:
    """4x4 RAS affine of the series, voxel order ``[row, column, slice]``.

    Raises
    ------
    InputError
        When the slices are not evenly spaced (no single grid describes them).
    """
    try:
        return volume_affine_ras([s.geometry for s in series.slices])
    except ValueError as err:
        lost = series.incomplete
        raise InputError(f"series {series.series_instance_uid}: {err}"
                         + (f" ({lost})" if lost else "")) from None


def _fmt(values: Sequence[float] | np.ndarray, unit: str = "", sep: str = " x ") -> str:
    return sep.join(shown_number(float(v), 3) for v in values) + (f" {unit}" if unit else "")


def align_to_series(data: np.ndarray, affine_ras: np.ndarray, series: SeriesInfo,
                    source: str, allow_subset: bool = False) -> np.ndarray:
    """Permute and flip a labelled volume onto the series grid ``[row, col, slice]``.

    Parameters
    ----------
    data
        3-D label array in its own voxel order.
    affine_ras
        4x4 affine mapping ``data``'s voxel indices to RAS mm.
    series
        The :class:`~vbq.dicom.series.SeriesInfo` whose grid the mask must match.
    source
        The mask's name for messages.
    allow_subset
        Accept a volume covering only some slices of the grid (a DICOM SEG
        omits empty frames); it is embedded in an empty volume.

    Raises
    ------
    InputError
        One sentence naming what differs: shape, spacing, orientation or origin.
    """
    if data.ndim != 3:
        raise InputError(f"mask {source} has {data.ndim} dimensions; a 3-D label volume is needed")
    target = series_affine_ras(series)
    first = series.slices[0].geometry
    tshape = (first.shape[0], first.shape[1], len(series.slices))
    a = np.asarray(affine_ras, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputError(f"mask {source} has an affine with values that are not finite "
                         "numbers (NaN or infinity), so it cannot be placed on the series grid")
    src_vecs = a[:3, :3]
    tgt_vecs = target[:3, :3]
    src_len = np.linalg.norm(src_vecs, axis=0)
    tgt_len = np.linalg.norm(tgt_vecs, axis=0)
    if np.any(src_len <= 0):
        raise InputError(f"mask {source} has a degenerate affine (a zero-length voxel axis)")
    cos = (src_vecs / src_len).T @ (tgt_vecs / tgt_len)  # [source axis, target axis]
    perm = [int(np.argmax(np.abs(cos[i]))) for i in range(3)]
    if sorted(perm) != [0, 1, 2] or np.min(np.abs(cos[range(3), perm])) < 0.9:
        angles = [float(np.degrees(np.arccos(min(1.0, np.max(np.abs(cos[:, j]))))))
                  for j in range(3)]
        raise InputError(
            f"mask {source} does not match the series grid: orientation differs (its axes are "
            f"{max(angles):.1f} degrees off the series' row, column and slice axes)"
        )
    # bring source axis i to target position perm[i]
    order = [0, 0, 0]
    for i, j in enumerate(perm):
        order[j] = i
    out = np.transpose(data, order)
    new = np.eye(4)
    new[:3, 3] = a[:3, 3]
    for j in range(3):
        i = order[j]
        vec = a[:3, i]
        if cos[i, j] < 0:
            out = np.flip(out, axis=j)
            new[:3, 3] = new[:3, 3] + vec * (data.shape[i] - 1)
            vec = -vec
        new[:3, j] = vec
    if allow_subset and tuple(out.shape) != tshape and out.shape[:2] == tshape[:2]:
        # where does the first stored slice sit on the series grid?
        k = float(np.linalg.solve(target[:3, :3], new[:3, 3] - target[:3, 3])[2])
        k0 = int(round(k))
        if abs(k - k0) * tgt_len[2] <= GRID_TOLERANCE_MM and 0 <= k0 <= tshape[2] - out.shape[2]:
            full = np.zeros(tshape, dtype=out.dtype)
            full[:, :, k0:k0 + out.shape[2]] = out
            out = full
            new[:3, 3] = new[:3, 3] - new[:3, 2] * k0
    if tuple(out.shape) != tshape:
        raise InputError(
            f"mask {source} does not match the series grid: shape differs (mask "
            f"{'x'.join(map(str, out.shape))} vs series {'x'.join(map(str, tshape))} "
            f"rows x columns x slices)"
            + (f"; note that {series.incomplete}" if series.incomplete else "")
        )
    n = np.array(tshape, dtype=float) - 1
    span_err = np.abs(np.linalg.norm(new[:3, :3], axis=0) - tgt_len) * np.maximum(n, 1)
    if np.any(span_err > GRID_TOLERANCE_MM):
        raise InputError(
            f"mask {source} does not match the series grid: spacing differs (mask "
            f"{_fmt(np.linalg.norm(new[:3, :3], axis=0), 'mm')} vs series "
            f"{_fmt(tgt_len, 'mm')}, rows x columns x slices)"
        )
    dir_err = np.linalg.norm(new[:3, :3] - tgt_vecs, axis=0) * np.maximum(n, 1)
    if np.any(dir_err > GRID_TOLERANCE_MM):
        ang = [float(np.degrees(np.arccos(np.clip(
            new[:3, j] @ tgt_vecs[:, j] / (np.linalg.norm(new[:3, j]) * tgt_len[j]), -1, 1))))
            for j in range(3)]
        raise InputError(
            f"mask {source} does not match the series grid: orientation differs by up to "
            f"{max(ang):.3f} degrees ({shown_number(float(max(dir_err)), 3)} mm across the "
            "volume)"
        )
    shift = float(np.linalg.norm(new[:3, 3] - target[:3, 3]))
    if shift > GRID_TOLERANCE_MM:
        raise InputError(
            f"mask {source} does not match the series grid: origin differs by "
            f"{shown_number(shift, 3)} mm "
            f"(mask first voxel at RAS [{_fmt(new[:3, 3], sep=', ')}], series at "
            f"[{_fmt(target[:3, 3], sep=', ')}])"
        )
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LabelVolume:
    """A label map on the series grid.

    Attributes
    ----------
    data
        Integer labels, shape ``(rows, columns, slices)`` in the series' sorted slice order.
    source
        File name (or ``"array"``) for messages.
    scheme
        A label scheme read from the file itself (DICOM SEG segment
        descriptions), else None.
    notes
        What the file reader reported about a file it could still read
        (nibabel's header checks); each becomes a warning on the result.
    """

    data: np.ndarray
    source: str
    scheme: LabelScheme | None = None
    notes: tuple[VbqWarning, ...] = ()

    def slice(self, index: int) -> np.ndarray:
        """Labels of slice ``index``, shape ``(rows, columns)``."""
        return self.data[:, :, index]


def _from_npy(arr: np.ndarray, series: SeriesInfo, source: str) -> np.ndarray:
    rows, cols = series.slices[0].geometry.shape
    n = len(series.slices)
    if arr.ndim == 3 and arr.shape == (rows, cols, n):
        return arr
    if arr.ndim == 3 and arr.shape == (n, rows, cols):
        return np.transpose(arr, (1, 2, 0))
    raise InputError(
        f"mask {source} has shape {'x'.join(map(str, arr.shape))}, but a .npy mask must be on "
        f"the series grid: {rows}x{cols}x{n} (rows x columns x slices) or {n}x{rows}x{cols}"
    )


def _as_labels(arr: np.ndarray, source: str) -> np.ndarray:
    """Labels as exact integers: int32 when they fit, else int64; never wrapped.

    A value beyond the 64-bit signed range (a huge uint64 or float label)
    cannot be any structure's label and is refused rather than wrapped onto a
    small label.
    """
    a = np.asarray(arr)
    if a.dtype.kind == "b":
        return a.astype(np.int32)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
            raise InputError(f"mask {source} holds non-integer values; a label map is needed")
    elif a.dtype.kind not in "iu":
        raise InputError(f"mask {source} has data type {a.dtype}; a label map is needed")
    if a.size == 0:
        return a.astype(np.int32)
    lo, hi = a.min(), a.max()
    i32, i64 = np.iinfo(np.int32), np.iinfo(np.int64)
    if a.dtype.kind in "iu" and a.dtype.itemsize <= 2:
        return a.astype(np.int32)
    if a.dtype.kind == "f":
        # 2**63 is the first float beyond int64; compared as floats, exactly
        high, low = float(hi) >= 2.0 ** 63, float(lo) < -(2.0 ** 63)
    else:
        high, low = int(hi) > i64.max, int(lo) < i64.min
    if high or low:
        bad = hi if high else lo
        shown = f"{float(bad):.6g}" if a.dtype.kind == "f" else str(int(bad))
        raise InputError(f"mask {source} holds the label value {shown}, beyond the 64-bit "
                         "integer range of a label map")
    if int(lo) >= i32.min and int(hi) <= i32.max:
        return a.astype(np.int32)
    return a.astype(np.int64)


def _nifti_reason(err: BaseException, path: Path, notes: Sequence[str]) -> str:
    """Why nibabel could not read ``path``, as the end of one sentence.

    nibabel's own words are kept, on one line and with the file's name for
    its path, where no plainer sentence is known; what its header checks
    logged is added when the error does not already say it.
    """
    said = text = " ".join(str(err).split()).replace(str(path), path.name).rstrip(" .")
    short = re.search(r"Expected (\d+) bytes, got (\d+) bytes", text)
    code = re.fullmatch(r"data code (\S+) not (?:supported|recognized)", text)
    offset = re.fullmatch(r"vox offset (\S+) too low for single file nifti[12]", text)
    if short:
        text = (f"it holds {short.group(2)} of the {short.group(1)} bytes of voxel data its "
                "header describes (truncated or damaged)")
    elif code:
        text = f"its header's datatype code {code.group(1)} is not a NIfTI data type vbq reads"
    elif offset:
        text = f"its header's vox_offset {offset.group(1)} is inside the header"
    elif any(n.startswith("vox offset (=nan)") for n in notes):
        text, notes = "its header's vox_offset is not a number", ()
    text = text or type(err).__name__
    extra = [n.rstrip(" .") for n in notes if n.split(";")[0] not in said]
    if extra:
        text += f"; nibabel's header check says: {'; '.join(extra)}"
    return text


def _read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[VbqWarning, ...]]:
    """Voxels, affine and the notes of nibabel's header checks, of one NIfTI file.

    nibabel logs what its header checks find on its ``nibabel.global``
    logger, which prints on stderr; those lines are collected instead and
    become part of the error sentence, or warnings when the file is read.
    """
    import nibabel as nib

    with captured_log("nibabel.global") as notes:
        try:
            img: Any = nib.load(str(path))  # a Nifti1Image or Nifti2Image
            header = img.header
            offset = getattr(img.dataobj, "offset", None)  # where the voxels are read from
            if isinstance(header, nib.Nifti1Header) and header.is_single \
                    and offset is not None and offset < header.single_vox_offset:
                # vox_offset 0 in a single file: nibabel would read the header's own
                # bytes as the first voxels and every label would be shifted
                raise InputError(f"mask {path.name} cannot be read as NIfTI: its header's "
                                 f"vox_offset is {offset}, inside the header (the voxels of "
                                 f"a .nii file start at byte {header.single_vox_offset} or "
                                 "later)")
            data = np.asanyarray(img.dataobj)
            affine = np.asarray(img.affine, dtype=np.float64)
        except InputError:
            raise
        except Exception as err:  # nibabel raises many types for broken files
            raise InputError(f"mask {path.name} cannot be read as NIfTI: "
                             f"{_nifti_reason(err, path, notes)}") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    warn = tuple(MaskHeaderNote(f"mask {path.name}: nibabel's header check: {n}") for n in notes)
    return data, affine, warn


_SEG_NAMES = {
    "spinal_canal": ("spinal canal", "spinal_canal", "canal", "spinal canal structure"),
    "spinal_cord": ("spinal cord", "spinal_cord", "cord"),
}


def _seg_scheme(seg: Any, name: str) -> LabelScheme | None:  # seg: a highdicom Segmentation
    """Label scheme from a SEG's segment labels (``L1``, ``vertebrae_L1``, ``spinal canal``)."""
    from pydicom.sr.codedict import codes

    code_to_level = {}
    for lvl in LEVELS:
        code = getattr(codes.SCT, f"{lvl}Vertebra", None)
        if code is not None:
            code_to_level[code.value] = lvl
    canal_codes = {codes.SCT.SpinalCanalStructure.value}
    cord_codes = {codes.SCT.SpinalCord.value}
    vertebrae: dict[str, tuple[int, ...]] = {}
    canal: list[int] = []
    cord: list[int] = []
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        label = str(getattr(item, "SegmentLabel", "")).strip()
        key = label.lower().replace("vertebrae_", "").replace("vertebra", "").strip(" _")
        code = ""
        if "SegmentedPropertyTypeCodeSequence" in item:
            code = str(item.SegmentedPropertyTypeCodeSequence[0].CodeValue)
        level = next((lvl for lvl in LEVELS if key.upper() == lvl), code_to_level.get(code))
        if level is not None:
            vertebrae[level] = (*vertebrae.get(level, ()), number)
        elif label.lower() in _SEG_NAMES["spinal_canal"] or code in canal_codes:
            canal.append(number)
        elif label.lower() in _SEG_NAMES["spinal_cord"] or code in cord_codes:
            cord.append(number)
    if not vertebrae:
        return None
    return LabelScheme(f"segments of {name}", vertebrae, canal=tuple(canal), cord=tuple(cord))


def _read_seg(path: Path) -> tuple[np.ndarray, np.ndarray, LabelScheme | None]:
    import highdicom as hd
    from pydicom.errors import InvalidDicomError

    try:
        seg = hd.seg.segread(str(path))
    except InvalidDicomError:
        raise InputError(f"mask {path.name} is not a NIfTI (.nii, .nii.gz), .npy or DICOM "
                         "SEG file") from None
    except Exception as err:
        raise InputError(f"mask {path.name} cannot be read as a DICOM SEG: {err}") from None
    try:
        vol = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
    except Exception as err:
        raise InputError(
            f"mask {path.name}: the DICOM SEG frames do not form one regular volume ({err})"
        ) from None
    arr = np.asarray(vol.array)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    lps = np.asarray(vol.affine, dtype=np.float64)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return arr, ras, _seg_scheme(seg, path.name)


def load_label_volume(mask: str | Path | np.ndarray | LabelVolume,
                      series: SeriesInfo) -> LabelVolume:
    """Read a label mask and put it on the series grid.

    Parameters
    ----------
    mask
        ``.nii`` / ``.nii.gz`` (placed by its affine), a DICOM SEG file
        (``.dcm`` or any other name; placed by its plane positions), a
        ``.npy`` file or an array already on the series grid (``rows x
        columns x slices`` or ``slices x rows x columns``, slices in the
        series' sorted order), or a :class:`LabelVolume`.
    series
        The series the ROIs are for.

    Raises
    ------
    InputError
        Missing or unreadable file, non-integer labels, or a grid that differs
        from the series' grid (the sentence says how).
    """
    if isinstance(mask, LabelVolume):
        return mask
    if isinstance(mask, np.ndarray):
        return LabelVolume(_as_labels(_from_npy(mask, series, "array"), "array"), "array")
    path = Path(mask)
    if path.is_dir():
        raise InputError(f"mask {path} is a folder; give the mask file (NIfTI, DICOM SEG or .npy)")
    if not path.is_file():
        raise InputError(f"mask file {path} does not exist")
    name = path.name.lower()
    scheme = None
    notes: tuple[VbqWarning, ...] = ()
    if name.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as err:
            raise InputError(f"mask {path.name} cannot be read as .npy: {err}") from None
        data = _from_npy(arr, series, path.name)
    elif name.endswith((".nii", ".nii.gz")):
        raw, affine, notes = _read_nifti(path)
        data = align_to_series(_as_labels(raw, path.name), affine, series, path.name)
    else:
        raw, affine, scheme = _read_seg(path)
        data = align_to_series(_as_labels(raw, path.name), affine, series, path.name,
                               allow_subset=True)
    return LabelVolume(_as_labels(data, path.name), path.name, scheme, notes)


# --------------------------------------------------------------------------- ROIs


def anterior_of_canal(vol: LabelVolume, scheme: LabelScheme,
                      geometry: SliceGeometry) -> np.ndarray | None:
    """Pixels in front of the spinal canal, shape ``(rows, columns)``; None without a canal.

    The canal of all slices is projected onto the sagittal plane; for every
    1 mm band along the patient's z axis (craniocaudal) its most anterior
    point (smallest LPS y) is found, and a pixel is kept when it lies in front
    of that line. This separates a vertebral body from its pedicles and
    posterior elements, which a whole-vertebra label (TotalSpineSeg,
    TotalSegmentator, SPINEPS instances) includes.
    """
    if not scheme.canal:
        return None
    canal2d = np.isin(vol.data, scheme.canal).any(axis=2)
    if not canal2d.any():
        return None
    centres = geometry.pixel_centres()
    y, z = centres[..., 1], centres[..., 2]
    zc, yc = z[canal2d], y[canal2d]
    bins = np.floor(zc).astype(int)
    order = np.argsort(bins)
    bins, yc = bins[order], yc[order]
    uniq, first = np.unique(bins, return_index=True)
    front = np.minimum.reduceat(yc, first)
    line = np.interp(z, uniq + 0.5, front)
    return y < line


def choose_mask_slice(vol: LabelVolume, scheme: LabelScheme, levels: Sequence[str],
                      geometry: SliceGeometry | None = None) -> int:
    """Choose the slice where the bodies of ``levels`` are largest.

    Each level counts with the area of its largest connected region on the
    slice, in front of the spinal canal when the scheme has one (so that a
    pedicle joined to the body does not count). Slices within 5 % of the
    largest total are ties; of those, the one nearest the left-right centre of
    the levels' voxels (the midline of a symmetric spine) is taken. Without a
    canal label the body cannot be told from the pedicles (which make
    parasagittal slices larger), so the slice nearest that centre is taken.

    Raises
    ------
    InputError
        When none of the levels has a voxel in the mask.
    """
    n = vol.data.shape[2]
    score = np.zeros(n)
    front = anterior_of_canal(vol, scheme, geometry) if geometry is not None else None
    weight = np.zeros(n)
    for lvl in levels:
        vals = scheme.values(lvl)
        if not vals:
            continue
        m3 = np.isin(vol.data, vals)
        weight += m3.sum(axis=(0, 1))
        if front is not None:
            m3 &= front[:, :, None]
        for k in np.flatnonzero(m3.any(axis=(0, 1))):
            score[k] += largest_region(m3[:, :, k]).sum()
    if not score.any():
        named = ", ".join(scheme.describe(lvl) for lvl in levels)
        raise InputError(f"mask {vol.source} contains none of {named}")
    centre = float(np.sum(np.arange(n) * weight) / np.sum(weight))
    if front is None:  # no canal: the body cannot be told from the pedicles; use the midline
        best = np.flatnonzero(score > 0)
    else:
        best = np.flatnonzero(score >= 0.95 * score.max())
    return int(best[np.argmin(np.abs(best - centre))])


def rois_from_mask(series: SeriesInfo, mask: str | Path | np.ndarray | LabelVolume,
                   labels: str | Path | Mapping[str, object] | LabelScheme | None = None,
                   protocol: str | Protocol = "lumbar", slice: SliceLike | None = None, *,
                   erosion_mm: float = BODY_EROSION_MM,
                   csf_erosion_mm: float = CSF_EROSION_MM, find_csf: bool = True) -> RoiMasks:
    """Derive the vertebral and CSF ROIs from a label mask.

    Parameters
    ----------
    series
        The chosen :class:`~vbq.dicom.series.SeriesInfo`.
    mask
        A label map (see :func:`load_label_volume`).
    labels
        A preset name (``totalspineseg``, ``totalsegmentator``, ``spineps``,
        ``spider``), a ``vbq-labels/1`` JSON file or mapping. ``None`` uses the
        SEG's own segment names when it has them, else ``totalspineseg``.
    protocol
        A protocol name or :class:`vbq.protocol.Protocol`.
    slice
        Slice index or SOP Instance UID (see :meth:`SliceRef.parse`); default:
        where the bodies are largest.
    erosion_mm, csf_erosion_mm
        Erosion of the bodies and of the canal-minus-cord region.
    find_csf
        Place the CSF ROI from the canal label or the image (default); False
        leaves it to the caller (no ``"CSF"`` mask, ``csf_level`` None).

    Returns
    -------
    RoiMasks
        ``source="mask"``; levels missing from the mask are in ``excluded``.

    Raises
    ------
    InputError
        Unreadable mask, grid mismatch, none of the levels present, or no
        spinal canal in a mask whose scheme has one.
    AnalysisError
        When no CSF ROI can be placed at the CSF level or its fallbacks.
    """
    vol = load_label_volume(mask, series)
    if labels is None and vol.scheme is not None:
        scheme = vol.scheme
    else:
        scheme = get_label_scheme(labels)
    levels, csf_levels = protocol_levels(protocol)
    warnings: list[VbqWarning] = list(vol.notes)
    if labels is None and vol.scheme is None:
        warnings.append(LabelsAssumed(f"mask {vol.source}: no label scheme given, so its labels "
                                      f"were read as {scheme.name}'s (name the scheme with "
                                      "--labels)"))
    index = None if slice is None else series.resolve(slice, "the slice asked for (--slice)")
    largest = choose_mask_slice(vol, scheme, levels, series.slices[0].geometry)
    midline = _find_midline(series, vol, scheme, levels, largest)
    if index is None:
        index = midline.slice_index if midline is not None else largest
    geometry = series.slices[index].geometry
    front = anterior_of_canal(vol, scheme, geometry)
    spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
    labels2d = vol.slice(index)

    def body_on_slice(level: str) -> np.ndarray | None:
        vals = scheme.values(level)
        if not vals:
            return None
        m = np.isin(labels2d, vals)
        if front is not None:
            m &= front
        return largest_region(m) if m.any() else None

    masks: dict[str, np.ndarray] = {}
    bodies: dict[str, np.ndarray] = {}
    excluded: dict[str, str] = {}
    image = np.asarray(series.pixels(index), dtype=float)
    for lvl in levels:
        body = body_on_slice(lvl)
        if body is not None:
            bodies[lvl] = body
        if body is None:
            vals = scheme.values(lvl)
            in_volume = bool(vals) and bool(np.isin(vol.data, vals).any())
            where = f"on slice {index}" if in_volume else f"in mask {vol.source}"
            warnings.append(LevelMissing(f"{scheme.describe(lvl)} has no voxel {where}; {lvl} is "
                                         "excluded"))
            excluded[lvl] = "other"
            continue
        roi, notes = body_roi(body, spacing, lvl, erosion_mm)
        warnings.extend(notes)
        masks[lvl], _ = without_focal(roi, image, spacing, lvl)

    csf_level: str | None = None
    reference: tuple[float, float] | None = None
    if find_csf:
        csf_mask, csf_level, notes, reference = _csf_from_mask(
            series, index, labels2d, vol, scheme, csf_levels, body_on_slice, csf_erosion_mm)
        warnings.extend(notes)
        masks["CSF"] = csf_mask
    return RoiMasks(slice_index=index, masks=masks, csf_level=csf_level, excluded=excluded,
                    warnings=tuple(warnings), source="mask", csf_reference=reference,
                    body_masks=bodies,
                    midline_offset_mm=None if midline is None else midline.offset_mm(index),
                    midline_source=None if midline is None else midline.source)


def _centres(labels2d: np.ndarray, scheme: LabelScheme, front: np.ndarray | None
             ) -> dict[str, tuple[float, float]]:
    """Level -> centroid ``(row, column)`` of its body on a slice (every labelled level)."""
    out: dict[str, tuple[float, float]] = {}
    for lvl in LEVELS:
        vals = scheme.values(lvl)
        if not vals:
            continue
        m = np.isin(labels2d, vals)
        if front is not None:
            m &= front
        if m.sum() >= MIN_ROI_PIXELS:
            rc = np.argwhere(largest_region(m)).mean(axis=0)
            out[lvl] = (float(rc[0]), float(rc[1]))
    return out


#: Largest share of the bodies' per-slice voxel count on an end slice of a stack that
#: covers them from side to side.
_EDGE_SHARE = 0.05


def _find_midline(series: SeriesInfo, vol: LabelVolume, scheme: LabelScheme,
                  levels: Sequence[str], guess: int) -> Midline | None:
    """Find the mid-sagittal plane through the bodies of ``levels`` from the mask.

    When the stack covers the bodies from side to side (neither end slice
    holds more than :data:`_EDGE_SHARE` of a slice's largest count of their
    voxels), the plane's position along the slice normal is the mean position
    of the levels' voxels in front of the spinal canal (the bodies; the whole
    vertebrae without a canal label). The bodies fix it: the ROIs are drawn in
    them, and with the spine turned about its long axis (yaw) the canal, 3-4 cm
    behind them, lies a few millimetres to one side of the plane through their
    middle. A stack narrower than the bodies would pull that mean towards its
    own middle, so the narrower canal label is used then, and without one the
    sac traced in the image on slice ``guess``.
    """
    positions = slice_positions(series)
    vals = [v for lvl in levels for v in scheme.values(lvl)]
    bodies = np.isin(vol.data, vals) if vals else np.zeros(vol.data.shape, dtype=bool)
    front = anterior_of_canal(vol, scheme, series.slices[guess].geometry)
    if front is not None and (bodies & front[:, :, None]).any():
        bodies &= front[:, :, None]
    counts = bodies.sum(axis=(0, 1))
    rows = np.flatnonzero(np.isin(vol.data, vals).any(axis=(1, 2))).tolist() if vals else []
    try:
        if counts.any() and max(counts[0], counts[-1]) <= _EDGE_SHARE * counts.max():
            return midline_from_labels(bodies, positions)
        if scheme.canal and np.isin(vol.data, scheme.canal).any():
            return midline_from_labels(np.isin(vol.data, scheme.canal), positions,
                                       rows or None)
        geometry = series.slices[guess].geometry
        centres = _centres(vol.slice(guess), scheme, front)
        track = trace_canal(np.asarray(series.pixels(guess), dtype=float), geometry, centres)
        return midline_from_canal(series, track)
    except AnalysisError:
        return None


def _csf_from_mask(series: SeriesInfo, index: int, labels2d: np.ndarray, vol: LabelVolume,
                   scheme: LabelScheme, csf_levels: Sequence[str],
                   body_on_slice: Callable[[str], np.ndarray | None],
                   csf_erosion_mm: float
                   ) -> tuple[np.ndarray, str, list[VbqWarning], tuple[float, float] | None]:
    """Return the CSF ROI, its level, the warnings and the sac's CSF reference.

    From the canal labels (the reference: the canal's fluid on the slice) or,
    without a canal label, from the sac traced in the image
    (:func:`vbq.roi.canal.place_csf`).
    """
    geometry = series.slices[index].geometry
    spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
    notes: list[VbqWarning] = []
    if scheme.canal:
        if not np.isin(vol.data, scheme.canal).any():
            raise InputError(
                f"mask {vol.source} has no spinal canal (label "
                f"{', '.join(map(str, scheme.canal))} in labels {scheme.name!r}), so no CSF ROI "
                f"can be placed; add the canal to the mask, or give a CSF point with "
                f"--csf-point ROW,COL or --csf-seed FILE"
            )
        fluid = np.isin(labels2d, scheme.canal)
        if scheme.cord:
            fluid &= ~np.isin(labels2d, scheme.cord)
    else:
        image = np.asarray(series.pixels(index), dtype=float)
        centres = _centres(labels2d, scheme, anterior_of_canal(vol, scheme, geometry))
        try:
            placed = place_csf(image, geometry, centres, csf_levels)
        except CsfNotFoundError as err:
            raise CsfNotFoundError(
                f"mask {vol.source}: labels {scheme.name!r} have no spinal canal and the sac "
                f"was not found in the image on slice {index} ({err}); give a CSF point with "
                "--csf-point ROW,COL or --csf-seed FILE, use a mask with a canal label, or "
                "choose another slice with --slice") from None
        notes.append(CsfFromImage(
            f"labels {scheme.name!r} have no spinal canal; {placed.note}"))
        return placed.mask, placed.level, notes, placed.reference
    image = np.asarray(series.pixels(index), dtype=float)
    whole = erode_mm(fluid, csf_erosion_mm, spacing)
    vals = image[whole if whole.sum() else fluid]
    reference: tuple[float, float] | None = None
    if vals.size:
        med = float(np.median(vals))
        reference = (med, 1.4826 * float(np.median(np.abs(vals - med))))
    tried: list[str] = []
    for lvl in csf_levels:
        body = body_on_slice(lvl)
        if body is None:
            tried.append(f"{lvl} has no body on slice {index}")
            continue
        region = fluid & cc_band(body, geometry)
        if region.sum() == 0:
            tried.append(f"the canal has no CSF pixel beside {lvl} on slice {index}")
            continue
        roi = erode_mm(region, csf_erosion_mm, spacing)
        if roi.sum() < MIN_ROI_PIXELS:
            roi = region
        roi = without_roots(roi, image, spacing)
        if tried:
            notes.append(CsfFallback(f"CSF ROI placed at {lvl} instead of {csf_levels[0]}: "
                                     + "; ".join(tried)))
        return roi, lvl, notes, reference
    raise CsfNotFoundError(
        f"no CSF ROI could be placed from mask {vol.source} at "
        f"{', '.join(csf_levels)}: " + "; ".join(tried)
    )
