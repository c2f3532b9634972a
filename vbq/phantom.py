"""A synthetic sagittal T1-weighted lumbar MRI series whose VBQ is known by construction.

:func:`make_phantom` renders an analytic lumbar spine (T11 to S2: vertebral bodies
with a dark cortical rim and endplates, intervertebral discs with nucleus and
annulus, posterior elements, the spinal canal with CSF, the cord down to the
conus at L1-L2, paraspinal muscle, subcutaneous fat, the aorta, abdominal
contents) on the grid of a clinical sagittal acquisition, adds a point-spread
blur and Rician noise, and writes:

- ``series/``: the T1 sagittal series (and, optionally, distractor series: a T2
  sagittal, a post-contrast T1 sagittal and an axial T1) as MR Image Storage files;
- ``rois.json`` (``vbq-rois/1``, pixel space) and ``rois_patient.json`` (the same
  ROIs in patient space), ``seeds.json`` (``vbq-seeds/1``);
- ``mask.nii.gz``: TotalSpineSeg labels on the T1 series' grid (RAS affine);
- ``expected.json``: per-ROI mean/median/pixel count and the VBQ, computed from
  the pixel values actually written (stored value x slope + intercept) with the
  membership rules of the ``vbq-rois/1`` format, implemented here on their own.

Signal intensities: the marrow of L1-L4 is ``vbq`` times the CSF signal (per-level
factors whose median is 1), so the VBQ of the written pixels is close to ``vbq``
(noise and blur move it slightly; ``expected.json`` has the exact value).

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

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError

__all__ = ["make_phantom", "PhantomInfo", "TISSUE", "roi_membership", "DISTRACTORS"]

# --------------------------------------------------------------------------- constants
#: Tissue codes of the rendered label volume (``PhantomInfo.tissue``).
TISSUE: dict[str, int] = {
    "air": 0, "fat": 1, "muscle": 2, "abdomen": 3, "ligament": 4, "cortex": 5,
    "marrow": 6, "posterior_marrow": 7, "annulus": 8, "nucleus": 9, "csf": 10,
    "cord": 11, "vessel": 12,
}
DISTRACTORS: tuple[str, ...] = ("t2", "t1_post", "axial")

LEVELS: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2")
#: TotalSpineSeg label of each vertebra (sacrum = 50), spinal canal 2, cord 1.
TSS_LABEL: dict[str, int] = {"T11": 31, "T12": 32, "L1": 41, "L2": 42, "L3": 43, "L4": 44,
                             "L5": 45, "S1": 50, "S2": 50}
TSS_CANAL, TSS_CORD = 2, 1

_PITCH = 34.0          # mm from one body centre to the next
_BODY_H = 25.0         # body height (mm)
_BODY_HALF_D = 16.5    # half antero-posterior depth (mm)
_BODY_HALF_W = 22.0    # half width, left-right (mm)
_CORTEX = 1.6          # cortical shell / endplate thickness (mm)
_Z_L3 = 0.0            # L3 body centre (patient z, mm)
_Y_L3 = -12.0          # L3 body centre (patient y, mm)
_LORDOSIS = 10.0 / 102.0 ** 2   # posterior offset of the column = k z^2
_CANAL_GAP = 2.0       # posterior longitudinal ligament / epidural space (mm)
_CANAL_HALF_D = 7.5
_CANAL_HALF_W = 11.0
_CONUS_Z = 68.0 - _BODY_H / 2 - 4.5   # conus medullaris at the L1-L2 disc
_FOV = 280.0           # mm, square field of view
_SLICE_THICKNESS = 4.0
_SLICE_SPACING = 4.4

#: Marrow factor per level (median of L1-L4 is exactly 1).
_LEVEL_FACTOR = {"T11": 1.02, "T12": 1.03, "L1": 1.04, "L2": 0.97, "L3": 1.01, "L4": 0.99,
                 "L5": 1.05, "S1": 1.08, "S2": 1.1}


# --------------------------------------------------------------------------- anatomy
def _curve_y(z: np.ndarray | float) -> np.ndarray | float:
    return _Y_L3 + _LORDOSIS * (np.asarray(z) - _Z_L3) ** 2


def _curve_slope(z: np.ndarray | float) -> np.ndarray | float:
    return 2.0 * _LORDOSIS * (np.asarray(z) - _Z_L3)


def _level_z(name: str) -> float:
    return _Z_L3 + (LEVELS.index("L3") - LEVELS.index(name)) * _PITCH


def _frame(z0: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Centre (y, z) on the curve at height z0 and unit vectors (AP, along the spine)."""
    y0 = float(_curve_y(z0))
    s = float(_curve_slope(z0))
    t = np.array([s, 1.0]) / math.hypot(s, 1.0)      # (y, z) along the spine, superior
    a = np.array([1.0, -s]) / math.hypot(s, 1.0)     # (y, z) antero-posterior, posterior +
    return y0, z0, a, t


def _local(y: np.ndarray, z: np.ndarray, z0: float) -> tuple[np.ndarray, np.ndarray]:
    y0, z0, a, t = _frame(z0)
    dy, dz = y - y0, z - z0
    return dy * a[0] + dz * a[1], dy * t[0] + dz * t[1]


def _rounded_rect(u: np.ndarray, v: np.ndarray, hu: float, hv: float, rad: float) -> np.ndarray:
    qu = np.abs(u) - (hu - rad)
    qv = np.abs(v) - (hv - rad)
    inside = (qu <= rad) & (qv <= rad)
    corner = (qu > 0) & (qv > 0)
    return inside & ~(corner & (qu * qu + qv * qv > rad * rad))


def _power(t: np.ndarray, p: float) -> np.ndarray:
    if p == 2.0:
        return t * t
    if p == 3.0:
        return t * t * t
    if p == 2.5:
        return t * t * np.sqrt(t)
    return t ** p


def _superellipse(x: np.ndarray, u: np.ndarray, hx: float, hu: float, p: float = 3.0
                  ) -> np.ndarray:
    return _power(np.abs(x) * (1.0 / hx), p) + _power(np.abs(u) * (1.0 / hu), p) <= 1.0


def _render_labels(x: np.ndarray, y: np.ndarray, z: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue code, vertebra index (-1 = none) and TotalSpineSeg label at patient points.

    ``x, y, z`` are arrays of one shape (LPS mm). Later rules paint over earlier ones.
    """
    tissue = np.full(x.shape, TISSUE["abdomen"], dtype=np.uint8)
    level = np.full(x.shape, -1, dtype=np.int8)
    tss = np.zeros(x.shape, dtype=np.uint8)

    yc = _curve_y(z)
    uc = (y - yc) / np.sqrt(1.0 + _curve_slope(z) ** 2)   # AP distance from the column axis
    # trunk outline (an ellipse in the axial plane): skin, subcutaneous fat, then air;
    # paraspinal and psoas muscle behind the front of the vertebral bodies
    y_back = 98.0 + 6.0 * (z / 140.0) ** 2
    y_front = -126.0
    cy, hy = (y_back + y_front) / 2.0, (y_back - y_front) / 2.0
    trunk = (x / 165.0) ** 2 + ((y - cy) / hy) ** 2
    inner = (x / 149.0) ** 2 + ((y - cy) / (hy - 16.0)) ** 2
    # erector spinae / multifidus behind the spine, psoas beside the lumbar bodies
    back_u = _BODY_HALF_D + _CANAL_GAP + 2 * _CANAL_HALF_D
    paraspinal = (uc > _BODY_HALF_D) & _superellipse(x, uc - back_u - 18.0, 52.0, 48.0, 2.5)
    tissue[paraspinal | ((uc > _BODY_HALF_D) & (np.abs(x) < 18.0))] = TISSUE["muscle"]
    grow = np.clip((_level_z("T12") - z) / 120.0, 0.0, 1.0)
    psoas_x = _BODY_HALF_W + 2.0 + 16.0 * grow
    psoas = (grow > 0) & (((np.abs(x) - psoas_x) / (5.0 + 13.0 * grow)) ** 2
                          + ((uc + 2.0) / (9.0 + 8.0 * grow)) ** 2 <= 1.0)
    tissue[psoas] = TISSUE["muscle"]
    tissue[inner > 1.0] = TISSUE["fat"]
    tissue[trunk > 1.0] = TISSUE["air"]
    # prevertebral ligament and the aorta (left of the midline, LPS +x), above its bifurcation
    tissue[(uc > -_BODY_HALF_D - 2.5) & (uc <= -_BODY_HALF_D + 1) & (np.abs(x) < 20)] = \
        TISSUE["ligament"]
    aorta = ((x - 14.0) ** 2 + (uc + _BODY_HALF_D + 16.0) ** 2 <= 10.0 ** 2) & (z > -40.0)
    tissue[aorta] = TISSUE["vessel"]
    # canal: PLL in front, CSF, cord above the conus
    canal_u = _BODY_HALF_D + _CANAL_GAP + _CANAL_HALF_D
    pll = (uc > _BODY_HALF_D - 1) & (uc < _BODY_HALF_D + _CANAL_GAP) & (np.abs(x) < 14)
    tissue[pll] = TISSUE["ligament"]
    canal = _superellipse(x, uc - canal_u, _CANAL_HALF_W, _CANAL_HALF_D, 2.5)
    tissue[canal] = TISSUE["csf"]
    tss[canal] = TSS_CANAL
    taper = np.clip((z - _CONUS_Z) / 15.0, 0.0, 1.0)
    cord = canal & (((x / 5.0) ** 2 + ((uc - canal_u) / 4.0) ** 2) <= taper ** 2) & (taper > 0)
    tissue[cord] = TISSUE["cord"]
    tss[cord] = TSS_CORD

    for k, name in enumerate(LEVELS):
        zl = _level_z(name)
        near = np.abs(z - zl) < 40.0
        if not near.any():
            continue
        idx = np.nonzero(near)
        xs, ys, zs = x[idx], y[idx], z[idx]
        t_sub, l_sub, s_sub = tissue[idx], level[idx], tss[idx]
        sacral = name.startswith("S")
        half_d = _BODY_HALF_D + (3.0 if sacral else 0.0)
        # disc below this body (to the next level), painted before the bodies
        if k + 1 < len(LEVELS) and name != "S1":
            zd = zl - _PITCH / 2.0
            ud, vd = _local(ys, zs, zd)
            gap = _PITCH - _BODY_H
            disc = (_rounded_rect(ud, vd, half_d + 1.2, gap / 2.0 + 1.5, 3.0)
                    & _superellipse(xs, ud, _BODY_HALF_W + 1.0, half_d + 1.2))
            t_sub[disc] = TISSUE["annulus"]
            nucleus = disc & (((ud + 1.5) / (half_d * 0.6)) ** 2 + (vd / (gap * 0.33)) ** 2
                              + (xs / (_BODY_HALF_W * 0.6)) ** 2 <= 1.0)
            t_sub[nucleus] = TISSUE["nucleus"]
            s_sub[disc] = 0
        u, v = _local(ys, zs, zl)
        # posterior elements: pedicles, lamina, spinous process (whole vertebra label)
        pu = u - (_BODY_HALF_D + _CANAL_GAP + 2 * _CANAL_HALF_D)   # 0 at the canal's back
        if not sacral:
            ped = ((np.abs(xs) > _CANAL_HALF_W + 0.5) & (np.abs(xs) < _CANAL_HALF_W + 7.0)
                   & (u > _BODY_HALF_D - 1) & (pu < 2.0)
                   & (((v - 3.0) / 7.5) ** 2 + 0.0 <= 1.0))
            vs = v + 3.0 + 0.25 * np.clip(pu, 0, None)
            lamina = (pu >= -0.5) & (pu < 8.0) & (np.abs(xs) < 16.0 - pu) & (np.abs(vs) < 9.0)
            spinous = (pu >= 0.0) & (pu < 32.0) & (np.abs(xs) < 4.0) & (
                np.abs(vs) < 8.0 - 0.08 * np.clip(pu, 0, None))
            post = ped | lamina | spinous
            # inner (marrow) part: shrink every boundary by the cortex thickness
            c = _CORTEX * 0.8
            ped_i = ((np.abs(xs) > _CANAL_HALF_W + 0.5 + c) & (np.abs(xs) < _CANAL_HALF_W + 7 - c)
                     & (u > _BODY_HALF_D - 1 + c) & (pu < 2.0 - c)
                     & (((v - 3.0) / (7.5 - c)) ** 2 <= 1.0))
            lam_i = ((pu >= -0.5 + c) & (pu < 8.0) & (np.abs(xs) < 16.0 - pu - c)
                     & (np.abs(vs) < 9.0 - c))
            spi_i = ((pu >= 0.0) & (pu < 32.0 - c) & (np.abs(xs) < 4.0 - c)
                     & (np.abs(vs) < 8.0 - 0.08 * np.clip(pu, 0, None) - c))
            inner = ped_i | lam_i | spi_i
            t_sub[post] = TISSUE["cortex"]
            t_sub[inner] = TISSUE["posterior_marrow"]
            l_sub[post] = k
            s_sub[post] = TSS_LABEL[name]
        # vertebral body: cortical shell and endplates around cancellous marrow
        body = (_rounded_rect(u, v, half_d, _BODY_H / 2.0, 3.5)
                & _superellipse(xs, u, _BODY_HALF_W, half_d))
        marrow = (_rounded_rect(u, v, half_d - _CORTEX, _BODY_H / 2.0 - _CORTEX, 2.5)
                  & _superellipse(xs, u, _BODY_HALF_W - _CORTEX, half_d - _CORTEX))
        t_sub[body] = TISSUE["cortex"]
        t_sub[marrow] = TISSUE["marrow"]
        l_sub[body] = k
        s_sub[body] = TSS_LABEL[name]
        tissue[idx], level[idx], tss[idx] = t_sub, l_sub, s_sub
    return tissue, level, tss


# --------------------------------------------------------------------------- contrasts
@dataclass(frozen=True)
class _Contrast:
    name: str
    description: str
    table: dict[str, float]          # tissue -> signal (marrow: factor times marrow signal)
    tr_ms: float
    te_ms: float
    etl: int
    contrast_agent: str | None = None


def _t1_signals(marrow: float, csf: float) -> dict[str, float]:
    return {"air": 0.0, "fat": 430.0, "muscle": 150.0, "abdomen": 210.0, "ligament": 45.0,
            "cortex": 38.0, "marrow": marrow, "posterior_marrow": 0.9 * marrow,
            "annulus": 120.0, "nucleus": 150.0, "csf": csf, "cord": 240.0, "vessel": 25.0}


def _contrasts(vbq: float, field_strength: float) -> dict[str, _Contrast]:
    csf = 100.0
    marrow = vbq * csf
    three_t = field_strength >= 2.0
    tr1, te1 = (700.0, 9.0) if three_t else (520.0, 12.0)
    t1 = _Contrast("t1", "T1 SAG TSE", _t1_signals(marrow, csf), tr1, te1, 3)
    post_table = _t1_signals(marrow * 1.12, csf * 1.02)
    post_table.update({"annulus": 150.0, "nucleus": 160.0, "cord": 250.0, "muscle": 175.0,
                       "vessel": 320.0, "abdomen": 260.0})
    post = _Contrast("t1_post", "T1 SAG +C POST GAD", post_table, tr1, te1, 3,
                     contrast_agent="Gadoterate meglumine")
    t2_table = {"air": 0.0, "fat": 330.0, "muscle": 90.0, "abdomen": 200.0, "ligament": 30.0,
                "cortex": 30.0, "marrow": 0.9 * marrow, "posterior_marrow": 0.8 * marrow,
                "annulus": 110.0, "nucleus": 520.0, "csf": 900.0, "cord": 330.0,
                "vessel": 40.0}
    t2 = _Contrast("t2", "T2 SAG TSE", t2_table, 3500.0 if not three_t else 3200.0,
                   100.0 if not three_t else 95.0, 17)
    axial = _Contrast("axial", "T1 AX TSE", _t1_signals(marrow, csf), tr1, te1, 3)
    return {"t1": t1, "t2": t2, "t1_post": post, "axial": axial}


# --------------------------------------------------------------------------- grids
@dataclass(frozen=True)
class _Grid:
    """Geometry of one written series: per-slice origins, IOP, spacing."""

    origins: np.ndarray          # (n, 3) ImagePositionPatient per slice (sorted order)
    row_dir: np.ndarray
    col_dir: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, int]

    def points(self, k: int, dtype: type = np.float64
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = np.arange(self.shape[0], dtype=dtype)[:, None]
        c = np.arange(self.shape[1], dtype=dtype)[None, :]
        o = self.origins[k]
        out = [(o[i] + r * self.spacing[0] * self.col_dir[i]
                + c * self.spacing[1] * self.row_dir[i]).astype(dtype, copy=False)
               for i in range(3)]
        return out[0], out[1], out[2]

    def pixel_to_patient(self, k: int, rc: Sequence[float]) -> list[float]:
        o = self.origins[k]
        p = o + rc[0] * self.spacing[0] * self.col_dir + rc[1] * self.spacing[1] * self.row_dir
        return [float(v) for v in p]

    def patient_to_pixel(self, yz_or_xyz: Sequence[float], k: int) -> tuple[float, float]:
        d = np.asarray(yz_or_xyz, dtype=np.float64) - self.origins[k]
        return (float(d @ self.col_dir / self.spacing[0]),
                float(d @ self.row_dir / self.spacing[1]))


def _ds(v: float) -> float:
    """Round ``v`` as a written DS attribute holds it (so truth and files agree exactly)."""
    return float(_ds_number(v))


def _sagittal_grid(n: int, rows: int, cols: int) -> _Grid:
    sr, sc = _ds(_FOV / rows), _ds(_FOV / cols)
    row_dir = np.array([0.0, 1.0, 0.0])     # columns run anterior -> posterior
    col_dir = np.array([0.0, 0.0, -1.0])    # rows run superior -> inferior
    # sorted index k has position (k - n//2) * spacing along the normal (-x)
    xs = [_ds((n // 2 - k) * _SLICE_SPACING) for k in range(n)]
    y0 = _ds(-_FOV / 2 + sc / 2)
    z0 = _ds(_FOV / 2 - sr / 2)
    origins = np.array([[x, y0, z0] for x in xs])
    return _Grid(origins, row_dir, col_dir, (sr, sc), (rows, cols))


def _axial_grid(n: int, rows: int, cols: int) -> _Grid:
    sr, sc = _ds(_FOV / rows), _ds(_FOV / cols)
    row_dir = np.array([1.0, 0.0, 0.0])     # columns run right -> left
    col_dir = np.array([0.0, 1.0, 0.0])     # rows run anterior -> posterior
    z_mid = _level_z("L3") - _PITCH / 2      # centred on the L3-L4 disc
    zs = [_ds(z_mid + (k - n // 2) * _SLICE_SPACING) for k in range(n)]
    origins = np.array([[_ds(-_FOV / 2 + sc / 2), _ds(-_FOV / 2 + sr / 2), z] for z in zs])
    return _Grid(origins, row_dir, col_dir, (sr, sc), (rows, cols))


# --------------------------------------------------------------------------- rendering
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
                  ) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    sd = float(f.std())
    return f / sd if sd > 0 else f


def _bias(y: np.ndarray | float) -> np.ndarray | float:
    """Smooth receive-coil shading: brighter posteriorly (spine coil in the table)."""
    return 1.0 + 0.08 * (np.asarray(y) - _Y_L3) / 100.0


def _render_series(grid: _Grid, labels: list[tuple[np.ndarray, np.ndarray]],
                   contrast: _Contrast, rng: np.random.Generator, noise_sd: float,
                   compensate: Callable[[int], float], csf_comp: float) -> list[np.ndarray]:
    """Noisy magnitude images (float) for every slice of a grid."""
    from scipy.ndimage import gaussian_filter

    lut = np.zeros(len(TISSUE), dtype=np.float64)
    for name, code in TISSUE.items():
        lut[code] = contrast.table[name]
    level_factor = np.array([_LEVEL_FACTOR[n] * compensate(i) for i, n in enumerate(LEVELS)])
    blur = 0.55 * (max(grid.shape) / 256.0)
    # two smooth random fields per series; each slice sees them shifted by a random offset
    bone_tex = _smooth_noise(rng, grid.shape, 2.5 / grid.spacing[0])
    abd_tex = np.clip(1.0 + 0.3 * _smooth_noise(rng, grid.shape, 4.0 / grid.spacing[0]),
                      0.4, 1.9)
    out = []
    for k in range(len(grid.origins)):
        tissue, level = labels[k]
        img = lut[tissue]
        marrow = tissue == TISSUE["marrow"]
        if marrow.any():
            img[marrow] *= level_factor[level[marrow]]
        shift = tuple(int(v) for v in rng.integers(0, min(grid.shape), size=2))
        bone = marrow | (tissue == TISSUE["posterior_marrow"])
        img[bone] *= 1.0 + 0.035 * np.roll(bone_tex, shift, axis=(0, 1))[bone]
        abd = tissue == TISSUE["abdomen"]
        if abd.any():
            img[abd] *= np.roll(abd_tex, shift[::-1], axis=(0, 1))[abd]
        csf = tissue == TISSUE["csf"]
        img[csf] *= csf_comp
        _, y, _ = grid.points(k)
        img *= _bias(y)
        img = gaussian_filter(img, blur)
        n1 = rng.standard_normal(grid.shape) * noise_sd
        n2 = rng.standard_normal(grid.shape) * noise_sd
        out.append(np.hypot(img + n1, n2))
    return out


# --------------------------------------------------------------------------- ROI membership
def roi_membership(roi: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a pixel-space ``vbq-rois/1`` ROI, by the format's rules on pixel centres.

    Ellipse/circle: ``((r-r0)/ry)^2 + ((c-c0)/rx)^2 <= 1`` with ``radii = [ry, rx]``;
    rectangle: ``corner <= centre < corner + size``; polygon: even-odd rule.
    """
    rr, cc = np.meshgrid(np.arange(shape[0], dtype=np.float64),
                         np.arange(shape[1], dtype=np.float64), indexing="ij")
    shape_name = roi["shape"]
    if shape_name in ("ellipse", "circle"):
        r0, c0 = roi["center"]
        ry, rx = (roi["radius"], roi["radius"]) if shape_name == "circle" else roi["radii"]
        return ((rr - r0) / ry) ** 2 + ((cc - c0) / rx) ** 2 <= 1.0
    if shape_name == "rectangle":
        (r0, c0), (h, w) = roi["corner"], roi["size"]
        return (rr >= r0) & (rr < r0 + h) & (cc >= c0) & (cc < c0 + w)
    if shape_name == "polygon":
        pts = np.asarray(roi["points"], dtype=np.float64)
        inside = np.zeros(shape, dtype=bool)
        n = len(pts)
        for i in range(n):
            (ra, ca), (rb, cb) = pts[i], pts[(i + 1) % n]
            if ra == rb:
                continue
            crosses = (rr >= min(ra, rb)) & (rr < max(ra, rb))
            c_at = ca + (rr - ra) * (cb - ca) / (rb - ra)
            inside ^= crosses & (cc < c_at)
        return inside
    raise ValueError(f"unknown ROI shape {shape_name!r}")


def _boundary_margin(roi: dict[str, Any], shape: tuple[int, int]) -> float:
    """Smallest distance (in the membership function's units) of a pixel centre from the edge."""
    rr, cc = np.meshgrid(np.arange(shape[0], dtype=np.float64),
                         np.arange(shape[1], dtype=np.float64), indexing="ij")
    if roi["shape"] in ("ellipse", "circle"):
        r0, c0 = roi["center"]
        ry, rx = (roi["radius"], roi["radius"]) if roi["shape"] == "circle" else roi["radii"]
        return float(np.min(np.abs(((rr - r0) / ry) ** 2 + ((cc - c0) / rx) ** 2 - 1.0)))
    if roi["shape"] == "rectangle":
        (r0, c0), (h, w) = roi["corner"], roi["size"]
        return float(min(np.min(np.abs(rr - r0)), np.min(np.abs(rr - r0 - h)),
                         np.min(np.abs(cc - c0)), np.min(np.abs(cc - c0 - w))))
    pts = np.asarray(roi["points"], dtype=np.float64)
    m = np.inf
    for i in range(len(pts)):
        a, b = pts[i], pts[(i + 1) % len(pts)]
        d = b - a
        t = np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / float(d @ d), 0, 1)
        m = min(m, float(np.min(np.hypot(rr - a[0] - t * d[0], cc - a[1] - t * d[1]))))
    return m


# --------------------------------------------------------------------------- DICOM writing
def _uid(*parts: object) -> str:
    """Deterministic UUID-derived UID (``2.25.<128-bit integer>``, PS3.5 B.2) from ``parts``."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(["vbq-phantom", *map(str, parts)]).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _ds_number(v: float) -> str:
    s = f"{v:.10g}"
    if len(s) > 16:
        s = f"{v:.8g}"
    return s


def _base_dataset(contrast: _Contrast, study_uid: str, series_uid: str, for_uid: str,
                  series_number: int, field_strength: float, grid: _Grid,
                  slope: float, intercept: float) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.StudyDate = "20240115"
    ds.SeriesDate = "20240115"
    ds.AcquisitionDate = "20240115"
    ds.ContentDate = "20240115"
    ds.StudyTime = "093000"
    ds.SeriesTime = f"0930{series_number:02d}"
    ds.AcquisitionTime = f"0930{series_number:02d}"
    ds.ContentTime = f"0930{series_number:02d}"
    ds.AccessionNumber = "PHANTOM0001"
    ds.Modality = "MR"
    ds.Manufacturer = "vbq-toolkit"
    ds.InstitutionName = "Synthetic"
    ds.ReferringPhysicianName = ""
    ds.StationName = "PHANTOM"
    ds.StudyDescription = "LUMBAR SPINE"
    ds.SeriesDescription = contrast.description
    ds.ManufacturerModelName = "lumbar phantom"
    ds.PatientName = "Phantom^Lumbar"
    ds.PatientID = "VBQ-PHANTOM"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "F"
    ds.PatientAge = "074Y"
    ds.BodyPartExamined = "LSPINE"
    ds.ScanningSequence = ["SE"]
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ["FC"]
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "tse" + str(contrast.etl)
    ds.AngioFlag = "N"
    ds.SliceThickness = _ds_number(_SLICE_THICKNESS)
    ds.RepetitionTime = _ds_number(contrast.tr_ms)
    ds.EchoTime = _ds_number(contrast.te_ms)
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = _ds_number(42.577478 * field_strength)
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = _ds_number(field_strength)
    ds.SpacingBetweenSlices = _ds_number(_SLICE_SPACING)
    ds.EchoTrainLength = str(contrast.etl)
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "100"
    ds.PixelBandwidth = "190" if contrast.name != "t2" else "220"
    ds.SoftwareVersions = "vbq-toolkit phantom"
    ds.ProtocolName = contrast.description
    ds.TransmitCoilName = "Body"
    ds.ReceiveCoilName = "Spine"
    ds.AcquisitionMatrix = [0, grid.shape[1], grid.shape[0], 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = "150" if contrast.name != "t2" else "160"
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = "1.2"
    ds.dBdt = "0"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = str(series_number)
    ds.AcquisitionNumber = "1"
    ds.ImageOrientationPatient = [_ds_number(v) for v in (*grid.row_dir, *grid.col_dir)]
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.shape[0]
    ds.Columns = grid.shape[1]
    ds.PixelSpacing = [_ds_number(grid.spacing[0]), _ds_number(grid.spacing[1])]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if slope != 1.0 or intercept != 0.0:
        ds.RescaleIntercept = _ds_number(intercept)
        ds.RescaleSlope = _ds_number(slope)
    if contrast.contrast_agent:
        ds.ContrastBolusAgent = contrast.contrast_agent
        ds.ContrastBolusRoute = "IV"
        ds.ContrastBolusVolume = "15"
    return ds


def _write_series(files: list[Path], images: list[np.ndarray], base: Any, grid: _Grid,
                  sop_uids: list[str], instance_numbers: list[int], slope: float,
                  intercept: float) -> list[np.ndarray]:
    """Write one file per slice; return the stored integer arrays."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    top = float(np.percentile(images[len(images) // 2][::4, ::4], 99.5))
    base.WindowCenter = _ds_number(round(top / 2.0, 1))
    base.WindowWidth = _ds_number(round(top, 1))
    stored_all = []
    for k, (path, img) in enumerate(zip(files, images, strict=True)):
        stored = np.clip(np.rint((img - intercept) / slope), 0, 65535).astype(np.uint16)
        stored_all.append(stored)
        ds = base
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = sop_uids[k]
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "VBQ_PHANTOM"
        ds.file_meta = meta
        ds.SOPInstanceUID = sop_uids[k]
        ds.InstanceNumber = str(instance_numbers[k])
        ds.ImagePositionPatient = [_ds_number(v) for v in grid.origins[k]]
        ds.SliceLocation = _ds_number(float(grid.origins[k] @ np.cross(grid.row_dir,
                                                                       grid.col_dir)))
        ds.SmallestImagePixelValue = int(stored.min())
        ds.LargestImagePixelValue = int(stored.max())
        ds.PixelData = stored.tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    return stored_all


# --------------------------------------------------------------------------- output helpers
def _write_json(path: Path, data: Any) -> None:
    tmp = tempfile.NamedTemporaryFile("w", delete=False, dir=path.parent, suffix=".tmp",
                                      encoding="utf-8")
    with tmp:
        json.dump(data, tmp, indent=2)
        tmp.write("\n")
    os.replace(tmp.name, path)


@dataclass(frozen=True)
class PhantomInfo:
    """What :func:`make_phantom` wrote, and the truth it was built from."""

    out_dir: Path
    series_dir: Path
    rois_path: Path
    rois_patient_path: Path
    seeds_path: Path
    mask_path: Path
    expected_path: Path
    expected: dict[str, Any]
    series_instance_uid: str
    slice: int
    files: dict[str, list[Path]] = field(default_factory=dict)
    distractor_uids: dict[str, str] = field(default_factory=dict)
    tissue: np.ndarray | None = field(default=None, repr=False)

    @property
    def vbq(self) -> float:
        """The VBQ of the written pixels (``expected.json``)."""
        return float(self.expected["vbq"])


def _stats(values: np.ndarray) -> dict[str, float | int]:
    return {"mean": float(np.mean(values)), "median": float(np.median(values)),
            "n_pixels": int(values.size)}


def _parse_distractors(distractors: str | Iterable[str] | None) -> tuple[str, ...]:
    if distractors is None:
        return ()
    if isinstance(distractors, str):
        items = [d.strip() for d in distractors.split(",") if d.strip()]
    else:
        items = [str(d).strip() for d in distractors]
    if items in (["none"], []):
        return ()
    bad = [d for d in items if d not in DISTRACTORS]
    if bad:
        raise InputError(f"unknown distractor series {bad[0]!r}; choose from "
                         f"{', '.join(DISTRACTORS)} or none")
    return tuple(dict.fromkeys(items))


def _rois_pixel(grid: _Grid, mid: int) -> list[dict[str, Any]]:
    """Place the drawn ROIs (pixel space) on the mid slice, inside cancellous bone and CSF."""
    sr, sc = grid.spacing

    def centre(name: str) -> tuple[float, float]:
        y0, z0, _, _ = _frame(_level_z(name))
        return grid.patient_to_pixel([grid.origins[mid][0], y0, z0], mid)

    def local_pt(name: str, du: float, dv: float) -> list[float]:
        y0, z0, a, t = _frame(_level_z(name))
        y = y0 + du * a[0] + dv * t[0]
        z = z0 + du * a[1] + dv * t[1]
        r, c = grid.patient_to_pixel([grid.origins[mid][0], y, z], mid)
        return [round(r, 4), round(c, 4)]

    rois: list[dict[str, Any]] = []
    r1, c1 = centre("L1")
    rois.append({"label": "L1", "shape": "ellipse", "center": [round(r1, 4), round(c1, 4)],
                 "radii": [round(6.3 / sr, 4), round(9.1 / sc, 4)]})
    poly = [(-9.2, -4.1), (-4.3, 6.7), (5.9, 6.1), (9.3, -0.6), (4.1, -6.4), (-6.2, -6.6)]
    rois.append({"label": "L2", "shape": "polygon",
                 "points": [local_pt("L2", du, dv) for du, dv in poly]})
    r3, c3 = centre("L3")
    if abs(sr - sc) < 1e-12:
        rois.append({"label": "L3", "shape": "circle", "center": [round(r3, 4), round(c3, 4)],
                     "radius": round(7.2 / sr, 4)})
    else:
        rois.append({"label": "L3", "shape": "ellipse", "center": [round(r3, 4), round(c3, 4)],
                     "radii": [round(7.2 / sr, 4), round(7.2 / sc, 4)]})
    r4, c4 = centre("L4")
    h4, w4 = 12.6 / sr, 17.8 / sc
    rois.append({"label": "L4", "shape": "rectangle",
                 "corner": [round(r4 - h4 / 2, 4), round(c4 - w4 / 2, 4)],
                 "size": [round(h4, 4), round(w4, 4)]})
    # CSF: the canal behind L3, below the conus (pure CSF)
    y0, z0, a, _ = _frame(_level_z("L3"))
    canal_u = _BODY_HALF_D + _CANAL_GAP + _CANAL_HALF_D
    rc, cc = grid.patient_to_pixel([grid.origins[mid][0], y0 + canal_u * a[0],
                                    z0 + canal_u * a[1]], mid)
    rois.append({"label": "CSF", "level": "L3", "shape": "ellipse",
                 "center": [round(rc, 4), round(cc, 4)],
                 "radii": [round(7.3 / sr, 4), round(3.3 / sc, 4)]})
    for roi in rois:  # keep every pixel centre clear of the ROI boundary (exactness)
        for _ in range(20):
            if _boundary_margin(roi, grid.shape) > 1e-4:
                break
            if "radii" in roi:
                roi["radii"] = [round(v * 1.0007, 4) for v in roi["radii"]]
            elif "radius" in roi:
                roi["radius"] = round(roi["radius"] * 1.0007, 4)
            elif "size" in roi:
                roi["corner"] = [round(v + 0.0137, 4) for v in roi["corner"]]
            else:
                roi["points"] = [[round(p + 0.0113, 4) for p in pt] for pt in roi["points"]]
    return rois


def _to_patient_roi(roi: dict[str, Any], grid: _Grid, k: int) -> dict[str, Any]:
    sr, sc = grid.spacing
    out = {key: roi[key] for key in ("label", "level") if key in roi}
    out["shape"] = roi["shape"]
    if roi["shape"] in ("ellipse", "circle"):
        out["center"] = grid.pixel_to_patient(k, roi["center"])
        if roi["shape"] == "circle":
            out["radius"] = roi["radius"] * sr
        else:
            out["radii"] = [roi["radii"][0] * sr, roi["radii"][1] * sc]
    elif roi["shape"] == "rectangle":
        out["corner"] = grid.pixel_to_patient(k, roi["corner"])
        out["size"] = [roi["size"][0] * sr, roi["size"][1] * sc]
    else:
        out["points"] = [grid.pixel_to_patient(k, p) for p in roi["points"]]
    return out


# --------------------------------------------------------------------------- main entry
def make_phantom(out_dir: str | os.PathLike[str], vbq: float = 3.2, seed: int = 0,
                 field_strength: float = 1.5, n_slices: int = 15, rows: int = 256,
                 cols: int | None = None,
                 distractors: str | Iterable[str] | None = DISTRACTORS,
                 rescale_slope: float = 1.0, rescale_intercept: float = 0.0,
                 shuffle_names: bool = False, reverse_instance_numbers: bool = False,
                 noise_sd: float | None = None) -> PhantomInfo:
    """Write a synthetic lumbar MRI study with a known VBQ; see the module docstring.

    Parameters
    ----------
    out_dir
        Output folder (created). ``series/`` inside it receives the DICOM files.
    vbq
        Target VBQ: L1-L4 marrow signal over CSF signal (before noise and blur).
    seed
        Seed of the noise and texture; the same arguments give identical files.
    field_strength
        1.5 or 3 (tesla): sets MagneticFieldStrength, ImagingFrequency, TR/TE, noise.
    n_slices, rows, cols
        Size of each series (``cols`` defaults to ``rows``); field of view 280 mm.
    distractors
        Extra series to write: any of ``"t2"``, ``"t1_post"``, ``"axial"`` (a list or a
        comma-separated string; ``"none"`` or ``()`` for none).
    rescale_slope, rescale_intercept
        Modality rescale written to the files (pixel value = stored x slope + intercept).
    shuffle_names
        Write every file of every series into ``series/`` under a random name without
        extension, in random order.
    reverse_instance_numbers
        Number instances opposite to their position along the slice normal.
    noise_sd
        Rician noise level (default 6 at 1.5 T, 4.5 at 3 T; CSF signal is 100).

    Returns
    -------
    PhantomInfo
    """
    import nibabel as nib

    if not (0.5 <= vbq <= 10.0) or not math.isfinite(vbq):
        raise InputError(f"target VBQ {vbq} is outside the supported range 0.5 to 10")
    if field_strength not in (1.5, 3.0, 3):
        raise InputError(f"field strength {field_strength} T is not supported; use 1.5 or 3")
    if not 3 <= n_slices <= 64:
        raise InputError(f"slice count {n_slices} is outside 3 to 64")
    cols = rows if cols is None else cols
    if not (64 <= rows <= 1024 and 64 <= cols <= 1024):
        raise InputError(f"image size {rows}x{cols} is outside 64 to 1024 pixels")
    if not (rescale_slope > 0 and math.isfinite(rescale_slope)):
        raise InputError(f"rescale slope {rescale_slope} must be a positive number")
    extra = _parse_distractors(distractors)
    rng = np.random.default_rng(seed)
    noise = noise_sd if noise_sd is not None else (6.0 if field_strength < 2 else 4.5)

    out = Path(out_dir)
    series_dir = out / "series"
    out.mkdir(parents=True, exist_ok=True)
    if series_dir.exists() and any(series_dir.iterdir()):
        raise InputError(f"{series_dir} already holds files; choose an empty output folder")

    contrasts = _contrasts(vbq, float(field_strength))
    sag = _sagittal_grid(n_slices, rows, cols)
    mid = n_slices // 2
    sag_labels = []
    tss_volume = np.zeros((rows, cols, n_slices), dtype=np.uint8)
    tissue_volume = np.zeros((n_slices, rows, cols), dtype=np.uint8)
    for k in range(n_slices):
        t, lv, s = _render_labels(*sag.points(k, np.float32))
        sag_labels.append((t, lv))
        tss_volume[:, :, k] = s
        tissue_volume[k] = t

    # compensate the coil shading at the ROI centres, so marrow/CSF hit the target
    rois = _rois_pixel(sag, mid)

    def roi_centre_y(label: str) -> float:
        roi = next(r for r in rois if r["label"] == label)
        if "center" in roi:
            rc = roi["center"]
        elif "corner" in roi:
            rc = [roi["corner"][0] + roi["size"][0] / 2, roi["corner"][1] + roi["size"][1] / 2]
        else:
            rc = list(np.mean(np.asarray(roi["points"]), axis=0))
        return sag.pixel_to_patient(mid, rc)[1]

    ref = float(_bias(roi_centre_y("L3")))
    comp_level = {i: ref / float(_bias(_frame(_level_z(n))[0])) for i, n in enumerate(LEVELS)}
    csf_comp = ref / float(_bias(roi_centre_y("CSF")))

    key = (seed, vbq, field_strength, n_slices, rows, cols, rescale_slope, rescale_intercept,
           shuffle_names, reverse_instance_numbers, noise, extra)
    study_uid = _uid("study", *key)
    for_uid = _uid("for", *key)
    names = ["t1", *extra]
    numbers = {"t2": 2, "t1": 3, "axial": 4, "t1_post": 5}
    files: dict[str, list[Path]] = {}
    uids: dict[str, str] = {}
    stored_t1: list[np.ndarray] = []
    sop_t1: list[str] = []
    for name in names:
        grid = sag if name != "axial" else _axial_grid(n_slices, rows, cols)
        uids[name] = _uid("series", name, *key)
        sops = [_uid("sop", name, k, *key) for k in range(n_slices)]
        inst = [(n_slices - k) if reverse_instance_numbers else (k + 1)
                for k in range(n_slices)]
        slug = "".join(ch if ch.isalnum() else "_" for ch in contrasts[name].description)
        folder = series_dir / f"{numbers[name]:03d}_{slug}"
        paths = [folder / f"IM{inst[k]:04d}.dcm" for k in range(n_slices)]
        files[name] = paths
        labels = (sag_labels if name != "axial"
                  else [_render_labels(*grid.points(k, np.float32))[:2]
                        for k in range(n_slices)])
        images = _render_series(grid, labels, contrasts[name], rng, noise,
                                lambda i: comp_level[i], csf_comp)
        base = _base_dataset(contrasts[name], study_uid, uids[name], for_uid, numbers[name],
                             float(field_strength), grid, rescale_slope, rescale_intercept)
        if shuffle_names:
            paths = files[name] = [series_dir / "pending" / f"{name}_{k}" for k in
                                   range(n_slices)]
        stored = _write_series(paths, images, base, grid, sops, inst, rescale_slope,
                               rescale_intercept)
        if name == "t1":
            stored_t1, sop_t1 = stored, sops
    if shuffle_names:
        every = [(name, k, p) for name, ps in files.items() for k, p in enumerate(ps)]
        order = rng.permutation(len(every))
        new_names: dict[int, str] = {}
        taken: set[str] = set()
        for i in order:
            fname = "".join(rng.choice(list("0123456789ABCDEF"), 12))
            while fname in taken:
                fname = "".join(rng.choice(list("0123456789ABCDEF"), 12))
            taken.add(fname)
            new_names[int(i)] = fname
        for i in order:
            name, k, p = every[i]
            target = series_dir / new_names[i]
            os.replace(p, target)
            files[name][k] = target
        (series_dir / "pending").rmdir()

    # truth from the written pixels of the mid slice
    values = stored_t1[mid].astype(np.float64) * rescale_slope + rescale_intercept
    levels: dict[str, Any] = {}
    csf: dict[str, Any] = {}
    for roi in rois:
        member = roi_membership(roi, (rows, cols))
        st = _stats(values[member])
        if roi["label"] == "CSF":
            csf = {"level": roi["level"], **st}
        else:
            levels[roi["label"]] = st
    means = [levels[lv]["mean"] for lv in ("L1", "L2", "L3", "L4")]
    medians = [levels[lv]["median"] for lv in ("L1", "L2", "L3", "L4")]
    expected = {
        "format": "vbq-phantom-expected/1",
        "vbq": float(np.median(means) / csf["mean"]),
        "vbq_median_statistic": float(np.median(medians) / csf["median"]),
        "target_vbq": float(vbq),
        "statistic": "mean",
        "levels": levels,
        "csf": csf,
        "series_instance_uid": uids["t1"],
        "slice": mid,
        "sop_instance_uid": sop_t1[mid],
        "field_strength_t": float(field_strength),
        "tr_ms": contrasts["t1"].tr_ms,
        "te_ms": contrasts["t1"].te_ms,
        "rescale_slope": rescale_slope,
        "rescale_intercept": rescale_intercept,
        "seed": seed,
        "distractor_uids": {n: uids[n] for n in extra},
    }

    _write_json(out / "rois.json", {"format": "vbq-rois/1", "space": "pixel", "slice": mid,
                                    "rois": rois})
    _write_json(out / "rois_patient.json", {
        "format": "vbq-rois/1", "space": "patient",
        "rois": [_to_patient_roi(r, sag, mid) for r in rois]})
    seeds = []
    for name in ("L1", "L2", "L3", "L4", "L5"):
        y0, z0, _, _ = _frame(_level_z(name))
        r, c = sag.patient_to_pixel([sag.origins[mid][0], y0, z0], mid)
        seeds.append({"label": name, "point": [round(r, 4), round(c, 4)]})
    csf_roi = next(r for r in rois if r["label"] == "CSF")
    seeds.append({"label": "CSF", "level": "L3", "point": csf_roi["center"]})
    _write_json(out / "seeds.json", {"format": "vbq-seeds/1", "space": "pixel", "slice": mid,
                                     "seeds": seeds})
    _write_json(out / "expected.json", expected)

    from vbq.geometry import SliceGeometry, volume_affine_ras

    geoms = [SliceGeometry(origin=o, row_dir=sag.row_dir, col_dir=sag.col_dir,
                           spacing=sag.spacing, shape=sag.shape) for o in sag.origins]
    img = nib.Nifti1Image(tss_volume, volume_affine_ras(geoms))
    img.header.set_xyzt_units("mm")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    tmp = out / ".mask.tmp.nii.gz"
    nib.save(img, tmp)
    os.replace(tmp, out / "mask.nii.gz")

    return PhantomInfo(
        out_dir=out, series_dir=series_dir, rois_path=out / "rois.json",
        rois_patient_path=out / "rois_patient.json", seeds_path=out / "seeds.json",
        mask_path=out / "mask.nii.gz", expected_path=out / "expected.json",
        expected=expected, series_instance_uid=uids["t1"], slice=mid, files=files,
        distractor_uids={n: uids[n] for n in extra}, tissue=tissue_volume)
