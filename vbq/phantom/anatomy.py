"""Anatomy and scan geometry of the lumbar phantom (part of :mod:`vbq.phantom`).

An analytic lumbar spine in patient coordinates (DICOM LPS, mm): vertebral bodies
T11 to S2 along a lordotic curve, each a rounded box with a cortical shell and
endplates, discs with nucleus and annulus, posterior elements, the spinal canal
with CSF and the cord down to the conus, paraspinal and psoas muscles, the aorta,
subcutaneous fat and the trunk outline. :func:`render_labels` says which tissue
is at any set of points, so any image plane can be rendered.

References
----------
TotalSpineSeg label numbers (spinal cord 1, spinal canal 2, T1-T12 21-32,
L1-L5 41-45, sacrum 50): https://github.com/neuropoly/totalspineseg
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------- constants
#: Tissue codes of the rendered label volume (``PhantomInfo.tissue``).
TISSUE: dict[str, int] = {
    "air": 0, "fat": 1, "muscle": 2, "abdomen": 3, "ligament": 4, "cortex": 5,
    "marrow": 6, "posterior_marrow": 7, "annulus": 8, "nucleus": 9, "csf": 10,
    "cord": 11, "vessel": 12,
}

LEVELS: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2")
#: TotalSpineSeg label of each vertebra (sacrum = 50), spinal canal 2, cord 1.
TSS_LABEL: dict[str, int] = {"T11": 31, "T12": 32, "L1": 41, "L2": 42, "L3": 43, "L4": 44,
                             "L5": 45, "S1": 50, "S2": 50}
TSS_CANAL, TSS_CORD = 2, 1

PITCH = 34.0          # mm from one body centre to the next
_BODY_H = 25.0         # body height (mm)
BODY_HALF_D = 16.5    # half antero-posterior depth (mm)
_BODY_HALF_W = 22.0    # half width, left-right (mm)
_CORTEX = 1.6          # cortical shell / endplate thickness (mm)
_Z_L3 = 0.0            # L3 body centre (patient z, mm)
Y_L3 = -12.0          # L3 body centre (patient y, mm)
_LORDOSIS = 10.0 / 102.0 ** 2   # posterior offset of the column = k z^2
CANAL_GAP = 2.0       # posterior longitudinal ligament / epidural space (mm)
CANAL_HALF_D = 7.5
_CANAL_HALF_W = 11.0
_CONUS_Z = 68.0 - _BODY_H / 2 - 4.5   # conus medullaris at the L1-L2 disc
FOV = 280.0           # mm, square field of view
SLICE_THICKNESS = 4.0
SLICE_SPACING = 4.4

#: Marrow factor per level (median of L1-L4 is exactly 1).
LEVEL_FACTOR = {"T11": 1.02, "T12": 1.03, "L1": 1.04, "L2": 0.97, "L3": 1.01, "L4": 0.99,
                 "L5": 1.05, "S1": 1.08, "S2": 1.1}


# --------------------------------------------------------------------------- anatomy
def _curve_y(z: np.ndarray | float) -> np.ndarray | float:
    return Y_L3 + _LORDOSIS * (np.asarray(z) - _Z_L3) ** 2


def _curve_slope(z: np.ndarray | float) -> np.ndarray | float:
    return 2.0 * _LORDOSIS * (np.asarray(z) - _Z_L3)


def level_z(name: str) -> float:
    """Patient z (mm) of the centre of a vertebral body, e.g. ``level_z("L3")``."""
    return _Z_L3 + (LEVELS.index("L3") - LEVELS.index(name)) * PITCH


def spine_frame(z0: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Centre (y, z) on the curve at height z0 and unit vectors (AP, along the spine)."""
    y0 = float(_curve_y(z0))
    s = float(_curve_slope(z0))
    t = np.array([s, 1.0]) / math.hypot(s, 1.0)      # (y, z) along the spine, superior
    a = np.array([1.0, -s]) / math.hypot(s, 1.0)     # (y, z) antero-posterior, posterior +
    return y0, z0, a, t


def _local(y: np.ndarray, z: np.ndarray, z0: float) -> tuple[np.ndarray, np.ndarray]:
    y0, z0, a, t = spine_frame(z0)
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


def render_labels(x: np.ndarray, y: np.ndarray, z: np.ndarray
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
    back_u = BODY_HALF_D + CANAL_GAP + 2 * CANAL_HALF_D
    paraspinal = (uc > BODY_HALF_D) & _superellipse(x, uc - back_u - 18.0, 52.0, 48.0, 2.5)
    tissue[paraspinal | ((uc > BODY_HALF_D) & (np.abs(x) < 18.0))] = TISSUE["muscle"]
    grow = np.clip((level_z("T12") - z) / 120.0, 0.0, 1.0)
    psoas_x = _BODY_HALF_W + 2.0 + 16.0 * grow
    psoas = (grow > 0) & (((np.abs(x) - psoas_x) / (5.0 + 13.0 * grow)) ** 2
                          + ((uc + 2.0) / (9.0 + 8.0 * grow)) ** 2 <= 1.0)
    tissue[psoas] = TISSUE["muscle"]
    tissue[inner > 1.0] = TISSUE["fat"]
    tissue[trunk > 1.0] = TISSUE["air"]
    # prevertebral ligament and the aorta (left of the midline, LPS +x), above its bifurcation
    tissue[(uc > -BODY_HALF_D - 2.5) & (uc <= -BODY_HALF_D + 1) & (np.abs(x) < 20)] = \
        TISSUE["ligament"]
    aorta = ((x - 14.0) ** 2 + (uc + BODY_HALF_D + 16.0) ** 2 <= 10.0 ** 2) & (z > -40.0)
    tissue[aorta] = TISSUE["vessel"]
    # canal: PLL in front, CSF, cord above the conus
    canal_u = BODY_HALF_D + CANAL_GAP + CANAL_HALF_D
    pll = (uc > BODY_HALF_D - 1) & (uc < BODY_HALF_D + CANAL_GAP) & (np.abs(x) < 14)
    tissue[pll] = TISSUE["ligament"]
    canal = _superellipse(x, uc - canal_u, _CANAL_HALF_W, CANAL_HALF_D, 2.5)
    tissue[canal] = TISSUE["csf"]
    tss[canal] = TSS_CANAL
    taper = np.clip((z - _CONUS_Z) / 15.0, 0.0, 1.0)
    cord = canal & (((x / 5.0) ** 2 + ((uc - canal_u) / 4.0) ** 2) <= taper ** 2) & (taper > 0)
    tissue[cord] = TISSUE["cord"]
    tss[cord] = TSS_CORD

    for k, name in enumerate(LEVELS):
        zl = level_z(name)
        near = np.abs(z - zl) < 40.0
        if not near.any():
            continue
        idx = np.nonzero(near)
        xs, ys, zs = x[idx], y[idx], z[idx]
        t_sub, l_sub, s_sub = tissue[idx], level[idx], tss[idx]
        sacral = name.startswith("S")
        half_d = BODY_HALF_D + (3.0 if sacral else 0.0)
        # disc below this body (to the next level), painted before the bodies
        if k + 1 < len(LEVELS) and name != "S1":
            zd = zl - PITCH / 2.0
            ud, vd = _local(ys, zs, zd)
            gap = PITCH - _BODY_H
            disc = (_rounded_rect(ud, vd, half_d + 1.2, gap / 2.0 + 1.5, 3.0)
                    & _superellipse(xs, ud, _BODY_HALF_W + 1.0, half_d + 1.2))
            t_sub[disc] = TISSUE["annulus"]
            nucleus = disc & (((ud + 1.5) / (half_d * 0.6)) ** 2 + (vd / (gap * 0.33)) ** 2
                              + (xs / (_BODY_HALF_W * 0.6)) ** 2 <= 1.0)
            t_sub[nucleus] = TISSUE["nucleus"]
            s_sub[disc] = 0
        u, v = _local(ys, zs, zl)
        # posterior elements: pedicles, lamina, spinous process (whole vertebra label)
        pu = u - (BODY_HALF_D + CANAL_GAP + 2 * CANAL_HALF_D)   # 0 at the canal's back
        if not sacral:
            ped = ((np.abs(xs) > _CANAL_HALF_W + 0.5) & (np.abs(xs) < _CANAL_HALF_W + 7.0)
                   & (u > BODY_HALF_D - 1) & (pu < 2.0)
                   & (((v - 3.0) / 7.5) ** 2 + 0.0 <= 1.0))
            vs = v + 3.0 + 0.25 * np.clip(pu, 0, None)
            lamina = (pu >= -0.5) & (pu < 8.0) & (np.abs(xs) < 16.0 - pu) & (np.abs(vs) < 9.0)
            spinous = (pu >= 0.0) & (pu < 32.0) & (np.abs(xs) < 4.0) & (
                np.abs(vs) < 8.0 - 0.08 * np.clip(pu, 0, None))
            post = ped | lamina | spinous
            # inner (marrow) part: shrink every boundary by the cortex thickness
            c = _CORTEX * 0.8
            ped_i = ((np.abs(xs) > _CANAL_HALF_W + 0.5 + c) & (np.abs(xs) < _CANAL_HALF_W + 7 - c)
                     & (u > BODY_HALF_D - 1 + c) & (pu < 2.0 - c)
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


# --------------------------------------------------------------------------- grids
@dataclass(frozen=True)
class Grid:
    """Geometry of one written series: per-slice origins, IOP, spacing."""

    origins: np.ndarray          # (n, 3) ImagePositionPatient per slice (sorted order)
    row_dir: np.ndarray
    col_dir: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, int]

    def points(self, k: int, dtype: type = np.float64
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient x, y, z (mm) of every pixel centre of slice ``k``, each (rows, cols)."""
        r: np.ndarray = np.arange(self.shape[0], dtype=dtype)[:, None]
        c: np.ndarray = np.arange(self.shape[1], dtype=dtype)[None, :]
        o = self.origins[k]
        out = [(o[i] + r * self.spacing[0] * self.col_dir[i]
                + c * self.spacing[1] * self.row_dir[i]).astype(dtype, copy=False)
               for i in range(3)]
        return out[0], out[1], out[2]

    def pixel_to_patient(self, k: int, rc: Sequence[float]) -> list[float]:
        """Patient position (mm) of pixel ``[row, col]`` of slice ``k``."""
        o = self.origins[k]
        p = o + rc[0] * self.spacing[0] * self.col_dir + rc[1] * self.spacing[1] * self.row_dir
        return [float(v) for v in p]

    def patient_to_pixel(self, yz_or_xyz: Sequence[float], k: int) -> tuple[float, float]:
        """``[row, col]`` of the projection of a patient point onto slice ``k``."""
        d = np.asarray(yz_or_xyz, dtype=np.float64) - self.origins[k]
        return (float(d @ self.col_dir / self.spacing[0]),
                float(d @ self.row_dir / self.spacing[1]))


def ds_value(v: float) -> float:
    """Round ``v`` as a written DS attribute holds it (so truth and files agree exactly)."""
    return float(ds_number(v))


def sagittal_grid(n: int, rows: int, cols: int) -> Grid:
    """Make a sagittal stack: IOP [0,1,0, 0,0,-1], slice ``n // 2`` at x = 0, 4.4 mm apart."""
    sr, sc = ds_value(FOV / rows), ds_value(FOV / cols)
    row_dir = np.array([0.0, 1.0, 0.0])     # columns run anterior -> posterior
    col_dir = np.array([0.0, 0.0, -1.0])    # rows run superior -> inferior
    # sorted index k has position (k - n//2) * spacing along the normal (-x)
    xs = [ds_value((n // 2 - k) * SLICE_SPACING) for k in range(n)]
    y0 = ds_value(-FOV / 2 + sc / 2)
    z0 = ds_value(FOV / 2 - sr / 2)
    origins = np.array([[x, y0, z0] for x in xs])
    return Grid(origins, row_dir, col_dir, (sr, sc), (rows, cols))


def axial_grid(n: int, rows: int, cols: int) -> Grid:
    """Make an axial stack: IOP [1,0,0, 0,1,0], centred on the L3-L4 disc, 4.4 mm apart."""
    sr, sc = ds_value(FOV / rows), ds_value(FOV / cols)
    row_dir = np.array([1.0, 0.0, 0.0])     # columns run right -> left
    col_dir = np.array([0.0, 1.0, 0.0])     # rows run anterior -> posterior
    z_mid = level_z("L3") - PITCH / 2      # centred on the L3-L4 disc
    zs = [ds_value(z_mid + (k - n // 2) * SLICE_SPACING) for k in range(n)]
    origins = np.array([[ds_value(-FOV / 2 + sc / 2), ds_value(-FOV / 2 + sr / 2), z] for z in zs])
    return Grid(origins, row_dir, col_dir, (sr, sc), (rows, cols))


def ds_number(v: float) -> str:
    """Format ``v`` as a Decimal String value (at most 16 characters)."""
    s = f"{v:.10g}"
    if len(s) > 16:
        s = f"{v:.8g}"
    return s
