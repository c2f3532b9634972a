"""Pixel <-> patient geometry (DICOM PS3.3 C.7.6.2 conventions), checked by hand and round trip."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vbq.dicom.geometry import SliceGeometry, plane_of, volume_affine_ras


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def test_hand_computed_sagittal_pixel_centre():
    # IOP [0,1,0, 0,0,-1]: columns run posterior (+y), rows run inferior (-z).
    # PixelSpacing [0.5, 0.8] = [between rows, between columns].
    g = SliceGeometry.from_dicom([10.0, -100.0, 50.0], [0, 1, 0, 0, 0, -1], [0.5, 0.8], (64, 32))
    np.testing.assert_allclose(g.pixel_to_patient([2, 3]), [10.0, -100.0 + 3 * 0.8, 50.0 - 2 * 0.5])
    np.testing.assert_allclose(g.normal, [-1.0, 0.0, 0.0])
    assert g.position == pytest.approx(-10.0)
    rc, d = g.patient_to_pixel([12.5, -97.6, 49.0])
    np.testing.assert_allclose(rc, [2.0, 3.0], atol=1e-12)
    assert d == pytest.approx(-2.5)


def test_hand_computed_axial_pixel_centre():
    # standard axial: columns run to patient left (+x), rows run posterior (+y)
    g = SliceGeometry.from_dicom([-120.0, -90.0, 33.0], [1, 0, 0, 0, 1, 0], [0.9, 0.7], (10, 10))
    np.testing.assert_allclose(g.pixel_to_patient([[0, 0], [1, 0], [0, 1]]),
                               [[-120, -90, 33], [-120, -89.1, 33], [-119.3, -90, 33]])
    np.testing.assert_allclose(g.normal, [0, 0, 1])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sr=st.floats(0.2, 3.0), sc=st.floats(0.2, 3.0))
def test_round_trip_on_oblique_planes(seed, sr, sc):
    rng = np.random.default_rng(seed)
    rot = _rotation(rng)
    origin = rng.uniform(-200, 200, 3)
    g = SliceGeometry(origin=origin, row_dir=rot[:, 0], col_dir=rot[:, 1], spacing=(sr, sc),
                      shape=(100, 120))
    rc = rng.uniform(-10, 130, (7, 2))
    xyz = g.pixel_to_patient(rc)
    back, dist = g.patient_to_pixel(xyz)
    np.testing.assert_allclose(back, rc, atol=1e-9)
    np.testing.assert_allclose(dist, 0.0, atol=1e-9)
    # a point off the plane: same pixel, signed distance along the normal
    off = rng.uniform(-20, 20, 7)
    back2, dist2 = g.patient_to_pixel(xyz + off[:, None] * g.normal)
    np.testing.assert_allclose(back2, rc, atol=1e-9)
    np.testing.assert_allclose(dist2, off, atol=1e-9)
    # moving one row moves sr mm along col_dir; one column sc mm along row_dir
    p0, p1, p2 = g.pixel_to_patient([[0, 0], [1, 0], [0, 1]])
    np.testing.assert_allclose(p1 - p0, sr * g.col_dir, atol=1e-12)
    np.testing.assert_allclose(p2 - p0, sc * g.row_dir, atol=1e-12)


def test_pixel_centres_grid_matches_pointwise():
    rng = np.random.default_rng(3)
    rot = _rotation(rng)
    g = SliceGeometry(origin=[1.0, 2.0, 3.0], row_dir=rot[:, 0], col_dir=rot[:, 1],
                      spacing=(0.7, 1.3), shape=(5, 4))
    grid = g.pixel_centres()
    assert grid.shape == (5, 4, 3)
    np.testing.assert_allclose(grid[3, 2], g.pixel_to_patient([3, 2]))


@pytest.mark.parametrize(("normal", "plane"), [
    ([1, 0, 0], "sagittal"), ([-0.95, 0.2, 0.1], "sagittal"), ([0, 1, 0], "coronal"),
    ([0.1, 0.05, -0.99], "axial"), ([0.6, 0.6, 0.52], "oblique"),
])
def test_plane_of(normal, plane):
    assert plane_of(normal) == plane


def test_volume_affine_ras_maps_voxels_to_lps_with_xy_flipped():
    import nibabel as nib

    rng = np.random.default_rng(5)
    rot = _rotation(rng)
    step = 4.4 * np.cross(rot[:, 0], rot[:, 1])
    geoms = [SliceGeometry(origin=np.array([5.0, -7.0, 11.0]) + k * step, row_dir=rot[:, 0],
                           col_dir=rot[:, 1], spacing=(0.5, 0.6), shape=(20, 30))
             for k in range(6)]
    aff = volume_affine_ras(geoms)
    for i, j, k in [(0, 0, 0), (19, 29, 5), (7, 3, 2)]:
        ras = nib.affines.apply_affine(aff, [i, j, k])
        lps = geoms[k].pixel_to_patient([i, j])
        np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-9)


def test_volume_affine_rejects_uneven_spacing():
    g = [SliceGeometry(origin=[x, 0, 0], row_dir=[0, 1, 0], col_dir=[0, 0, -1], spacing=(1, 1),
                       shape=(4, 4)) for x in (0.0, 1.0, 3.0)]
    with pytest.raises(ValueError, match="evenly spaced"):
        volume_affine_ras(g)


def test_invalid_orientation_is_rejected():
    with pytest.raises(ValueError, match="parallel"):
        SliceGeometry.from_dicom([0, 0, 0], [1, 0, 0, 1, 0, 0], [1, 1], (2, 2))
    with pytest.raises(ValueError, match="6 values"):
        SliceGeometry.from_dicom([0, 0, 0], [1, 0, 0, 0, 1], [1, 1], (2, 2))
