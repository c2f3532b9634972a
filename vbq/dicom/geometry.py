"""Image-plane geometry: pixel ``[row, column]`` <-> patient coordinates (DICOM LPS, mm).

DICOM's Image Plane module fixes the conventions used here:

- ``ImagePositionPatient`` is the centre of the first transmitted pixel, ``[0, 0]``;
- the first three values of ``ImageOrientationPatient`` are the direction
  cosines of a *row* (the direction in which the **column index increases**), the
  last three those of a *column* (the direction in which the **row index
  increases**);
- ``PixelSpacing`` is ``[row spacing, column spacing]``: the distance between
  the centres of adjacent rows, then of adjacent columns.

So the centre of pixel ``[r, c]`` is at::

    P(r, c) = origin + r * PixelSpacing[0] * col_dir + c * PixelSpacing[1] * row_dir

References
----------
NEMA PS3.3, section C.7.6.2, Image Plane Module (Image Position and Image
Orientation); https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.2.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SliceGeometry", "plane_of", "volume_affine_ras", "LPS_TO_RAS"]

#: Multiply an LPS position by this (elementwise) to get RAS, and back.
LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def _unit(v: ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n < 1e-6:
        raise ValueError(f"{what} is not a direction vector: {a.tolist()}")
    return a / n


@dataclass(frozen=True, eq=False)
class SliceGeometry:
    """Where the pixels of one image plane are in patient space.

    Parameters
    ----------
    origin
        ``ImagePositionPatient``: centre of pixel ``[0, 0]``, LPS mm, shape (3,).
    row_dir
        ``ImageOrientationPatient[0:3]``: direction of increasing column index.
    col_dir
        ``ImageOrientationPatient[3:6]``: direction of increasing row index.
    spacing
        ``PixelSpacing``: (row spacing, column spacing) in mm.
    shape
        (rows, columns).

    Attributes
    ----------
    normal
        ``row_dir x col_dir`` (unit vector): the slice normal, whose dot product
        with ``origin`` orders the slices of a stack.
    """

    origin: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, int]
    normal: np.ndarray = field(init=False)
    _to_patient: np.ndarray = field(init=False, repr=False)
    _to_pixel: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        row_dir = _unit(self.row_dir, "ImageOrientationPatient row direction")
        col_dir = _unit(self.col_dir, "ImageOrientationPatient column direction")
        sr, sc = (float(s) for s in self.spacing)
        if not (sr > 0 and sc > 0):
            raise ValueError(f"PixelSpacing must be positive, got {self.spacing}")
        normal = np.cross(row_dir, col_dir)
        nn = float(np.linalg.norm(normal))
        if nn < 1e-6:
            raise ValueError("ImageOrientationPatient row and column directions are parallel")
        normal = normal / nn
        # columns of M map (row index, column index, distance along normal) -> offset in mm
        m = np.column_stack([col_dir * sr, row_dir * sc, normal])
        for name, value in (("origin", origin), ("row_dir", row_dir), ("col_dir", col_dir),
                            ("normal", normal)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "spacing", (sr, sc))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))
        object.__setattr__(self, "_to_patient", m)
        object.__setattr__(self, "_to_pixel", np.linalg.inv(m))

    @classmethod
    def from_dicom(cls, position: Sequence[float], orientation: Sequence[float],
                   spacing: Sequence[float], shape: Sequence[int]) -> SliceGeometry:
        """Build from the DICOM attribute values IPP, IOP, PixelSpacing and (Rows, Columns)."""
        iop = [float(v) for v in orientation]
        if len(iop) != 6:
            raise ValueError(f"ImageOrientationPatient needs 6 values, got {len(iop)}")
        return cls(origin=np.asarray([float(v) for v in position]), row_dir=np.asarray(iop[:3]),
                   col_dir=np.asarray(iop[3:]),
                   spacing=(float(spacing[0]), float(spacing[1])),
                   shape=(int(shape[0]), int(shape[1])))

    def moved_to(self, origin: ArrayLike) -> SliceGeometry:
        """Return this plane moved to another ``origin`` (same orientation, spacing, size)."""
        new = object.__new__(SliceGeometry)
        o = np.asarray(origin, dtype=np.float64).reshape(3)
        o.setflags(write=False)
        for name in ("row_dir", "col_dir", "spacing", "shape", "normal", "_to_patient",
                     "_to_pixel"):
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "origin", o)
        return new

    @property
    def position(self) -> float:
        """Position of the plane along its normal: ``origin . normal`` (mm)."""
        return float(self.origin @ self.normal)

    def pixel_to_patient(self, rc: ArrayLike) -> np.ndarray:
        """Map pixel coordinates ``[row, col]`` (..., 2) to patient LPS mm (..., 3)."""
        a = np.asarray(rc, dtype=np.float64)
        if a.shape[-1] != 2:
            raise ValueError(f"pixel coordinates need a last axis of length 2, got {a.shape}")
        m = self._to_patient
        return self.origin + a[..., :1] * m[:, 0] + a[..., 1:2] * m[:, 1]

    def patient_to_pixel(self, xyz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Map patient LPS mm (..., 3) to pixel ``[row, col]`` (..., 2) in this plane.

        Returns
        -------
        rc
            Float pixel coordinates of the point's projection onto the plane.
        distance
            Signed distance (mm) of the point from the plane along :attr:`normal`.
        """
        a = np.asarray(xyz, dtype=np.float64)
        if a.shape[-1] != 3:
            raise ValueError(f"patient coordinates need a last axis of length 3, got {a.shape}")
        local = (a - self.origin) @ self._to_pixel.T
        return local[..., :2], local[..., 2]

    def pixel_centres(self) -> np.ndarray:
        """Patient coordinates of every pixel centre, shape (rows, cols, 3)."""
        r = np.arange(self.shape[0], dtype=np.float64)
        c = np.arange(self.shape[1], dtype=np.float64)
        m = self._to_patient
        return (self.origin + r[:, None, None] * m[:, 0] + c[None, :, None] * m[:, 1])

    def same_plane_grid(self, other: SliceGeometry, tol: float = 1e-4) -> bool:
        """Tell whether ``other`` has the same orientation, spacing and shape (parallel grid)."""
        if self.shape != other.shape:
            return False
        if max(abs(a - b) for a, b in zip(self.spacing, other.spacing, strict=True)) > tol:
            return False
        diff = np.concatenate([self.row_dir - other.row_dir, self.col_dir - other.col_dir])
        return float(np.abs(diff).max()) <= tol


def plane_of(normal: ArrayLike, threshold: float = 0.7) -> str:
    """Name the anatomical plane whose normal is closest to ``normal``.

    The dominant LPS component of the slice normal decides: x -> ``"sagittal"``,
    y -> ``"coronal"``, z -> ``"axial"``. When no component exceeds
    ``threshold`` (about 45 degrees off every axis) the plane is ``"oblique"``.
    """
    n = np.abs(np.asarray(normal, dtype=np.float64).reshape(3))
    n = n / max(float(np.linalg.norm(n)), 1e-12)
    k = int(np.argmax(n))
    if n[k] < threshold:
        return "oblique"
    return ("sagittal", "coronal", "axial")[k]


def volume_affine_ras(geometries: Sequence[SliceGeometry]) -> np.ndarray:
    """4x4 RAS affine of a stack of parallel slices, voxel order ``[row, col, slice]``.

    Voxel ``(i, j, k)`` = row ``i``, column ``j`` of ``geometries[k]`` maps to
    RAS mm. This is what NIfTI (and nibabel) expect: LPS x and y are negated.
    The slices must be sorted along the normal and (nearly) evenly spaced; a
    single slice gets a unit step along its normal.
    """
    if not geometries:
        raise ValueError("no slices")
    g0 = geometries[0]
    if len(geometries) > 1:
        steps = np.diff(np.array([g.origin for g in geometries]), axis=0)
        step = steps.mean(axis=0)
        if not np.allclose(steps, step, atol=1e-3):
            raise ValueError("slices are not evenly spaced; no single affine describes them")
    else:
        step = g0.normal
    lps = np.eye(4)
    lps[:3, 0] = g0.col_dir * g0.spacing[0]
    lps[:3, 1] = g0.row_dir * g0.spacing[1]
    lps[:3, 2] = step
    lps[:3, 3] = g0.origin
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    return flip @ lps
