"""A realistic lumbar phantom, harder than clinical images, with its ground truth.

:func:`make_realistic_phantom` (also ``make_phantom(..., anatomy="realistic")``)
draws a spine from a seed (:mod:`vbq.phantom.spine`), switches on the
variants asked for (:data:`~vbq.phantom.spine.VARIANTS`: epidural fat, dark
cortex and ligament, basivertebral vein, heterogeneous and fatty marrow, Modic
zones, haemangiomas, degenerated discs and discs close to marrow, scoliosis,
obliquity, lordosis, coil shading, 8-bit pixels, low resolution, partial
volume, a low conus, the cauda equina, a reader fooled into the epidural fat),
renders a sagittal T1 TSE series at 1.5 or 3 T and writes the same outputs as
the simple phantom (``series/``, ``rois.json``, ``rois_patient.json``,
``seeds.json``, ``mask.nii.gz``, ``expected.json``) plus ``reference_rois.npz``.

The ground truth is fixed by construction, before any ROI engine:

- **reference ROIs** (``reference_rois.npz``, boolean masks on the written
  mid-sagittal slice): for each level T12-L5, the body's section by the true
  mid-sagittal plane, eroded by at least 3 mm, intersected with the body's
  section by the written slice eroded the same way, minus every focal structure
  (basivertebral vein and its fat, Modic zones, haemangiomas, focal fat) dilated
  by 1 mm; diffuse marrow texture stays in. For ``CSF``: the CSF of the thecal
  sac (cord and roots excluded) between the planes of L3's endplates, eroded by
  at least 1 mm on both sections, which keeps it 1 mm from the dura, cord and
  roots. "At least": the erosion is computed on a grid of half-pixel spacing,
  and the margin is widened by that grid's half-diagonal and by the obliquity
  of the slice to the mid-sagittal plane, so no point of a reference ROI is
  nearer than 3 mm (1 mm) to the edge in either section. With partial volume
  the written slice is rendered as the mean of three planes across its
  thickness, so each of those planes is a section too: a pixel is kept only
  when its whole voxel clears the edges, roots and lesions (a root on a plane
  beside the centre adds a third of its signal to the pixel, which is then no
  CSF). Where roots crowd the sac so that fewer than 20 such CSF pixels are
  left, the CSF reference clears the centre plane only, and
  ``expected.json["reference"]["csf"]["whole_voxel"]`` is false (true with
  partial volume otherwise, null without it: the centre plane is the voxel).
- **reference VBQ** (``expected.json["reference"]``): the median of the L1-L4
  reference ROI means over the CSF reference ROI mean, from the pixel values as
  written (stored value x slope + intercept), as the scorer computes them.
- **geometry** (``expected.json["geometry"]``): the mid-sagittal plane, the
  written slice nearest to it and its offset; per level the body centre, height,
  depth, endplate tilt and endplate points on the written slice; disc centres;
  the sac's centre line; the conus tip.

Rendering: tissue codes at every pixel centre of three planes across the slice
thickness and, where codes differ between neighbours or planes (edges), at 12
sub-samples (2 x 2 in plane, 3 through the slice); the signal of a pixel is the
mean of its samples' signals (partial volume). Then receive-coil shading, a
Gaussian point-spread function, Rician noise and storage (16 or 8 bits).

References
----------
Ehresman J, et al. Novel MRI-based score for assessment of bone density in
operative spine patients. Spine J. 2020;20(4):556-562.
doi:10.1016/j.spinee.2019.10.018

Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson
Med. 1995;34(6):910-914. doi:10.1002/mrm.1910340618

TotalSpineSeg label numbers (spinal cord 1, spinal canal 2, T1-T12 21-32,
L1-L5 41-45, sacrum 50): https://github.com/neuropoly/totalspineseg
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError
from vbq.phantom.anatomy import FOV, Grid, axial_grid, ds_number, ds_value
from vbq.phantom.common import (
    PhantomInfo,
    boundary_margin,
    parse_distractors,
    roi_membership,
    stats,
    to_patient_roi,
    write_json,
)
from vbq.phantom.dicomwriter import base_dataset, check_compression, uid_from, write_series
from vbq.phantom.image import Contrast
from vbq.phantom.spine import (
    BODY_CODES,
    CODES,
    LESION_CODES,
    LEVELS,
    MARROW_CODES,
    SCORED,
    TSS_LABEL,
    VARIANTS,
    Anatomy,
    classify,
    draw_anatomy,
    parse_variants,
)

__all__ = ["make_realistic_phantom", "VARIANTS", "CODES", "REFERENCE_LABELS",
           "BODY_EROSION_MM", "CSF_EROSION_MM", "LESION_MARGIN_MM"]

#: Labels of the reference ROIs in ``reference_rois.npz`` (plus ``"CSF"``).
REFERENCE_LABELS: tuple[str, ...] = ("T12", "L1", "L2", "L3", "L4", "L5")
#: Least distance (mm) of a reference body ROI from the body's edge.
BODY_EROSION_MM = 3.0
#: Least distance (mm) of the reference CSF ROI from the sac's wall, cord and roots.
CSF_EROSION_MM = 1.0
#: Least distance (mm) of a reference body ROI from a focal structure.
LESION_MARGIN_MM = 1.0

#: Fewest pixels of a CSF reference cleared of roots on every rendered plane; below it
#: the centre plane alone is cleared (``expected.json["reference"]["csf"]["whole_voxel"]``).
_MIN_SLAB_CSF_PIXELS = 20

_OUTPUT_FILES = ("rois.json", "rois_patient.json", "seeds.json", "mask.nii.gz",
                 "expected.json", "reference_rois.npz")
_N_CODES = 32


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Scan:
    """The slice stack and where the anatomy sits in it."""

    grid: Grid
    rot: np.ndarray          # anatomy -> patient
    shift: np.ndarray        # patient = rot @ anatomy + shift
    normal: np.ndarray       # slice normal (patient)
    thickness: float
    spacing: float
    mid: int                 # written slice nearest the mid-sagittal plane
    offset: float            # signed distance (mm, along the normal) slice -> mid-plane
    centre: np.ndarray       # anatomy point on the mid-plane (L1-L4 centroid)

    def anatomy_points(self, k: int, r: np.ndarray, c: np.ndarray, s: float = 0.0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Anatomy-frame points of pixel positions (r, c) of slice k, s mm along the normal."""
        g = self.grid
        p0 = g.origins[k] + s * self.normal - self.shift
        dr = g.spacing[0] * g.col_dir
        dc = g.spacing[1] * g.row_dir
        a0, ar, ac = self.rot.T @ p0, self.rot.T @ dr, self.rot.T @ dc
        return (a0[0] + r * ar[0] + c * ac[0], a0[1] + r * ar[1] + c * ac[1],
                a0[2] + r * ar[2] + c * ac[2])

    def to_pixel(self, a: Iterable[float]) -> list[float]:
        """``[row, col]`` on the written mid slice of an anatomy-frame point (projected)."""
        p = self.rot @ np.asarray(list(a), dtype=np.float64) + self.shift
        r, c = self.grid.patient_to_pixel(p, self.mid)
        return [round(r, 4), round(c, 4)]

    def direction(self, d_anat: Iterable[float]) -> list[float]:
        """Return the unit ``[d_row, d_col]`` (mm) of an anatomy-frame direction on the slice."""
        d = self.rot @ np.asarray(list(d_anat), dtype=np.float64)
        v = np.array([d @ self.grid.col_dir, d @ self.grid.row_dir])
        v /= np.linalg.norm(v)
        return [round(float(v[0]), 6), round(float(v[1]), 6)]


def _make_scan(an: Anatomy, n: int, rows: int, cols: int, low_res: bool) -> _Scan:
    sr, sc = ds_value(FOV / rows), ds_value(FOV / cols)
    thickness, spacing = (5.0, 6.0) if low_res else (4.0, 4.4)
    row_dir = np.array([0.0, 1.0, 0.0])
    col_dir = np.array([0.0, 0.0, -1.0])
    xs = [ds_value((n // 2 - k) * spacing) for k in range(n)]
    origins = np.array([[x, ds_value(-FOV / 2 + sc / 2), ds_value(FOV / 2 - sr / 2)]
                        for x in xs])
    grid = Grid(origins, row_dir, col_dir, (sr, sc), (rows, cols))
    normal = np.cross(row_dir, col_dir)
    rot = an.rotation()
    lv = [an.body(name) for name in SCORED]
    centre = np.array([0.0, float(np.mean([b.y for b in lv])), float(np.mean([b.z for b in lv]))])
    mid = int(min(max(n // 2 + int(an.extras["slice_shift"]), 0), n - 1))
    offset = float(an.extras["offset_mm"])
    # put the centre at `offset` mm along the normal from slice `mid` (a shift in x)
    p = rot @ centre
    sx = (offset - float((p - origins[mid]) @ normal)) / float(normal[0])
    shift = np.array([sx, 0.0, 0.0])
    return _Scan(grid, rot, shift, normal, thickness, spacing, mid, offset, centre)


# --------------------------------------------------------------------------- signal
def _lut(an: Anatomy, contrast: str) -> np.ndarray:
    """Signal per (level + 1, code) for one contrast: ``t1``, ``t1_post`` or ``t2``."""
    sig = dict(an.signal)
    csf = sig["csf"]
    if contrast == "t2":
        sig.update({"csf": 8.0 * csf, "fat": 0.75 * sig["fat"], "epidural_fat": 0.7 * sig["fat"],
                    "cord": 2.6 * csf, "root": 2.0 * csf, "muscle": 0.9 * csf,
                    "abdomen": 2.0 * csf, "flavum": 0.7 * csf})
    elif contrast == "t1_post":
        sig.update({"vessel": 3.0 * csf, "dura": 2.0 * csf, "abdomen": 1.15 * sig["abdomen"],
                    "vein": 3.0 * csf, "flavum": 1.3 * sig["flavum"]})
    lut = np.zeros((len(LEVELS) + 1, _N_CODES), dtype=np.float64)
    for name, code in CODES.items():
        if name in sig:
            lut[:, code] = sig[name]
    scale = {"t2": 0.8, "t1_post": 1.1}.get(contrast, 1.0)
    rel = {CODES["marrow"]: 1.0, CODES["posterior_marrow"]: sig["rel_posterior_marrow"],
           CODES["vein_fat"]: sig["rel_vein_fat"], CODES["fat_island"]: sig["rel_fat_island"],
           CODES["haemangioma"]: sig["rel_haemangioma"],
           CODES["modic"]: an.extras["rel_modic1"], CODES["modic_fat"]: an.extras["rel_modic2"]}
    mean_marrow = float(np.mean(list(an.marrow.values())))
    for i in range(len(LEVELS)):
        m = an.marrow.get(i, mean_marrow) * scale
        for code, f in rel.items():
            lut[i + 1, code] = f * m
        if i in an.disc_signal:
            ann, nuc = an.disc_signal[i]
            if contrast == "t2":
                degenerated = any(d.upper == i and d.degenerated for d in an.discs)
                ann, nuc = (1.2 * csf, 1.5 * csf) if degenerated else (1.5 * csf, 6.0 * csf)
            lut[i + 1, CODES["annulus"]] = ann
            lut[i + 1, CODES["nucleus"]] = nuc
    lut[0, list(MARROW_CODES)] = mean_marrow * scale
    return lut


def _coil(an: Anatomy, scan: _Scan, k: int, rows: int, cols: int) -> np.ndarray:
    """Receive-coil gain on slice ``k`` (posterior spine coil; strong with the variant)."""
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    p = scan.grid.origins[k]
    y = p[1] + c * scan.grid.spacing[1] + 0.0 * r
    z = p[2] - r * scan.grid.spacing[0] + 0.0 * c
    if not an.variants["coil_shading"]:
        return 1.0 + 0.08 * (y + 12.0) / 100.0
    depth = np.clip(100.0 - y, 0.0, None)
    floor = an.extras["coil_floor"]
    g = floor + (1.0 - floor) * np.exp(-depth / an.extras["coil_depth"])
    return g * (1.0 + 0.06 * np.sin(2.0 * math.pi * z / 170.0 + an.extras["coil_phase"]))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
                  ) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    sd = float(f.std())
    return f / sd if sd > 0 else f


def _codes_on_plane(an: Anatomy, scan: _Scan, k: int, dr: float, dc: float, s: float,
                    rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    r = (np.arange(rows, dtype=np.float64)[:, None] + dr) * np.ones((1, cols))
    c = (np.arange(cols, dtype=np.float64)[None, :] + dc) * np.ones((rows, 1))
    x, y, z = scan.anatomy_points(k, r.ravel(), c.ravel(), s)
    code, level = classify(an, x, y, z)
    return code.reshape(rows, cols), level.reshape(rows, cols)


def _slab_offsets(scan: _Scan) -> tuple[float, float]:
    """Offsets (mm) of the two planes beside the centre one that partial volume samples."""
    return (-scan.thickness / 3.0, scan.thickness / 3.0)


def _render_slice(an: Anatomy, scan: _Scan, k: int, luts: list[np.ndarray],
                  texture: np.ndarray, pv: bool) -> tuple[list[np.ndarray], np.ndarray,
                                                          np.ndarray]:
    """Mean signal per pixel for each contrast, and the centre plane's codes and levels."""
    rows, cols = scan.grid.shape
    marrowlike = np.zeros(_N_CODES, dtype=bool)
    marrowlike[list(MARROW_CODES)] = True
    code0, level0 = _codes_on_plane(an, scan, k, 0.0, 0.0, 0.0, rows, cols)
    tex = 1.0 + an.texture * texture

    def sig(lut: np.ndarray, code: np.ndarray, level: np.ndarray, t: np.ndarray
            ) -> np.ndarray:
        v = lut[level.astype(np.int64) + 1, code]
        return np.where(marrowlike[code], v * t, v)

    if not pv:
        return [sig(lut, code0, level0, tex) for lut in luts], code0, level0
    planes = [(code0, level0)]
    for s in _slab_offsets(scan):
        planes.append(_codes_on_plane(an, scan, k, 0.0, 0.0, s, rows, cols))
    key = code0.astype(np.int32) * 64 + level0.astype(np.int32)
    edge = np.zeros((rows, cols), dtype=bool)
    edge[1:, :] |= key[1:, :] != key[:-1, :]
    edge[:-1, :] |= key[1:, :] != key[:-1, :]
    edge[:, 1:] |= key[:, 1:] != key[:, :-1]
    edge[:, :-1] |= key[:, 1:] != key[:, :-1]
    inplane = edge
    out = []
    for lut in luts:
        acc = sum(sig(lut, c, lv, tex) for c, lv in planes) / 3.0
        out.append(np.asarray(acc))
    # in-plane edges: the centre plane's third becomes the mean of 2 x 2 sub-samples
    ei = np.nonzero(inplane.ravel())[0]
    if ei.size:
        er, ec = np.divmod(ei, cols)
        sums = [np.zeros(ei.size) for _ in luts]
        t_e = tex.ravel()[ei]
        for dr in (-0.25, 0.25):
            for dc in (-0.25, 0.25):
                x, y, z = scan.anatomy_points(k, er + dr, ec + dc, 0.0)
                code, level = classify(an, x, y, z)
                for j, lut in enumerate(luts):
                    sums[j] += sig(lut, code, level, t_e)
        for j, lut in enumerate(luts):
            flat = out[j].ravel()
            centre = sig(lut, code0.ravel()[ei], level0.ravel()[ei], t_e)
            flat[ei] += (sums[j] / 4.0 - centre) / 3.0
            out[j] = flat.reshape(rows, cols)
    return out, code0, level0


def _finish(img: np.ndarray, gain: np.ndarray, psf: float, noise: float,
            rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(img * gain, psf)
    n1 = rng.standard_normal(img.shape) * noise
    n2 = rng.standard_normal(img.shape) * noise
    return np.hypot(out + n1, n2)


# --------------------------------------------------------------------------- truth
def _fine_codes(an: Anatomy, scan: _Scan, on_mid_plane: bool, s: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Codes and levels on a half-pixel grid of the written mid slice (or the mid-plane).

    ``s`` (mm) moves the written slice's plane along its normal (a plane of the
    slab the rendering samples). Returns codes, levels and the anatomy-frame
    y, z of every fine sample.
    """
    rows, cols = scan.grid.shape
    r = np.arange(2 * rows, dtype=np.float64)[:, None] / 2.0 * np.ones((1, 2 * cols))
    c = np.arange(2 * cols, dtype=np.float64)[None, :] / 2.0 * np.ones((2 * rows, 1))
    x, y, z = scan.anatomy_points(scan.mid, r.ravel(), c.ravel(), s)
    if on_mid_plane:
        x = np.zeros_like(x)
    code, level = classify(an, x, y, z)
    shape = (2 * rows, 2 * cols)
    return code.reshape(shape), level.reshape(shape), y.reshape(shape), z.reshape(shape)


def _reference_masks(an: Anatomy, scan: _Scan, slab: bool = False) -> dict[str, np.ndarray]:
    """Compute the reference ROIs on the written mid slice (see the module docstring).

    With ``slab`` (partial volume rendered) every plane the rendering samples
    across the slice thickness is a section too: a pixel is kept only when its
    whole voxel, not just its centre plane, clears the edges, roots and lesions.
    """
    from scipy.ndimage import distance_transform_edt

    sr, sc = scan.grid.spacing
    fine = (sr / 2.0, sc / 2.0)
    cos_a = float(abs(scan.rot[:, 0] @ scan.normal))       # mid-plane normal vs slice normal
    slack = 0.5 * math.hypot(*fine)
    body_d = BODY_EROSION_MM / cos_a + slack
    csf_d = CSF_EROSION_MM / cos_a + slack
    lesion_d = LESION_MARGIN_MM / cos_a + slack
    lesion_codes = np.isin(np.arange(_N_CODES), LESION_CODES)
    body_codes = np.isin(np.arange(_N_CODES), BODY_CODES)
    maps = [_fine_codes(an, scan, True), _fine_codes(an, scan, False)]
    if slab:
        maps += [_fine_codes(an, scan, False, s) for s in _slab_offsets(scan)]
    l3 = an.body("L3")
    a_vec, t_vec = l3.axes()
    out: dict[str, np.ndarray] = {}
    def dist(region: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """Distance (mm) of every sample in ``box`` from the nearest sample not in region."""
        return np.asarray(distance_transform_edt(np.pad(region[box], 1), sampling=fine)
                          )[1:-1, 1:-1]

    for label in (*REFERENCE_LABELS, "CSF"):
        keep = np.zeros(maps[0][0].shape, dtype=bool)
        first = True
        for code, level, y, z in maps:
            if label == "CSF":
                region = code == CODES["csf"]
                v = (y - l3.y) * t_vec[0] + (z - l3.z) * t_vec[1]
                band = np.abs(v) <= float(l3.half_height(0.0)) - l3.cortex
                box = _box(region & band, 4)
                if box is None:
                    keep[:] = False
                    break
                ok = np.zeros_like(keep)
                ok[box] = (dist(region, box) >= csf_d) & band[box]
            else:
                i = LEVELS.index(label)
                # the body only: its posterior elements carry the same level and
                # cortex code, and can be thick enough to survive the erosion
                b = an.body(label)
                a_b, t_b = b.axes()
                u = (y - b.y) * a_b[0] + (z - b.z) * a_b[1]
                v = (y - b.y) * t_b[0] + (z - b.z) * t_b[1]
                own = (np.abs(u) <= b.half_d + 2.0) & (np.abs(v) <= b.half_h + 2.0)
                region = body_codes[code] & (level == i) & own
                box = _box(region, int(math.ceil(lesion_d / min(fine))) + 2)
                if box is None:
                    keep[:] = False
                    break
                ok = np.zeros_like(keep)
                ok[box] = ((dist(region, box) >= body_d)
                           & (dist(~lesion_codes[code], box) >= lesion_d))
            keep = ok if first else keep & ok
            first = False
        m = keep[::2, ::2]
        if label == "CSF":
            from scipy.ndimage import label as cc_label

            lab, n = cc_label(m)
            if n > 1:   # the sac's largest piece (roots may split it)
                sizes = np.bincount(lab.ravel())[1:]
                m = lab == (1 + int(np.argmax(sizes)))
        out[label] = m
    return out


def _box(region: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """Bounding box of ``region`` widened by ``margin`` samples (None if empty)."""
    rr = np.nonzero(region.any(axis=1))[0]
    cc = np.nonzero(region.any(axis=0))[0]
    if rr.size == 0:
        return None
    return (slice(max(rr[0] - margin, 0), rr[-1] + margin + 1),
            slice(max(cc[0] - margin, 0), cc[-1] + margin + 1))


def _inscribed_ellipse(mask: np.ndarray, ry: float, rx: float) -> dict[str, Any] | None:
    """Fit a large axis-aligned ellipse of aspect ``ry:rx`` inside ``mask``, as a reader would.

    Its centre is where the distance from the mask's edge, measured in units of the
    two radii, is largest; it is then grown or shrunk until it is as large as it
    can be with every member pixel inside ``mask`` and at most ``ry`` x ``rx``.
    """
    from scipy.ndimage import distance_transform_edt

    if mask.sum() < 4:
        return None
    d = distance_transform_edt(np.pad(mask, 1), sampling=(1.0 / ry, 1.0 / rx))[1:-1, 1:-1]
    r0, c0 = (float(v) for v in np.unravel_index(int(np.argmax(d)), d.shape))
    best = None
    lo, hi = 0.05, 1.0
    for _ in range(24):
        s = 0.5 * (lo + hi)
        roi = {"shape": "ellipse", "center": [r0, c0],
               "radii": [round(s * ry, 4), round(s * rx, 4)]}
        m = roi_membership(roi, mask.shape)
        if m.any() and not (m & ~mask).any():
            best, lo = roi, s
        else:
            hi = s
    return best


# --------------------------------------------------------------------------- entry point
def _check_args(rows: int, cols: int, n_slices: int, seed: Any, vbq: float | None,
                field_strength: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed {seed} must be a non-negative integer")
    if vbq is not None and (not math.isfinite(vbq) or not 1.0 <= vbq <= 8.0):
        raise InputError(f"target VBQ {vbq} (--vbq) is outside the supported range 1 to 8 of the "
                         "realistic phantom")
    if field_strength not in (1.5, 3.0, 3):
        raise InputError(f"field strength {field_strength} T is not supported; use 1.5 or 3")
    if not 5 <= n_slices <= 64:
        raise InputError(f"slice count {n_slices} (--slices) is outside 5 to 64 (the "
                         "realistic phantom needs slices on both sides of the midline)")
    if not (128 <= rows <= 1024 and 128 <= cols <= 1024):
        raise InputError(f"image size {rows}x{cols} (--size) is outside 128 to 1024 pixels for the "
                         "realistic phantom")


def make_realistic_phantom(
    out_dir: str | os.PathLike[str], *, seed: int = 0,
    variants: str | Iterable[str] | Mapping[str, bool] | None = None,
    vbq: float | None = None, field_strength: float = 1.5, n_slices: int = 15,
    rows: int = 256, cols: int | None = None,
    distractors: str | Iterable[str] | None = (), noise_sd: float | None = None,
    compress: str | None = None,
) -> PhantomInfo:
    """Write a realistic lumbar MRI study and its ground truth; see the module docstring.

    Parameters
    ----------
    out_dir
        Output folder (created; must not hold the phantom's files already).
    seed
        Seed of the anatomy, the variant draw (``"random"``) and the noise; the same
        arguments give identical files.
    variants
        Which variants of :data:`~vbq.phantom.spine.VARIANTS` to switch on: ``None``
        or ``"none"`` (none), ``"all"`` (all but ``csf_in_fat``), ``"random"`` (each
        with probability 1/2, drawn from ``seed``), names (a list or a
        comma-separated string, ``no_NAME`` to switch one off after ``all`` or
        ``random``) or a mapping name -> bool.
    vbq
        Marrow-to-CSF signal ratio of L1-L4 before shading, partial volume and
        noise; default drawn from ``seed`` in 2.0-3.6 (x 1.25 with fatty marrow).
    field_strength
        1.5 or 3 (tesla): TR/TE, CSF signal and noise.
    n_slices, rows, cols
        Size of the series (``cols`` defaults to ``rows``); field of view 280 mm.
    distractors
        Extra series: any of ``"t2"``, ``"t1_post"``, ``"axial"`` (default none).
    noise_sd
        Rician noise (default 4 % of the CSF signal at 1.5 T, 3 % at 3 T).
    compress
        Lossless compression of the files (``"rle"``, ``"jpegls"``, ``"j2k"``).

    Returns
    -------
    PhantomInfo
        With ``reference_rois_path`` and ``variants``; ``expected`` holds
        ``reference`` and ``geometry``, and ``tissue`` the codes of
        :data:`~vbq.phantom.spine.CODES` on every slice's centre plane.

    Examples
    --------
    The reference VBQ, the slice it is measured on and the scorer's value from the
    reference ROIs agree:

    >>> import tempfile
    >>> from vbq.dicom import load_series
    >>> from vbq.roi.roimasks import RoiMasks
    >>> from vbq.score import score_roi_masks
    >>> info = make_realistic_phantom(tempfile.mkdtemp(), seed=3, variants="epidural_fat",
    ...                               rows=160, n_slices=7)
    >>> ref = info.expected["reference"]
    >>> round(ref["vbq"], 3), ref["slice"]
    (2.265, 3)
    >>> masks = dict(np.load(info.reference_rois_path))
    >>> rois = RoiMasks(slice_index=3, csf_level="L3",
    ...                 masks={k: masks[k] for k in ("L1", "L2", "L3", "L4", "CSF")})
    >>> res = score_roi_masks(load_series(info.series_dir).series, rois, statistic="mean")
    >>> round(res.vbq, 3)
    2.265
    """
    import nibabel as nib

    cols = rows if cols is None else cols
    _check_args(rows, cols, n_slices, seed, vbq, field_strength)
    on = parse_variants(variants, int(seed))
    extra = parse_distractors(distractors)
    check_compression(compress)
    out = Path(out_dir)
    series_dir = out / "series"
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file, not a folder; choose an empty output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder {out}: {err.strerror or err}") from None
    if series_dir.exists() and any(series_dir.iterdir()):
        raise InputError(f"{series_dir} already holds files; choose an empty output folder")
    taken = [n for n in _OUTPUT_FILES if (out / n).exists()]
    if taken:
        raise InputError(f"{out} already holds {', '.join(taken)}; choose an empty output folder")

    fs = float(field_strength)
    an = draw_anatomy(int(seed), on, vbq, fs)
    scan = _make_scan(an, n_slices, rows, cols, on["low_res"])
    csf_signal = an.signal["csf"]
    noise = noise_sd if noise_sd is not None else csf_signal * (0.04 if fs < 2 else 0.03)
    rng = np.random.default_rng([int(seed), 2])
    psf = (0.45 * 2.0 / scan.grid.spacing[0]) if on["low_res"] else 0.45

    sag_names = ["t1", *[d for d in extra if d != "axial"]]
    luts = [_lut(an, name) for name in sag_names]
    images: dict[str, list[np.ndarray]] = {name: [] for name in sag_names}
    codes = np.zeros((n_slices, rows, cols), dtype=np.uint8)
    tss = np.zeros((rows, cols, n_slices), dtype=np.uint8)
    bone = np.isin(np.arange(_N_CODES), (*BODY_CODES, CODES["posterior_marrow"]))
    canal = np.isin(np.arange(_N_CODES), (CODES["csf"], CODES["root"], CODES["dura"]))
    tss_of_level = np.array([TSS_LABEL[n] for n in LEVELS] + [0], dtype=np.uint8)
    for k in range(n_slices):
        texture = _smooth_noise(rng, (rows, cols), 1.2 / scan.grid.spacing[0])
        sigs, code0, level0 = _render_slice(an, scan, k, luts, texture, on["partial_volume"])
        gain = _coil(an, scan, k, rows, cols)
        for name, s in zip(sag_names, sigs, strict=True):
            images[name].append(_finish(s, gain, psf, noise, rng))
        codes[k] = code0
        tss_k = np.where(bone[code0] & (level0 >= 0), tss_of_level[level0], 0)
        tss_k = np.where(canal[code0], 2, tss_k)
        tss_k = np.where(code0 == CODES["cord"], 1, tss_k)
        tss[:, :, k] = tss_k
    ax_grid = None
    if "axial" in extra:
        ax_grid = axial_grid(n_slices, rows, cols)
        ax_scan = _Scan(ax_grid, scan.rot, scan.shift, np.cross(ax_grid.row_dir,
                        ax_grid.col_dir), 4.0, 4.4, n_slices // 2, 0.0, scan.centre)
        lut_ax = _lut(an, "t1")
        images["axial"] = []
        for k in range(n_slices):
            texture = _smooth_noise(rng, (rows, cols), 1.2 / ax_grid.spacing[0])
            sigs, _, _ = _render_slice(an, ax_scan, k, [lut_ax], texture, False)
            images["axial"].append(_finish(sigs[0], np.ones((rows, cols)), 0.45, noise, rng))

    # ---- storage: 16 bits, or 8 bits scaled to the brightest tissue
    eight = on["eight_bit"]
    if eight:
        top = max(float(np.percentile(img, 99.9)) for img in images["t1"])
        scale = 250.0 / (top * an.extras["eight_bit_top"])
        for name in images:
            images[name] = [np.clip(img * scale, 0.0, 255.0) for img in images[name]]

    key = ("realistic", seed, tuple(sorted(k for k, v in on.items() if v)), vbq, fs, n_slices,
           rows, cols, noise, extra, compress)
    study_uid, for_uid = uid_from("study", *key), uid_from("for", *key)
    numbers = {"t2": 2, "t1": 3, "axial": 4, "t1_post": 5}
    tr, te = (700.0, 9.0) if fs >= 2 else (520.0, 12.0)
    descr = {"t1": "T1 SAG TSE", "t2": "T2 SAG TSE", "t1_post": "T1 SAG +C POST GAD",
             "axial": "T1 AX TSE"}
    files: dict[str, list[Path]] = {}
    uids: dict[str, str] = {}
    stored_t1: list[np.ndarray] = []
    sop_t1: list[str] = []
    for name in ["t1", *extra]:
        grid = scan.grid if name != "axial" else ax_grid
        assert grid is not None
        contrast = Contrast(name, descr[name], {}, 3200.0 if name == "t2" else tr,
                            95.0 if name == "t2" else te, 17 if name == "t2" else 3,
                            contrast_agent="Gadoterate meglumine" if name == "t1_post" else None)
        uids[name] = uid_from("series", name, *key)
        sops = [uid_from("sop", name, k, *key) for k in range(n_slices)]
        slug = "".join(ch if ch.isalnum() else "_" for ch in descr[name])
        folder = series_dir / f"{numbers[name]:03d}_{slug}"
        paths = [folder / f"IM{k + 1:04d}.dcm" for k in range(n_slices)]
        base = base_dataset(contrast, study_uid, uids[name], for_uid, numbers[name], fs, grid,
                            1.0, 0.0)
        if name != "axial":
            base.SliceThickness = ds_number(scan.thickness)
            base.SpacingBetweenSlices = ds_number(scan.spacing)
        if eight:
            base.BitsStored = 8
            base.HighBit = 7
            if compress:
                # an RLE encoder makes one segment per byte of BitsStored: allocate 8 bits so
                # that the file holds as many segments as its BitsAllocated says
                base.BitsAllocated = 8
        stored = write_series(paths, images[name], base, grid, sops,
                              list(range(1, n_slices + 1)), 1.0, 0.0, compress=compress)
        files[name] = paths
        if name == "t1":
            stored_t1, sop_t1 = stored, sops

    # ---- truth
    mid = scan.mid
    values = stored_t1[mid].astype(np.float64)
    ref = _reference_masks(an, scan, slab=on["partial_volume"])
    csf_slab: bool | None = True if on["partial_volume"] else None
    if csf_slab and ref["CSF"].sum() < _MIN_SLAB_CSF_PIXELS:
        # roots crowd every voxel of the sac at L3: only the centre plane is asked to clear them
        ref["CSF"] = _reference_masks(an, scan, slab=False)["CSF"]
        csf_slab = False
    ref_stats = {name: stats(values[m]) for name, m in ref.items() if m.any()}
    missing = [lab for lab in (*SCORED, "CSF") if lab not in ref_stats]
    if missing:
        raise InputError(f"the realistic phantom (seed {seed}) left no room for the reference "
                         f"ROI of {', '.join(missing)}; choose a larger image or another seed")
    ref_means = [ref_stats[lv]["mean"] for lv in SCORED]
    ref_medians = [ref_stats[lv]["median"] for lv in SCORED]
    reference = {
        "vbq": float(np.median(ref_means) / ref_stats["CSF"]["mean"]),
        "vbq_median_statistic": float(np.median(ref_medians) / ref_stats["CSF"]["median"]),
        "statistic": "mean", "slice": mid, "file": "reference_rois.npz",
        "body_erosion_mm": BODY_EROSION_MM, "csf_erosion_mm": CSF_EROSION_MM,
        "lesion_margin_mm": LESION_MARGIN_MM,
        "levels": {lab: ref_stats[lab] for lab in REFERENCE_LABELS if lab in ref_stats},
        "csf": {"level": "L3", **ref_stats["CSF"], "whole_voxel": csf_slab},
    }
    geometry = _geometry(an, scan)

    # ---- the careful reader's ROIs, the seeds
    sr, sc = scan.grid.spacing
    rois: list[dict[str, Any]] = []
    for name in SCORED:
        b = an.body(name)
        e = _inscribed_ellipse(ref[name], 0.8 * b.half_h / sr, 0.8 * b.half_d / sc)
        if e is None:
            raise InputError(f"the realistic phantom (seed {seed}) left no room for a drawn "
                             f"ROI in {name}; choose a larger image or another seed")
        rois.append({"label": name, **e})
    if on["csf_in_fat"]:
        fat = _fat_in_front_of_sac(an, scan, values.shape)
        e = _inscribed_ellipse(fat, 6.0 / sr, 1.0 / sc)
    else:
        e = _inscribed_ellipse(ref["CSF"], 7.0 / sr, 0.6 * an.sac_half_d / sc)
    if e is None:
        raise InputError(f"the realistic phantom (seed {seed}) left no room for a drawn CSF "
                         "ROI; choose a larger image or another seed")
    rois.append({"label": "CSF", "level": "L3", **e})
    for roi in rois:   # keep every pixel centre clear of the ROI boundary (exactness)
        for _ in range(20):
            if boundary_margin(roi, (rows, cols)) > 1e-4:
                break
            roi["radii"] = [round(v * 0.9993, 4) for v in roi["radii"]]
    drawn: dict[str, Any] = {}
    for roi in rois:
        drawn[roi["label"]] = stats(values[roi_membership(roi, (rows, cols))])
    means = [drawn[lv]["mean"] for lv in SCORED]
    medians = [drawn[lv]["median"] for lv in SCORED]
    expected: dict[str, Any] = {
        "format": "vbq-phantom-expected/1",
        "anatomy": "realistic",
        "vbq": float(np.median(means) / drawn["CSF"]["mean"]),
        "vbq_median_statistic": float(np.median(medians) / drawn["CSF"]["median"]),
        "target_vbq": float(an.target_vbq),
        "statistic": "mean",
        "levels": {lv: drawn[lv] for lv in SCORED},
        "csf": {"level": "L3", **drawn["CSF"]},
        "series_instance_uid": uids["t1"],
        "slice": mid,
        "sop_instance_uid": sop_t1[mid],
        "field_strength_t": fs, "tr_ms": tr, "te_ms": te,
        "rescale_slope": 1.0, "rescale_intercept": 0.0,
        "bits_stored": 8 if eight else 16,
        "seed": int(seed),
        "variants": {k: bool(v) for k, v in on.items()},
        "distractor_uids": {n: uids[n] for n in extra},
        "reference": reference,
        "geometry": geometry,
    }
    seeds = [{"label": lab, "point": geometry["levels"][lab]["centre"]}
             for lab in ("T12", "L1", "L2", "L3", "L4", "L5")]
    rc = np.argwhere(ref["CSF"])
    centre = rc.mean(axis=0)
    nearest = rc[int(np.argmin(((rc - centre) ** 2).sum(axis=1)))]
    seeds.append({"label": "CSF", "level": "L3", "point": [float(nearest[0]), float(nearest[1])]})

    write_json(out / "rois.json", {"format": "vbq-rois/1", "space": "pixel", "slice": mid,
                                   "rois": rois})
    write_json(out / "rois_patient.json", {
        "format": "vbq-rois/1", "space": "patient",
        "rois": [to_patient_roi(r, scan.grid, mid) for r in rois]})
    write_json(out / "seeds.json", {"format": "vbq-seeds/1", "space": "pixel", "slice": mid,
                                    "seeds": seeds})
    from vbq.fileio import atomic_path

    with atomic_path(out / "reference_rois.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            arrays: dict[str, Any] = {"slice": np.int64(mid), **ref}
            np.savez_compressed(fh, **arrays)
    write_json(out / "expected.json", expected)

    from vbq.dicom.geometry import SliceGeometry, volume_affine_ras

    geoms = [SliceGeometry(origin=o, row_dir=scan.grid.row_dir, col_dir=scan.grid.col_dir,
                           spacing=scan.grid.spacing, shape=scan.grid.shape)
             for o in scan.grid.origins]
    img = nib.Nifti1Image(tss, volume_affine_ras(geoms))
    img.header.set_xyzt_units("mm")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    with atomic_path(out / "mask.nii.gz", suffix=".nii.gz") as tmp:
        nib.save(img, tmp)

    return PhantomInfo(
        out_dir=out, series_dir=series_dir, rois_path=out / "rois.json",
        rois_patient_path=out / "rois_patient.json", seeds_path=out / "seeds.json",
        mask_path=out / "mask.nii.gz", expected_path=out / "expected.json",
        expected=expected, series_instance_uid=uids["t1"], slice=mid, files=files,
        distractor_uids={n: uids[n] for n in extra}, tissue=codes,
        reference_rois_path=out / "reference_rois.npz", variants=dict(on))


def _fat_in_front_of_sac(an: Anatomy, scan: _Scan, shape: tuple[int, int]) -> np.ndarray:
    """Anterior epidural fat at L3 on the written mid slice, 0.5 mm from its edges."""
    from scipy.ndimage import distance_transform_edt

    code, _, y, z = _fine_codes(an, scan, False)
    l3 = an.body("L3")
    _, t_vec = l3.axes()
    v = (y - l3.y) * t_vec[0] + (z - l3.z) * t_vec[1]
    yc, slope = an.curve(z.ravel())
    uc = ((y.ravel() - yc) / np.sqrt(1.0 + slope * slope)).reshape(y.shape)
    fat = (code == CODES["epidural_fat"]) & (uc < an.sac_centre_u(z.ravel()).reshape(z.shape))
    fine = (scan.grid.spacing[0] / 2.0, scan.grid.spacing[1] / 2.0)
    ok = fat & (distance_transform_edt(fat, sampling=fine) >= 0.5) & (np.abs(v) <= 8.0)
    out: np.ndarray = ok[::2, ::2]
    assert out.shape == shape
    return out


def _geometry(an: Anatomy, scan: _Scan) -> dict[str, Any]:
    """Describe the true geometry on the written mid slice (see the module docstring)."""
    g = scan.grid
    normal_anat = scan.rot[:, 0]
    levels: dict[str, Any] = {}
    for b in an.bodies:
        if b.name in ("T11", "S2"):
            continue
        a_vec, t_vec = b.axes()
        ap = scan.direction([0.0, a_vec[0], a_vec[1]])
        axis = scan.direction([0.0, t_vec[0], t_vec[1]])

        def pt(u: float, v: float, b: Any = b) -> list[float]:
            return scan.to_pixel(b.point(u, v))

        def plate(sign: float, b: Any = b) -> dict[str, Any]:
            ant = pt(-b.half_d, sign * float(b.half_height(-b.half_d)))
            post = pt(b.half_d, sign * float(b.half_height(b.half_d)))
            dr, dc = (post[0] - ant[0]) * g.spacing[0], (post[1] - ant[1]) * g.spacing[1]
            return {"anterior": ant, "centre": pt(0.0, sign * float(b.half_height(0.0))),
                    "posterior": post, "tilt_deg": round(math.degrees(math.atan2(-dr, dc)), 4)}

        levels[b.name] = {
            "centre": pt(0.0, 0.0),
            "centre_patient": [round(float(v), 4) for v in scan.rot @ np.array(b.point(0, 0))
                               + scan.shift],
            "height_mm": round(2.0 * b.half_h, 4),
            "depth_mm": round(2.0 * b.half_d, 4),
            "cortex_mm": round(b.cortex, 4),
            "tilt_deg": round(math.degrees(math.atan2(-ap[0], ap[1])), 4),
            "ap_direction": ap, "axis_direction": axis,
            "superior_endplate": plate(1.0), "inferior_endplate": plate(-1.0),
            "lateral_offset_mm": round(b.x, 4),
            "marrow_signal": round(float(an.marrow.get(LEVELS.index(b.name), 0.0)), 4),
        }
    discs: dict[str, Any] = {}
    for d in an.discs:
        up, low = an.bodies[d.upper], an.bodies[d.lower]
        top = np.array(up.point(0.0, -float(up.half_height(0.0))))
        bot = np.array(low.point(0.0, float(low.half_height(0.0))))
        discs[f"{up.name}-{low.name}"] = {
            "centre": scan.to_pixel(0.5 * (top + bot)),
            "height_mm": round(float(np.linalg.norm(top - bot)), 4),
            "degenerated": d.degenerated, "like_marrow": d.like_marrow}
    t12, l5 = an.body("T12"), an.body("L5")
    zs = np.arange(l5.z - l5.half_h, t12.z + t12.half_h, 2.0)[::-1]
    yc, slope = an.curve(zs)
    us = an.sac_centre_u(zs)
    line = []
    for z, y0, s, u in zip(zs, yc, slope, us, strict=True):
        ny = 1.0 / math.hypot(1.0, s)
        line.append(scan.to_pixel([float(an.lateral(z)), float(y0 + u * ny),
                                   float(z - u * ny * s)]))
    l3 = an.body("L3")
    y3, s3 = an.curve(np.array([l3.z]))
    u3 = float(an.sac_centre_u(np.array([l3.z]))[0])
    n3 = 1.0 / math.hypot(1.0, float(s3[0]))
    conus_y, _ = an.curve(np.array([an.conus_z]))
    conus_u = float(an.sac_centre_u(np.array([an.conus_z]))[0]) - 1.0
    p = scan.rot @ scan.centre + scan.shift
    offsets = [round(float((p - o) @ scan.normal), 4) for o in g.origins]
    return {
        "pixel_spacing_mm": [g.spacing[0], g.spacing[1]],
        "slice_thickness_mm": scan.thickness, "slice_spacing_mm": scan.spacing,
        "mid_sagittal": {
            "slice": scan.mid, "offset_mm": round(scan.offset, 4),
            "slice_offsets_mm": offsets,
            "yaw_deg": round(math.degrees(an.yaw), 4), "roll_deg": round(math.degrees(an.roll), 4),
            "normal_patient": [round(float(v), 6) for v in normal_anat],
            "point_patient": [round(float(v), 4) for v in p],
        },
        "levels": levels,
        "discs": discs,
        "sac": {"centre_line": line, "half_depth_mm": round(an.sac_half_d, 4),
                "half_width_mm": round(an.sac_half_w, 4),
                "l3_centre": scan.to_pixel([float(an.lateral(l3.z)),
                                            float(y3[0] + u3 * n3),
                                            float(l3.z - u3 * n3 * float(s3[0]))])},
        "conus": {"tip": scan.to_pixel([float(an.lateral(an.conus_z)),
                                        float(conus_y[0] + conus_u), float(an.conus_z)]),
                  "ends_at": "L1-L2" if an.variants["conus"] else "T12-L1"},
    }
