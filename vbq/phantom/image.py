"""Signal intensities, shading, blur and Rician noise of the phantom's images.

Internal to :mod:`vbq.phantom`: turns a tissue label map into a magnitude image
for one contrast (T1, T2, post-contrast T1).

References
----------
Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson
Med. 1995;34(6):910-914. doi:10.1002/mrm.1910340618
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vbq.phantom.anatomy import LEVEL_FACTOR, LEVELS, TISSUE, Y_L3, Grid


# --------------------------------------------------------------------------- contrasts
@dataclass(frozen=True)
class Contrast:
    """One acquisition: description, signal per tissue, TR/TE, echo train, contrast agent."""

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


def contrasts(vbq: float, field_strength: float) -> dict[str, Contrast]:
    """Define the acquisitions t1, t2, t1_post, axial; T1 marrow = ``vbq`` x CSF signal."""
    csf = 100.0
    marrow = vbq * csf
    three_t = field_strength >= 2.0
    tr1, te1 = (700.0, 9.0) if three_t else (520.0, 12.0)
    t1 = Contrast("t1", "T1 SAG TSE", _t1_signals(marrow, csf), tr1, te1, 3)
    post_table = _t1_signals(marrow * 1.12, csf * 1.02)
    post_table.update({"annulus": 150.0, "nucleus": 160.0, "cord": 250.0, "muscle": 175.0,
                       "vessel": 320.0, "abdomen": 260.0})
    post = Contrast("t1_post", "T1 SAG +C POST GAD", post_table, tr1, te1, 3,
                     contrast_agent="Gadoterate meglumine")
    t2_table = {"air": 0.0, "fat": 330.0, "muscle": 90.0, "abdomen": 200.0, "ligament": 30.0,
                "cortex": 30.0, "marrow": 0.9 * marrow, "posterior_marrow": 0.8 * marrow,
                "annulus": 110.0, "nucleus": 520.0, "csf": 900.0, "cord": 330.0,
                "vessel": 40.0}
    t2 = Contrast("t2", "T2 SAG TSE", t2_table, 3500.0 if not three_t else 3200.0,
                   100.0 if not three_t else 95.0, 17)
    axial = Contrast("axial", "T1 AX TSE", _t1_signals(marrow, csf), tr1, te1, 3)
    return {"t1": t1, "t2": t2, "t1_post": post, "axial": axial}


# --------------------------------------------------------------------------- rendering
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
                  ) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    sd = float(f.std())
    return f / sd if sd > 0 else f


def coil_shading(y: np.ndarray | float) -> np.ndarray | float:
    """Smooth receive-coil shading: brighter posteriorly (spine coil in the table)."""
    return 1.0 + 0.08 * (np.asarray(y) - Y_L3) / 100.0


def render_series(grid: Grid, labels: list[tuple[np.ndarray, np.ndarray]],
                   contrast: Contrast, rng: np.random.Generator, noise_sd: float,
                   compensate: Callable[[int], float], csf_comp: float) -> list[np.ndarray]:
    """Noisy magnitude images (float) for every slice of a grid."""
    from scipy.ndimage import gaussian_filter

    lut = np.zeros(len(TISSUE), dtype=np.float64)
    for name, code in TISSUE.items():
        lut[code] = contrast.table[name]
    level_factor = np.array([LEVEL_FACTOR[n] * compensate(i) for i, n in enumerate(LEVELS)])
    blur = 0.55 * (max(grid.shape) / 256.0)
    # two smooth random fields per series; each slice sees them shifted by a random offset
    bone_tex = _smooth_noise(rng, grid.shape, 1.5 / grid.spacing[0])
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
        img[bone] *= 1.0 + 0.015 * np.roll(bone_tex, shift, axis=(0, 1))[bone]
        abd = tissue == TISSUE["abdomen"]
        if abd.any():
            img[abd] *= np.roll(abd_tex, shift[::-1], axis=(0, 1))[abd]
        csf = tissue == TISSUE["csf"]
        img[csf] *= csf_comp
        _, y, _ = grid.points(k)
        img *= coil_shading(y)
        img = gaussian_filter(img, blur)
        n1 = rng.standard_normal(grid.shape) * noise_sd
        n2 = rng.standard_normal(grid.shape) * noise_sd
        out.append(np.hypot(img + n1, n2))
    return out
