"""The anatomy of the realistic lumbar phantom (part of :mod:`vbq.phantom`).

A lumbar spine drawn from a seed, harder to measure than the clinical images it
imitates: vertebral bodies T11 to S2 with wedged, tilted bodies, concave
endplates and an anterior waist, a cortical shell of variable thickness, the
basivertebral vein, Modic zones, haemangiomas and focal fat; discs (normal,
dark and degenerated, or close to marrow in signal) with posterior bulges; the
posterior longitudinal ligament, anterior and posterior epidural fat, the dura
and thecal sac with the cord, the conus and the roots of the cauda equina;
laminae, spinous processes and the ligamentum flavum; muscle, fat, the aorta
and the abdomen. The spine may be scoliotic (a lateral curve) and is placed in
the scanner with a rotation, so that sagittal slices cut it obliquely.

Coordinates: the anatomy frame is LPS millimetres (x left, y posterior, z
superior) with the spine's mid-sagittal plane at ``x = 0``; :class:`Anatomy`
carries the rotation and shift that place it in the patient frame of the scan.
:func:`classify` says which tissue (a code of :data:`CODES`) and which vertebra
is at any set of anatomy-frame points.

References
----------
Modic MT, Steinberg PM, Ross JS, Masaryk TJ, Carter JR. Degenerative disk
disease: assessment of changes in vertebral body marrow with MR imaging.
Radiology. 1988;166(1):193-199. doi:10.1148/radiology.166.1.3336678

Wáng YXJ, Wu AM, Ruiz Santiago F, Nogueira-Barbosa MH. Informed appropriate
imaging for low back pain management: a narrative review. J Orthop Translat.
2018;15:21-34. doi:10.1016/j.jot.2018.07.009
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vbq.errors import InputError

# --------------------------------------------------------------------------- codes
#: Tissue codes of the realistic phantom's label maps (``PhantomInfo.tissue``).
CODES: dict[str, int] = {
    "air": 0, "fat": 1, "muscle": 2, "abdomen": 3, "ligament": 4, "cortex": 5,
    "marrow": 6, "posterior_marrow": 7, "annulus": 8, "nucleus": 9, "csf": 10, "cord": 11,
    "vessel": 12, "epidural_fat": 13, "dura": 14, "root": 15, "flavum": 16,
    "vein": 17, "vein_fat": 18, "modic": 19, "haemangioma": 20, "haemangioma_strut": 21,
    "fat_island": 22, "pll": 23, "modic_fat": 24,
}
_C = CODES
#: Codes that belong to a vertebral body (painted with that body's level index).
BODY_CODES: tuple[int, ...] = (_C["cortex"], _C["marrow"], _C["vein"], _C["vein_fat"],
                               _C["modic"], _C["modic_fat"], _C["haemangioma"],
                               _C["haemangioma_strut"], _C["fat_island"])
#: Focal structures inside a body that the reference ROI keeps clear of.
LESION_CODES: tuple[int, ...] = (_C["vein"], _C["vein_fat"], _C["modic"], _C["modic_fat"],
                                 _C["haemangioma"], _C["haemangioma_strut"], _C["fat_island"])
#: Codes whose signal scales with the level's marrow signal.
MARROW_CODES: tuple[int, ...] = (_C["marrow"], _C["posterior_marrow"], _C["modic"],
                                 _C["modic_fat"], _C["haemangioma"], _C["fat_island"],
                                 _C["vein_fat"])

LEVELS: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2")
SCORED: tuple[str, ...] = ("L1", "L2", "L3", "L4")
TSS_LABEL: dict[str, int] = {"T11": 31, "T12": 32, "L1": 41, "L2": 42, "L3": 43, "L4": 44,
                             "L5": 45, "S1": 50, "S2": 50}

#: The variants: each is on or off; :func:`parse_variants` reads them.
VARIANTS: dict[str, str] = {
    "epidural_fat": "anterior (1.5-4 mm at L3) and posterior (peaks of 4-7 mm) epidural fat",
    "dark_cortex": "thick cortex and posterior longitudinal ligament, CSF only slightly "
                   "brighter than both (0.7-0.85 of CSF)",
    "basivertebral_vein": "a dark or bright channel at the posterior centre of every body",
    "heterogeneous_marrow": "marrow texture of 8-14 % and focal fat islands",
    "fatty_marrow": "diffuse fatty marrow: marrow 25 % brighter, VBQ towards 4.5",
    "modic": "Modic zones (type 1 dark or type 2 bright) on both sides of one or two discs",
    "haemangioma": "one or two bright haemangiomas with dark struts",
    "degenerated_discs": "dark, thin, bulging discs (nucleus about as dark as CSF)",
    "disc_like_marrow": "discs whose signal is within 5-15 % of the adjacent marrow",
    "scoliosis": "a lateral curve of 3-7 mm across L1-L4",
    "obliquity": "the spine rotated 2-6 degrees in the scanner and off the slice centres",
    "lordosis": "bodies tilted 5-20 degrees",
    "coil_shading": "strong receive-coil shading, falling by a third anteriorly",
    "eight_bit": "pixels stored in 8 bits (BitsStored 8, 256 levels)",
    "low_res": "2 mm acquired in-plane resolution interpolated, 5 mm slices 6 mm apart",
    "partial_volume": "supersampled rendering (partial volume through the slice and at edges)",
    "conus": "the conus ending at the L1-L2 disc (else at T12-L1)",
    "cauda_equina": "the roots of the cauda equina below the conus",
    "csf_in_fat": "rois.json's CSF ROI put in the anterior epidural fat (a fooled reader)",
}
#: Variants a random draw never switches on (they describe the reader, not the anatomy).
_NOT_RANDOM = ("csf_in_fat",)


def parse_variants(variants: str | Iterable[str] | Mapping[str, bool] | None,
                   seed: int) -> dict[str, bool]:
    """Read the variants: ``None``/``"none"``, ``"all"``, ``"random"``, names or a mapping.

    ``"random"`` draws each variant (except ``csf_in_fat``) on with probability
    1/2 from ``seed``; names may be combined with it (``"random,csf_in_fat"``)
    and a name prefixed with ``no_`` (``"all,no_eight_bit"``) turns one off.
    ``csf_in_fat`` needs epidural fat and switches it on.

    Raises
    ------
    InputError
        For an unknown variant name.
    """
    on = dict.fromkeys(VARIANTS, False)
    if variants is None:
        items: list[str] = []
    elif isinstance(variants, Mapping):
        for name, value in variants.items():
            if name not in VARIANTS:
                raise InputError(f"unknown phantom variant {name!r}; choose from "
                                 f"{', '.join(VARIANTS)}, all, random or none")
            on[name] = bool(value)
        items = []
    elif isinstance(variants, str):
        items = [v.strip() for v in variants.split(",") if v.strip()]
    else:
        items = [str(v).strip() for v in variants]
    for item in items:
        if item == "none":
            continue
        if item == "all":
            on.update({k: k not in _NOT_RANDOM for k in VARIANTS})
        elif item == "random":
            draw = np.random.default_rng([int(seed), 7]).random(len(VARIANTS))
            on.update({k: bool(p < 0.5) and k not in _NOT_RANDOM
                       for k, p in zip(VARIANTS, draw, strict=True)})
        elif item.startswith("no_") and item[3:] in VARIANTS:
            on[item[3:]] = False
        elif item in VARIANTS:
            on[item] = True
        else:
            raise InputError(f"unknown phantom variant {item!r}; choose from "
                             f"{', '.join(VARIANTS)}, all, random or none")
    if on["csf_in_fat"]:
        on["epidural_fat"] = True
    return on


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Body:
    """One vertebral body: centre (anatomy frame), tilt and shape, all in mm."""

    name: str
    x: float
    y: float
    z: float
    tilt: float          # radians; positive: the superior axis leans posteriorly
    half_h: float        # half height at the body's centre line
    half_d: float        # half antero-posterior depth
    half_w: float        # half left-right width
    wedge: float         # anterior minus posterior half height
    concavity: float     # central depth of each endplate
    waist: float         # depth of the anterior wall's concavity
    cortex: float        # thickness of the cortical shell and endplates
    corner: float        # corner radius

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """(y, z) unit vectors: antero-posterior (posterior +) and axial (superior +)."""
        s, c = math.sin(self.tilt), math.cos(self.tilt)
        return np.array([c, -s]), np.array([s, c])

    def half_height(self, u: np.ndarray | float) -> np.ndarray:
        """Half height at antero-posterior position ``u`` (wedge and endplate concavity)."""
        uu = np.asarray(u, dtype=np.float64)
        rel = np.clip(uu / self.half_d, -1.0, 1.0)
        return (self.half_h - 0.5 * self.wedge * rel
                - self.concavity * np.clip(1.0 - rel * rel, 0.0, None))

    def point(self, u: float, v: float) -> tuple[float, float, float]:
        """Anatomy-frame point at local (u, v) on the body's mid-sagittal plane."""
        a, t = self.axes()
        return (self.x, self.y + u * a[0] + v * t[0], self.z + u * a[1] + v * t[1])


@dataclass(frozen=True)
class Disc:
    """The disc between two bodies: state and signal factors."""

    upper: int
    lower: int
    degenerated: bool
    like_marrow: bool
    bulge: float


@dataclass(frozen=True)
class Anatomy:
    """A drawn spine: bodies, discs, canal, lesions, signal and pose; see :func:`draw_anatomy`."""

    variants: dict[str, bool]
    bodies: tuple[Body, ...]
    discs: tuple[Disc, ...]
    spline_z: np.ndarray
    spline_y: np.ndarray
    lateral_coef: tuple[float, float, float, float]   # x = a2 z^2 + a1 z + a0, for z in range
    pll: float
    fat_front: tuple[float, float]                     # anterior fat at L3, growth per 100 mm
    fat_back: tuple[float, float]                      # posterior fat: base, peak at discs
    sac_half_d: float
    sac_half_w: float
    conus_z: float
    roots: tuple[tuple[float, float, float], ...]      # (x at conus, AP offset, radius)
    veins: dict[int, tuple[float, float, bool]]        # level -> (length, height, dark)
    modic: tuple[tuple[int, int, float, float, float, int], ...]
    haemangiomas: tuple[tuple[int, float, float, float, float], ...]
    fat_islands: tuple[tuple[int, float, float, float, float], ...]
    marrow: dict[int, float]                          # level index -> marrow signal
    signal: dict[str, float]
    disc_signal: dict[int, tuple[float, float]]       # upper level -> (annulus, nucleus)
    target_vbq: float
    yaw: float
    roll: float
    fat_thickness: float
    texture: float
    extras: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- curve
    def curve(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre line of the column: y at z and dy/dz (a cubic through the body centres)."""
        from scipy.interpolate import CubicSpline

        cs = CubicSpline(self.spline_z, self.spline_y, bc_type="natural", extrapolate=True)
        zc = np.clip(z, self.spline_z[0] - 60.0, self.spline_z[-1] + 60.0)
        return cs(zc), cs(zc, 1)

    def lateral(self, z: np.ndarray | float) -> np.ndarray:
        """Scoliotic lateral offset of the column (x, mm) at height z."""
        a2, a1, a0, _ = self.lateral_coef
        lo, hi = self.extras["lateral_z_range"]
        zz = np.clip(np.asarray(z, dtype=np.float64), lo, hi)
        return a2 * zz ** 2 + a1 * zz + a0

    def body(self, name: str) -> Body:
        """Return the body of level ``name``."""
        return self.bodies[LEVELS.index(name)]

    def rotation(self) -> np.ndarray:
        """Rotation from the anatomy frame to the patient frame (yaw about z, roll about y)."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cr, 0.0, sr], [0.0, 1.0, 0.0], [-sr, 0.0, cr]])
        return rz @ ry

    def canal_front(self, z: np.ndarray) -> np.ndarray:
        """Posterior wall of the bodies (AP distance from the centre line) at height z."""
        zs = np.array([b.z for b in self.bodies])[::-1]
        ds = np.array([b.half_d for b in self.bodies])[::-1]
        return np.interp(z, zs, ds)

    def fat_front_at(self, z: np.ndarray) -> np.ndarray:
        """Thickness of the anterior epidural fat at height z."""
        base, grow = self.fat_front
        z3 = self.body("L3").z
        return np.clip(base + grow * (z3 - z) / 100.0, 0.0, 6.0)

    def fat_back_at(self, z: np.ndarray) -> np.ndarray:
        """Thickness of the posterior epidural fat (peaks behind the discs) at height z."""
        base, peak = self.fat_back
        bump = np.zeros_like(z)
        for d in self.discs:
            zd = 0.5 * (self.bodies[d.upper].z + self.bodies[d.lower].z)
            bump = np.maximum(bump, np.exp(-(((z - zd) / 7.0) ** 2)))
        return base + peak * bump

    def sac_centre_u(self, z: np.ndarray) -> np.ndarray:
        """AP distance of the thecal sac's centre from the column's centre line."""
        return self.canal_front(z) + self.pll + self.fat_front_at(z) + self.sac_half_d


# --------------------------------------------------------------------------- drawing
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def draw_anatomy(seed: int, variants: dict[str, bool], vbq: float | None,
                 field_strength: float) -> Anatomy:
    """Draw every parameter of a spine from ``seed``; variants switch features on.

    Every parameter is drawn whatever the variants, in a fixed order, so turning
    one variant on or off leaves the rest of the anatomy as it was.
    """
    rng = np.random.default_rng([int(seed), 1])
    on = variants
    # ---- curve and bodies
    lordosis = _u(rng, 12.0, 20.0) if on["lordosis"] else _u(rng, 3.0, 6.0)
    profile = {"T11": -0.55, "T12": -0.45, "L1": -0.4, "L2": -0.15, "L3": 0.15, "L4": 0.5,
               "L5": 1.0}
    jitter = rng.uniform(-2.0, 2.0, len(LEVELS))
    heights = {"T11": 22.0, "T12": 23.0, "L1": 24.5, "L2": 25.5, "L3": 26.0, "L4": 26.0,
               "L5": 25.0, "S1": 28.0, "S2": 20.0}
    depths = {"T11": 14.5, "T12": 15.0, "L1": 15.5, "L2": 16.0, "L3": 16.5, "L4": 17.0,
              "L5": 17.0, "S1": 19.0, "S2": 15.0}
    scale_h, scale_d = _u(rng, 0.92, 1.08), _u(rng, 0.92, 1.08)
    h_j = rng.uniform(-1.0, 1.0, len(LEVELS))
    d_j = rng.uniform(-0.8, 0.8, len(LEVELS))
    wedge_j = rng.uniform(-1.0, 1.5, len(LEVELS))
    conc = rng.uniform(0.6, 1.6, len(LEVELS))
    waist = rng.uniform(0.5, 1.5, len(LEVELS))
    thick_cortex = rng.uniform(1.6, 2.2, len(LEVELS))
    thin_cortex = rng.uniform(0.9, 1.2, len(LEVELS))
    sacral_tilt = _u(rng, 32.0, 42.0)
    disc_h = rng.uniform(8.5, 11.0, len(LEVELS))
    degen_h = rng.uniform(4.5, 6.0, len(LEVELS))
    degen_pick = rng.permutation([2, 3, 4, 5, 6])[:3]     # discs below L1..L5 (upper index)
    like_pick = rng.permutation([2, 3, 4, 5])[:3]
    bulge = rng.uniform(0.5, 1.2, len(LEVELS))
    bulge_degen = rng.uniform(2.0, 3.5, len(LEVELS))
    y3, z3 = _u(rng, -15.0, -9.0), _u(rng, -6.0, 6.0)

    tilts, hh, hd, wedges, cortex = {}, {}, {}, {}, {}
    for i, name in enumerate(LEVELS):
        if name == "S1":
            tilt = -sacral_tilt
        elif name == "S2":
            tilt = -sacral_tilt - 12.0
        else:
            tilt = -lordosis * profile[name] + jitter[i]
        tilts[name] = math.radians(tilt)
        hh[name] = 0.5 * heights[name] * scale_h + h_j[i]
        hd[name] = depths[name] * scale_d + d_j[i]
        wedges[name] = (2.0 * abs(tilt) / 10.0 if name.startswith("L") else 0.0) * (
            1.0 if tilt < 0 else -0.5) + wedge_j[i]
        cortex[name] = float(thick_cortex[i] if on["dark_cortex"] else thin_cortex[i])

    def gap_below(i: int) -> float:
        if LEVELS[i] == "S1":
            return 1.5
        if on["degenerated_discs"] and i in degen_pick:
            return float(degen_h[i])
        return float(disc_h[i])

    def make_body(i: int, y: float, z: float) -> Body:
        n = LEVELS[i]
        return Body(n, 0.0, y, z, tilts[n], hh[n], hd[n], 24.0 if n.startswith("L") else 21.0,
                    wedges[n], float(conc[i]), float(waist[i]), cortex[n],
                    min(3.0, cortex[n] + 1.5))

    i3 = LEVELS.index("L3")
    placed: dict[int, Body] = {i3: make_body(i3, y3, z3)}

    def corner_gap(up: Body, low: Body) -> float:
        gaps = []
        for sgn in (-1.0, 1.0):
            uu = up.point(sgn * up.half_d, -float(up.half_height(sgn * up.half_d)))
            ll = low.point(sgn * low.half_d, float(low.half_height(sgn * low.half_d)))
            gaps.append(uu[2] - ll[2])
        mid_u = up.point(0.0, -float(up.half_height(0.0)))
        mid_l = low.point(0.0, float(low.half_height(0.0)))
        gaps.append(mid_u[2] - mid_l[2])
        return min(gaps)

    for i in range(i3 - 1, -1, -1):          # upwards
        low = placed[i + 1]
        gap = gap_below(i)
        t_mean = 0.5 * (tilts[LEVELS[i]] + low.tilt)
        step = low.half_h + gap + hh[LEVELS[i]]
        cand = make_body(i, low.y + step * math.sin(t_mean), low.z + step * math.cos(t_mean))
        deficit = min(gap, 3.0) - corner_gap(cand, low)
        if deficit > 0:
            cand = make_body(i, cand.y, cand.z + deficit)
        placed[i] = cand
    for i in range(i3 + 1, len(LEVELS)):     # downwards
        up = placed[i - 1]
        gap = gap_below(i - 1)
        t_mean = 0.5 * (tilts[LEVELS[i]] + up.tilt)
        step = up.half_h + gap + hh[LEVELS[i]]
        cand = make_body(i, up.y - step * math.sin(t_mean), up.z - step * math.cos(t_mean))
        deficit = min(gap, 1.0 if LEVELS[i] == "S2" else 3.0) - corner_gap(up, cand)
        if deficit > 0:
            cand = make_body(i, cand.y, cand.z - deficit)
        placed[i] = cand
    bodies = [placed[i] for i in range(len(LEVELS))]

    # ---- scoliosis: a lateral curve with no mean or linear trend across L1-L4
    amp = _u(rng, 3.0, 7.0) * (1 if rng.random() < 0.5 else -1)
    zs = np.array([bodies[LEVELS.index(n)].z for n in SCORED])
    zm = float(zs.mean())
    if on["scoliosis"]:
        q = ((zs - zm) / 51.0) ** 2
        # x = amp*((z-zm)/51)^2 minus its least-squares line through the four centres
        b1, b0 = np.polyfit(zs, amp * q, 1)
        a2 = amp / 51.0 ** 2
        coef = (a2, -2.0 * a2 * zm - float(b1), a2 * zm * zm - float(b0), zm)
    else:
        coef = (0.0, 0.0, 0.0, zm)
    z_range = (float(zs.min()) - 20.0, float(zs.max()) + 20.0)

    def lat(z: float) -> float:
        zz = min(max(z, z_range[0]), z_range[1])
        return float(coef[0] * zz ** 2 + coef[1] * zz + coef[2])

    bodies = [Body(b.name, lat(b.z), b.y, b.z,
                   b.tilt, b.half_h, b.half_d, b.half_w, b.wedge, b.concavity, b.waist,
                   b.cortex, b.corner) for b in bodies]

    discs = []
    for i in range(len(LEVELS) - 1):
        if LEVELS[i] == "S1":
            continue
        deg = bool(on["degenerated_discs"] and i in degen_pick)
        like = bool(on["disc_like_marrow"] and i in like_pick and not deg)
        discs.append(Disc(i, i + 1, deg, like, float(bulge_degen[i] if deg else bulge[i])))

    # ---- canal
    pll = _u(rng, 1.8, 2.6) if on["dark_cortex"] else _u(rng, 0.8, 1.2)
    fat_front = (_u(rng, 1.5, 4.0), _u(rng, 1.0, 3.0)) if on["epidural_fat"] else (0.0, 0.0)
    if on["csf_in_fat"]:   # room for a reader's ROI in the fat in front of the sac at L3
        fat_front = (max(fat_front[0], 4.5), fat_front[1])
    fat_back = (_u(rng, 1.5, 2.5), _u(rng, 3.0, 5.0)) if on["epidural_fat"] else (
        _u(rng, 0.6, 1.0), _u(rng, 0.5, 1.0))
    sac_half_d, sac_half_w = _u(rng, 6.5, 8.0), _u(rng, 9.0, 11.0)
    l1, l2, t12 = (bodies[LEVELS.index(n)] for n in ("L1", "L2", "T12"))
    conus_lo = 0.5 * (l1.z - l1.half_h + l2.z + l2.half_h)
    conus_hi = 0.5 * (t12.z - t12.half_h + l1.z + l1.half_h)
    conus_z = (conus_lo + _u(rng, -2.0, 3.0)) if on["conus"] else (conus_hi + _u(rng, -2.0, 3.0))
    n_roots = 12
    rx = rng.uniform(-6.5, 6.5, n_roots)
    rx[:3] = rng.uniform(-1.2, 1.2, 3)              # filum and roots near the midline
    rx[0] = _u(rng, -0.3, 0.3)
    ru = rng.uniform(0.05, 0.75, n_roots)
    rr = rng.uniform(0.55, 0.85, n_roots)
    roots = tuple((float(a), float(b), float(c)) for a, b, c in zip(rx, ru, rr, strict=True)
                  ) if on["cauda_equina"] else ()

    # ---- lesions
    vein_dark = bool(rng.random() < 0.5)
    vein_len = rng.uniform(7.0, 11.0, len(LEVELS))
    vein_h = rng.uniform(2.0, 3.2, len(LEVELS))
    veins = ({i: (float(vein_len[i]), float(vein_h[i]), vein_dark)
              for i, n in enumerate(LEVELS) if n in ("T12", "L1", "L2", "L3", "L4", "L5")}
             if on["basivertebral_vein"] else {})
    modic_discs = rng.permutation([2, 3, 4, 5])[: int(rng.integers(1, 3))]
    modic_list = []
    for i in modic_discs:
        mtype = int(rng.integers(1, 3))
        for lev, side in ((int(i), -1), (int(i) + 1, 1)):
            depth = _u(rng, 3.0, 7.0)
            u0 = _u(rng, -1.0, -0.2)
            u1 = _u(rng, 0.1, 1.0)
            modic_list.append((lev, side, depth, u0, u1, mtype))
    modic = tuple(modic_list) if on["modic"] else ()
    haem_list = []
    for _k in range(int(rng.integers(1, 3))):
        lev = int(rng.integers(2, 6))
        haem_list.append((lev, _u(rng, -0.45, 0.1), _u(rng, -0.4, 0.4), _u(rng, -8.0, 8.0),
                          _u(rng, 3.0, 5.5)))
    haemangiomas = tuple(haem_list) if on["haemangioma"] else ()
    isl = []
    for lev in range(1, 7):
        for _k in range(3):
            isl.append((lev, _u(rng, -0.7, 0.6), _u(rng, -0.7, 0.7), _u(rng, -10.0, 10.0),
                        _u(rng, 1.2, 2.2)))
    fat_islands = tuple(isl) if on["heterogeneous_marrow"] else ()

    # ---- signal (T1 TSE, arbitrary scanner units)
    three_t = field_strength >= 2.0
    csf = _u(rng, 150.0, 200.0) * (1.35 if three_t else 1.0)
    base_vbq = _u(rng, 2.0, 3.6) if vbq is None else float(vbq)
    target = base_vbq * (1.25 if (on["fatty_marrow"] and vbq is None) else 1.0)
    marrow = target * csf
    a, b = sorted(rng.uniform(0.0, 0.08, 2))[::-1]
    factors = [1.0 + a, 1.0 - b, 1.0 + b, 1.0 - a]   # median of the four is exactly 1
    order = rng.permutation(4)
    level_marrow = {LEVELS.index(n): marrow * factors[order[j]] for j, n in enumerate(SCORED)}
    for n, f in (("T11", _u(rng, 0.9, 1.1)), ("T12", _u(rng, 0.9, 1.1)),
                 ("L5", _u(rng, 0.95, 1.15)), ("S1", _u(rng, 1.0, 1.2)),
                 ("S2", _u(rng, 1.0, 1.25))):
        level_marrow[LEVELS.index(n)] = marrow * f
    fat = max(_u(rng, 5.5, 7.0) * csf, 1.3 * marrow * 1.1)
    dark = on["dark_cortex"]
    signal = {
        "air": 0.0, "fat": fat, "epidural_fat": fat * _u(rng, 0.85, 0.95),
        "muscle": _u(rng, 2.0, 2.6) * csf, "abdomen": _u(rng, 2.2, 3.0) * csf,
        "ligament": (_u(rng, 0.7, 0.85) if dark else _u(rng, 0.25, 0.4)) * csf,
        "cortex": (_u(rng, 0.7, 0.85) if dark else _u(rng, 0.2, 0.35)) * csf,
        "pll": (_u(rng, 0.72, 0.85) if dark else _u(rng, 0.3, 0.45)) * csf,
        "csf": csf, "cord": _u(rng, 2.2, 2.7) * csf, "root": _u(rng, 1.8, 2.4) * csf,
        "vessel": 0.25 * csf, "dura": 0.6 * csf, "flavum": _u(rng, 1.4, 1.8) * csf,
        "vein": (0.3 if vein_dark else 1.0) * csf, "haemangioma_strut": 0.35 * csf,
    }
    rel = {"marrow": 1.0, "posterior_marrow": _u(rng, 0.88, 0.96),
           "vein_fat": _u(rng, 1.3, 1.45), "fat_island": _u(rng, 1.3, 1.45),
           "haemangioma": _u(rng, 1.45, 1.7)}
    rel_modic = {1: _u(rng, 0.45, 0.6), 2: _u(rng, 1.35, 1.55)}
    annulus, nucleus = _u(rng, 1.4, 1.7) * csf, _u(rng, 1.8, 2.3) * csf
    disc_signal = {}
    for d in discs:
        if d.degenerated:
            disc_signal[d.upper] = (_u(rng, 1.0, 1.2) * csf, _u(rng, 0.85, 1.05) * csf)
        elif d.like_marrow:
            m = 0.5 * (level_marrow.get(d.upper, marrow) + level_marrow.get(d.lower, marrow))
            disc_signal[d.upper] = (_u(rng, 0.82, 0.88) * m, _u(rng, 0.88, 0.95) * m)
        else:
            disc_signal[d.upper] = (annulus, nucleus)
    yaw = math.radians(_u(rng, 2.0, 6.0) * (1 if rng.random() < 0.5 else -1))
    roll = math.radians(_u(rng, 1.5, 4.0) * (1 if rng.random() < 0.5 else -1))
    extras = {"offset_mm": _u(rng, -2.0, 2.0), "slice_shift": float(rng.integers(-1, 2)),
              "coil_depth": _u(rng, 70.0, 110.0), "coil_floor": _u(rng, 0.45, 0.6),
              "coil_phase": _u(rng, 0.0, 2 * math.pi), "eight_bit_top": _u(rng, 0.9, 1.1),
              "rel_modic1": rel_modic[1], "rel_modic2": rel_modic[2],
              "lateral_z_range": z_range}
    if not on["obliquity"]:
        yaw = roll = 0.0
        extras["offset_mm"] = 0.0
        extras["slice_shift"] = 0.0
    signal.update({f"rel_{k}": v for k, v in rel.items()})
    spline_z = np.array([b.z for b in bodies])[::-1]
    spline_y = np.array([b.y for b in bodies])[::-1]
    return Anatomy(
        variants=dict(on), bodies=tuple(bodies), discs=tuple(discs), spline_z=spline_z,
        spline_y=spline_y, lateral_coef=coef, pll=pll, fat_front=fat_front,
        fat_back=fat_back, sac_half_d=sac_half_d, sac_half_w=sac_half_w, conus_z=conus_z,
        roots=roots, veins=veins, modic=modic, haemangiomas=haemangiomas,
        fat_islands=fat_islands, marrow=level_marrow, signal=signal, disc_signal=disc_signal,
        target_vbq=target, yaw=yaw, roll=roll, fat_thickness=_u(rng, 10.0, 28.0),
        texture=_u(rng, 0.08, 0.14) if on["heterogeneous_marrow"] else 0.025, extras=extras)


# --------------------------------------------------------------------------- classify
def _superellipse(a: np.ndarray, b: np.ndarray, ha: float, hb: float | np.ndarray,
                  p: float = 2.5) -> np.ndarray:
    return (np.abs(a) / ha) ** p + (np.abs(b) / hb) ** p <= 1.0


def _body_inside(b: Body, u: np.ndarray, v: np.ndarray, xl: np.ndarray, shrink: float
                 ) -> np.ndarray:
    """Points inside body ``b`` shrunk by ``shrink`` mm (local u, v, lateral xl)."""
    hv = b.half_height(u) - shrink
    rel_v = np.clip(v / b.half_h, -1.0, 1.0)
    front = b.half_d - shrink - b.waist * (1.0 - rel_v * rel_v)
    back = b.half_d - shrink - 0.3 * b.waist * (1.0 - rel_v * rel_v)
    hd = np.where(u < 0, front, back)
    r = max(b.corner - shrink, 0.3)
    qu = np.abs(u) - (hd - r)
    qv = np.abs(v) - (hv - r)
    inside = (qu <= r) & (qv <= r)
    corner = (qu > 0) & (qv > 0)
    inside &= ~(corner & (qu * qu + qv * qv > r * r))
    return inside & _superellipse(xl, u, b.half_w - shrink, np.maximum(hd, 0.1), 2.5)


def classify(an: Anatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Tissue code (:data:`CODES`) and vertebra index (-1: none) at anatomy-frame points.

    ``x, y, z`` are 1-D arrays of one length (mm). Later rules paint over earlier ones.
    """
    n = x.size
    code = np.full(n, _C["abdomen"], dtype=np.uint8)
    level = np.full(n, -1, dtype=np.int8)
    yc, slope = an.curve(z)
    cosg = 1.0 / np.sqrt(1.0 + slope * slope)
    uc = (y - yc) * cosg                  # AP distance from the column's centre line
    xl = x - an.lateral(z)
    front = an.canal_front(z)
    # ---- trunk: skin, subcutaneous fat, back muscles, abdomen, aorta
    y_back = 98.0 + 6.0 * (z / 140.0) ** 2
    y_front = -126.0
    cy, hy = 0.5 * (y_back + y_front), 0.5 * (y_back - y_front)
    trunk = (x / 165.0) ** 2 + ((y - cy) / hy) ** 2
    inner = (x / (165.0 - an.fat_thickness)) ** 2 + ((y - cy) / (hy - an.fat_thickness)) ** 2
    sac_u = an.sac_centre_u(z)
    back_base = sac_u + an.sac_half_d + an.fat_back[0]
    muscle = (uc > front) & _superellipse(xl, uc - back_base - 28.0, 55.0, 45.0)
    code[muscle | ((uc > front + 4.0) & (np.abs(xl) < 20.0))] = _C["muscle"]
    code[inner > 1.0] = _C["fat"]
    code[trunk > 1.0] = _C["air"]
    code[(uc > -front - 2.0) & (uc <= -front + 1.0) & (np.abs(xl) < 20)] = _C["ligament"]
    code[((xl - 14.0) ** 2 + (uc + front + 15.0) ** 2 <= 100.0) & (z > -45.0)] = _C["vessel"]
    # everything below lies in a band around the column: work on those points only
    band = np.nonzero((uc > -front - 6.0) & (uc < back_base + 36.0) & (np.abs(xl) < 40.0))[0]
    code_all, level_all = code, level
    code, level = code_all[band], level_all[band]
    x, y, z, uc, xl, front, sac_u, back_base = (
        a[band] for a in (x, y, z, uc, xl, front, sac_u, back_base))
    # ---- canal: epidural fat, ligamentum flavum, dura, CSF, cord, roots, PLL
    canal_back = sac_u + an.sac_half_d + an.fat_back[0]
    in_canal = np.nonzero((uc > front) & (uc < canal_back + an.fat_back[1] + 1.0)
                          & (np.abs(xl) < 12.5))[0]
    canal_back[in_canal] = sac_u[in_canal] + an.sac_half_d + an.fat_back_at(z[in_canal])
    canal = (uc >= front + an.pll) & (uc < canal_back) & (np.abs(xl) < 12.5)
    code[canal] = _C["epidural_fat"]
    code[(uc >= canal_back) & (uc < canal_back + 3.0) & (np.abs(xl) < 12.5)] = _C["flavum"]
    du = uc - sac_u
    sac = _superellipse(xl, du, an.sac_half_w, an.sac_half_d)
    code[sac] = _C["dura"]
    inner_sac = sac & _superellipse(xl, du, an.sac_half_w - 0.5, an.sac_half_d - 0.5)
    code[inner_sac] = _C["csf"]
    taper = np.sqrt(np.clip((z - an.conus_z) / 22.0, 0.0, 1.0))
    cord = inner_sac & ((xl / 4.5) ** 2 + ((du + 1.0) / 3.6) ** 2 <= taper * taper) & (taper > 0)
    code[cord] = _C["cord"]
    if an.roots:
        below = inner_sac & (z < an.conus_z + 8.0)
        if below.any():
            idx = np.nonzero(below)[0]
            spread = 1.0 + np.clip(an.conus_z - z[idx], 0.0, None) / 110.0
            hit = np.zeros(idx.size, dtype=bool)
            for rx0, ru, rad in an.roots:
                hit |= ((xl[idx] - rx0 * spread) ** 2
                        + (du[idx] - ru * an.sac_half_d) ** 2 <= rad * rad)
            code[idx[hit]] = _C["root"]
    pll = (uc > front - 1.5) & (uc < front + an.pll) & (np.abs(xl) < 9.0)
    code[pll] = _C["pll"]

    # ---- discs, bodies, posterior elements, level by level
    for d in an.discs:
        up, low = an.bodies[d.upper], an.bodies[d.lower]
        zc = 0.5 * (up.z + low.z)
        reach = 0.5 * (up.z - low.z) + 25.0
        near = np.nonzero(np.abs(z - zc) < reach)[0]
        if near.size == 0:
            continue
        tilt = 0.5 * (up.tilt + low.tilt)
        s, c = math.sin(tilt), math.cos(tilt)
        y0 = 0.5 * (up.point(0, -up.half_h)[1] + low.point(0, low.half_h)[1])
        z0 = 0.5 * (up.point(0, -up.half_h)[2] + low.point(0, low.half_h)[2])
        dy, dz = y[near] - y0, z[near] - z0
        ud, vd = dy * c - dz * s, dy * s + dz * c
        xd = x[near] - 0.5 * (up.x + low.x)
        gap = up.point(0, -up.half_h)[2] - low.point(0, low.half_h)[2]
        hd = 0.5 * (up.half_d + low.half_d)
        depth = np.where(ud > 0, hd + d.bulge, hd + 0.8)
        disc = ((np.abs(vd) <= 0.5 * gap + 3.5) & (ud >= -depth) & (ud <= depth)
                & _superellipse(xd, ud, 0.5 * (up.half_w + low.half_w) + 0.5,
                                np.maximum(depth, 0.1)))
        sub = code[near]
        sub[disc] = _C["annulus"]
        nuc = disc & (((ud + 0.1 * hd) / (0.55 * hd)) ** 2 + (vd / (0.33 * max(gap, 2.0))) ** 2
                      + (xd / (0.55 * up.half_w)) ** 2 <= 1.0)
        sub[nuc] = _C["nucleus"]
        code[near] = sub
        lv = level[near]
        lv[disc] = d.upper      # the disc's signal is looked up by its upper level
        level[near] = lv

    for i, b in enumerate(an.bodies):
        near = np.nonzero(np.abs(z - b.z) < b.half_h + 45.0)[0]
        if near.size == 0:
            continue
        a_vec, t_vec = b.axes()
        dy, dz = y[near] - b.y, z[near] - b.z
        u = dy * a_vec[0] + dz * a_vec[1]
        v = dy * t_vec[0] + dz * t_vec[1]
        xb = x[near] - b.x
        sub, lv = code[near], level[near]
        # posterior elements (not for the sacrum): lamina, spinous process
        if not b.name.startswith("S"):
            pu = uc[near] - back_base[near]
            vs = v + 4.0 + 0.2 * np.clip(pu, 0.0, None)
            lam = (pu >= 0.0) & (pu < 7.0) & (np.abs(xb) < 15.0 - pu) & (np.abs(vs) < 9.0)
            spin = ((pu >= 0.0) & (pu < 30.0) & (np.abs(xb) < 3.5)
                    & (np.abs(vs) < 8.0 - 0.08 * np.clip(pu, 0.0, None)))
            post = lam | spin
            c = 1.0
            lam_i = ((pu >= c) & (pu < 7.0 - c) & (np.abs(xb) < 15.0 - pu - c)
                     & (np.abs(vs) < 9.0 - c))
            spin_i = ((pu >= c) & (pu < 30.0 - c) & (np.abs(xb) < 3.5 - c)
                      & (np.abs(vs) < 8.0 - 0.08 * np.clip(pu, 0.0, None) - c))
            sub[post] = _C["cortex"]
            sub[(lam_i | spin_i)] = _C["posterior_marrow"]
            lv[post] = i
        body = (np.abs(v) < b.half_h + 2.0) & (np.abs(u) < b.half_d + 2.0)
        if body.any():
            bi = np.nonzero(body)[0]
            ub, vb, xbb = u[bi], v[bi], xb[bi]
            outer = _body_inside(b, ub, vb, xbb, 0.0)
            marrow = _body_inside(b, ub, vb, xbb, b.cortex)
            bsub = sub[bi]
            bsub[outer] = _C["cortex"]
            bsub[marrow] = _C["marrow"]
            for lev, hu, hv, hx, rad in an.fat_islands:
                if lev == i:
                    cu, cv = hu * b.half_d, hv * b.half_h
                    blob = marrow & ((ub - cu) ** 2 + (vb - cv) ** 2 + (xbb - hx) ** 2
                                     <= rad * rad)
                    bsub[blob] = _C["fat_island"]
            for lev, side, mdepth, u0, u1, _t in an.modic:
                if lev == i:
                    wav = mdepth * (0.75 + 0.25 * np.cos(ub * 0.45 + 1.3 * mdepth))
                    dist = b.half_height(ub) - side * vb
                    zone = (marrow & (side * vb > 0) & (dist < wav + b.cortex)
                            & (ub >= u0 * b.half_d) & (ub <= u1 * b.half_d))
                    bsub[zone] = _C["modic"] if _t == 1 else _C["modic_fat"]
            for lev, hu, hv, hx, rad in an.haemangiomas:
                if lev == i:
                    cu, cv = hu * b.half_d, hv * b.half_h
                    blob = marrow & ((ub - cu) ** 2 + (vb - cv) ** 2 + (xbb - hx) ** 2
                                     <= rad * rad)
                    strut = blob & (np.cos(2.0 * math.pi * ub / 2.2) > 0.75)
                    bsub[blob] = _C["haemangioma"]
                    bsub[strut] = _C["haemangioma_strut"]
            if i in an.veins:
                length, height, _dark = an.veins[i]
                start = b.half_d - b.cortex - length
                w = 0.5 * height * (0.55 + 0.45 * np.clip((ub - start) / length, 0.0, 1.0))
                chan = ((ub >= start) & (ub <= b.half_d + 0.3) & (np.abs(vb) <= w)
                        & (np.abs(xbb) <= 2.5))
                halo = ((ub >= start - 0.8) & (ub <= b.half_d - b.cortex)
                        & (np.abs(vb) <= w + 0.8) & (np.abs(xbb) <= 3.3) & marrow)
                bsub[halo] = _C["vein_fat"]
                bsub[chan & outer] = _C["vein"]
            sub[bi] = bsub
            lvb = lv[bi]
            lvb[outer] = i
            lv[bi] = lvb
        code[near], level[near] = sub, lv
    code_all[band], level_all[band] = code, level
    return code_all, level_all
