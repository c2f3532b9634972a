"""A synthetic sagittal T1-weighted lumbar MRI series whose VBQ is known by construction.

:func:`make_phantom` renders an analytic lumbar spine (T11 to S2: vertebral bodies
with a dark cortical rim and endplates, intervertebral discs with nucleus and
annulus, posterior elements, the spinal canal with CSF, the cord down to the
conus at L1-L2, paraspinal muscle, subcutaneous fat, the aorta, abdominal
contents) on the grid of a clinical sagittal acquisition, adds a point-spread
blur and Rician noise, and writes:

- ``series/``: the T1 sagittal series (and, optionally, distractor series: a T2
  sagittal, a post-contrast T1 sagittal and an axial T1) as MR Image Storage files,
  one file per slice, or, with ``enhanced``, as one Enhanced MR Image Storage
  (multi-frame) file per series; optionally losslessly compressed (``compress``);
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

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError
from vbq.fileio import shown_number
from vbq.phantom.anatomy import (
    BODY_HALF_D,
    CANAL_GAP,
    CANAL_HALF_D,
    LEVELS,
    TISSUE,
    Grid,
    axial_grid,
    ds_number,
    level_z,
    render_labels,
    sagittal_grid,
    spine_frame,
)
from vbq.phantom.common import DISTRACTORS, PhantomInfo, roi_membership
from vbq.phantom.common import boundary_margin as _boundary_margin
from vbq.phantom.common import parse_distractors as _parse_distractors
from vbq.phantom.common import stats as _stats
from vbq.phantom.common import to_patient_roi as _to_patient_roi
from vbq.phantom.common import write_json as _write_json
from vbq.phantom.dicomwriter import (
    BITS_STORED,
    STORED_MAX,
    base_dataset,
    check_compression,
    uid_from,
    write_series,
)
from vbq.phantom.enhanced import write_enhanced
from vbq.phantom.image import coil_shading, contrasts, render_series

#: Files :func:`make_phantom` writes beside ``series/`` (never overwritten).
_OUTPUT_FILES = ("rois.json", "rois_patient.json", "seeds.json", "mask.nii.gz", "expected.json")

__all__ = ["make_phantom", "PhantomInfo", "TISSUE", "roi_membership", "DISTRACTORS"]



def _parse_enhanced(enhanced: bool | str | Iterable[str], extra: tuple[str, ...]
                    ) -> tuple[str, ...]:
    if enhanced is True:
        return ("t1",)
    if enhanced is False or enhanced is None:
        return ()
    items = ([d.strip() for d in enhanced.split(",") if d.strip()] if isinstance(enhanced, str)
             else [str(d) for d in enhanced])
    known = ("t1", *extra)
    bad = [d for d in items if d not in known]
    if bad:
        raise InputError(f"enhanced series {bad[0]!r} is not one of the series written "
                         f"({', '.join(known)})")
    return tuple(d for d in known if d in items)


def _rois_pixel(grid: Grid, mid: int) -> list[dict[str, Any]]:
    """Place the drawn ROIs (pixel space) on the mid slice, inside cancellous bone and CSF."""
    sr, sc = grid.spacing

    def centre(name: str) -> tuple[float, float]:
        y0, z0, _, _ = spine_frame(level_z(name))
        return grid.patient_to_pixel([grid.origins[mid][0], y0, z0], mid)

    def local_pt(name: str, du: float, dv: float) -> list[float]:
        y0, z0, a, t = spine_frame(level_z(name))
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
    y0, z0, a, _ = spine_frame(level_z("L3"))
    canal_u = BODY_HALF_D + CANAL_GAP + CANAL_HALF_D
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


# --------------------------------------------------------------------------- main entry
def _three_digits(value: float, up: bool, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, rounded up (``up``) or down, as ``:g`` does."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    step = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    steps = value / step
    return f"{(math.ceil(steps) if up else math.floor(steps)) * step:.{digits}g}"


def _bounds(low: float, high: float) -> tuple[str, str]:
    """``low`` rounded up and ``high`` rounded down, with digits enough to keep them apart."""
    for digits in range(3, 16):
        a, b = _three_digits(low, True, digits), _three_digits(high, False, digits)
        if float(a) < float(b):
            break
    return a, b


def _given(value: float) -> str:
    """Return a value the user gave, for a message: every digit typed, unless it is huge."""
    if not abs(value) < 1e16:  # huge, or not finite: short
        return shown_number(value)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _check_storable(tables: Mapping[str, Any], slope: float, intercept: float) -> None:
    """Refuse a rescale that cannot hold the phantom's tissue signal in its stored pixels.

    The writer (:func:`vbq.phantom.dicomwriter.write_series`) stores a signal
    ``v`` as ``rint((v - intercept) / slope)`` clipped to 0 ...
    :data:`~vbq.phantom.dicomwriter.STORED_MAX` (16 bits stored), and a reader
    gets back ``stored * slope + intercept``. The tissue signal lies between
    ``lo`` and ``hi``: the contrast tables' darkest and brightest tissue, with a
    factor of 2 either way for coil shading and noise (air, below ``lo``, may
    be clipped to 0: ``expected.json`` is computed from the stored pixels).
    A rescale stores the tissue when

    - no tissue overflows: ``(hi - intercept) / slope < STORED_MAX + 0.5``
      (a finite quotient; a slope too small for the intercept);
    - no tissue is clipped to 0: ``(lo - intercept) / slope >= -0.5``;
    - no tissue underflows to zero signal: ``slope <= lo``. Signals ``v`` and 0
      are stored as different values, whatever the intercept, exactly when
      ``v >= slope`` (``rint(x + 1) = rint(x) + 1``); a coarser step may store
      the darkest tissue as air, or every tissue as one value (a flat image).

    So the slope must lie between ``max((hi - intercept) / (STORED_MAX + 0.5),
    2 (intercept - lo))`` and ``lo``, which some slope does exactly when the
    intercept lies above ``hi - (STORED_MAX + 0.5) lo`` and at most ``1.5 lo``.
    A slope outside its range for a possible intercept is refused naming
    ``--rescale-slope``, an intercept that no slope can store with naming
    ``--rescale-intercept``; both are checked before anything is written.

    Raises
    ------
    InputError
        One sentence naming the option at fault, its value (short) and the range allowed.
    """
    signals = [float(v) for t in tables.values() for v in t.table.values() if float(v) > 0]
    lo, hi = 0.5 * min(signals), 2.0 * max(signals)
    top = STORED_MAX + 0.5
    what = (f"the phantom's tissue signal ({lo:g} to {hi:g}) in {BITS_STORED}-bit pixels "
            f"(0-{STORED_MAX})")
    b_low, b_high = hi - top * lo, 1.5 * lo
    if not b_low < intercept <= b_high:
        raise InputError(
            f"--rescale-intercept {_given(intercept)} cannot store {what} with any "
            f"slope: choose an intercept above {math.ceil(b_low)} and at most "
            f"{_three_digits(b_high, up=False)}")
    with np.errstate(all="ignore"):
        s_lo, s_hi = (lo - intercept) / slope, (hi - intercept) / slope
    if slope > lo:
        why = "the darkest tissue would be stored as zero signal"
    elif not (math.isfinite(s_hi) and s_hi < top):
        why = f"the brightest tissue would be stored above {STORED_MAX}"
    elif not (math.isfinite(s_lo) and s_lo >= -0.5):
        why = "the darkest tissue would be stored below 0"
    else:
        return
    m_low = max((hi - intercept) / top, 2.0 * (intercept - lo))
    first, last = _bounds(m_low, lo)
    raise InputError(
        f"--rescale-slope {_given(slope)} with --rescale-intercept "
        f"{_given(intercept)} cannot store {what}: {why}; choose a slope from "
        f"{first} to {last}")


def make_phantom(out_dir: str | os.PathLike[str], vbq: float | None = None, seed: int = 0,
                 field_strength: float = 1.5, n_slices: int = 15, rows: int = 256,
                 cols: int | None = None,
                 distractors: str | Iterable[str] | None = DISTRACTORS,
                 rescale_slope: float = 1.0, rescale_intercept: float = 0.0,
                 shuffle_names: bool = False, reverse_instance_numbers: bool = False,
                 noise_sd: float | None = None, compress: str | None = None,
                 enhanced: bool | str | Iterable[str] = False, anatomy: str = "simple",
                 variants: str | Iterable[str] | Mapping[str, bool] | None = None
                 ) -> PhantomInfo:
    """Write a synthetic lumbar MRI study with a known VBQ; see the module docstring.

    Parameters
    ----------
    out_dir
        Output folder (created). ``series/`` inside it receives the DICOM files.
    vbq
        Target VBQ: L1-L4 marrow signal over CSF signal (before noise and blur);
        default 3.2 (``anatomy="realistic"``: drawn from ``seed``).
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
        Number instances opposite to their position along the slice normal (for an
        enhanced series: store the frames in reversed order of position).
    noise_sd
        Rician noise level (default 3.5 at 1.5 T, 2.5 at 3 T; CSF signal is 100).
    compress
        Lossless compression of every file: ``"rle"`` (RLE Lossless), ``"jpegls"``
        (JPEG-LS Lossless, needs pyjpegls) or ``"j2k"`` (JPEG 2000 Lossless, needs
        pylibjpeg-openjpeg); None (default) writes uncompressed files.
    enhanced
        Write series as one Enhanced MR Image Storage (multi-frame) file each:
        ``True`` for the T1 sagittal series, or the series names (``"t1"``, ``"t2"``,
        ``"t1_post"``, ``"axial"``; a list or a comma-separated string). The frame
        of each slice is in ``expected.json`` (``"frame"``, 1-based) for the T1 series.
    anatomy
        ``"simple"`` (default: this module's phantom) or ``"realistic"``
        (:func:`vbq.phantom.realistic.make_realistic_phantom`, with ``variants``;
        it takes ``vbq``, ``seed``, ``field_strength``, ``n_slices``, ``rows``,
        ``cols``, ``distractors``, ``noise_sd`` and ``compress``).
    variants
        Variants of the realistic phantom (see
        :func:`~vbq.phantom.realistic.make_realistic_phantom`).

    Returns
    -------
    PhantomInfo
    """
    import nibabel as nib

    if anatomy == "realistic":
        unsupported = [name for name, given in (
            ("rescale_slope", rescale_slope != 1.0),
            ("rescale_intercept", rescale_intercept != 0.0), ("shuffle_names", shuffle_names),
            ("reverse_instance_numbers", reverse_instance_numbers),
            ("enhanced", enhanced not in (False, None, "", ()))) if given]
        if unsupported:
            raise InputError(f"option {unsupported[0]} is not available with the realistic "
                             "anatomy; leave it out or use the simple anatomy")
        from vbq.phantom.realistic import make_realistic_phantom

        return make_realistic_phantom(
            out_dir, seed=seed, variants=variants, vbq=vbq, field_strength=field_strength,
            n_slices=n_slices, rows=rows, cols=cols, distractors=distractors,
            noise_sd=noise_sd, compress=compress)
    if anatomy != "simple":
        raise InputError(f"unknown phantom anatomy {anatomy!r}; choose simple or realistic")
    if variants not in (None, "", "none", ()):
        raise InputError("phantom variants need the realistic anatomy (anatomy='realistic')")
    vbq = 3.2 if vbq is None else vbq
    if not (0.5 <= vbq <= 10.0) or not math.isfinite(vbq):
        raise InputError(f"target VBQ {vbq} (--vbq) is outside the supported range 0.5 to 10")
    if field_strength not in (1.5, 3.0, 3):
        raise InputError(f"field strength {field_strength} T is not supported; use 1.5 or 3")
    if not 3 <= n_slices <= 64:
        raise InputError(f"slice count {n_slices} (--slices) is outside 3 to 64")
    cols = rows if cols is None else cols
    if not (64 <= rows <= 1024 and 64 <= cols <= 1024):
        raise InputError(f"image size {rows}x{cols} (--size) is outside 64 to 1024 pixels")
    if not (rescale_slope > 0 and math.isfinite(rescale_slope)):
        raise InputError(f"--rescale-slope {shown_number(rescale_slope)} must be a positive "
                         "number")
    if not math.isfinite(rescale_intercept):
        raise InputError(f"--rescale-intercept {shown_number(rescale_intercept)} must be a "
                         "finite number")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed {seed} must be a non-negative integer")
    extra = _parse_distractors(distractors)
    check_compression(compress)
    multi = _parse_enhanced(enhanced, extra)
    rng = np.random.default_rng(seed)
    noise = noise_sd if noise_sd is not None else (3.5 if field_strength < 2 else 2.5)

    tables = contrasts(vbq, float(field_strength))
    _check_storable(tables, rescale_slope, rescale_intercept)
    # the rescale as the files state it (a Decimal String holds at most 16 characters):
    # the pixels are stored with it and the truth computed from it, as a reader does
    rescale_slope = float(ds_number(rescale_slope))
    rescale_intercept = float(ds_number(rescale_intercept))

    if not str(out_dir).strip():
        raise InputError("the output folder name is empty; give a folder")
    out = Path(out_dir)
    series_dir = out / "series"
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file, not a folder; choose an empty output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder {out}: {err.strerror or err}") from None
    if series_dir.exists() and not series_dir.is_dir():
        raise InputError(f"{series_dir} is a file where the phantom's series folder goes; "
                         "choose an empty output folder")
    if series_dir.exists() and any(series_dir.iterdir()):
        raise InputError(f"{series_dir} already holds files; choose an empty output folder")
    taken = [n for n in _OUTPUT_FILES if (out / n).exists()]
    if taken:
        raise InputError(f"{out} already holds {', '.join(taken)}; choose an empty output folder")

    sag = sagittal_grid(n_slices, rows, cols)
    mid = n_slices // 2
    sag_labels = []
    tss_volume = np.zeros((rows, cols, n_slices), dtype=np.uint8)
    tissue_volume = np.zeros((n_slices, rows, cols), dtype=np.uint8)
    for k in range(n_slices):
        t, lv, s = render_labels(*sag.points(k, np.float32))
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

    ref = float(coil_shading(roi_centre_y("L3")))
    comp_level = {i: ref / float(coil_shading(spine_frame(level_z(n))[0]))
                  for i, n in enumerate(LEVELS)}
    csf_comp = ref / float(coil_shading(roi_centre_y("CSF")))

    key: tuple[Any, ...] = (seed, vbq, field_strength, n_slices, rows, cols, rescale_slope,
                            rescale_intercept, shuffle_names, reverse_instance_numbers, noise,
                            extra)
    if compress not in (None, "", "none"):
        key = (*key, compress)
    if multi:
        key = (*key, "enhanced", multi)
    study_uid = uid_from("study", *key)
    for_uid = uid_from("for", *key)
    names = ["t1", *extra]
    numbers = {"t2": 2, "t1": 3, "axial": 4, "t1_post": 5}
    files: dict[str, list[Path]] = {}
    uids: dict[str, str] = {}
    stored_t1: list[np.ndarray] = []
    sop_t1: list[str] = []
    frame_t1: list[int] | None = None
    for name in names:
        grid = sag if name != "axial" else axial_grid(n_slices, rows, cols)
        uids[name] = uid_from("series", name, *key)
        sops = [uid_from("sop", name, k, *key) for k in range(n_slices)]
        inst = [(n_slices - k) if reverse_instance_numbers else (k + 1)
                for k in range(n_slices)]
        slug = "".join(ch if ch.isalnum() else "_" for ch in tables[name].description)
        folder = series_dir / f"{numbers[name]:03d}_{slug}"
        paths = [folder / f"IM{inst[k]:04d}.dcm" for k in range(n_slices)]
        files[name] = paths
        labels = (sag_labels if name != "axial"
                  else [render_labels(*grid.points(k, np.float32))[:2]
                        for k in range(n_slices)])
        images = render_series(grid, labels, tables[name], rng, noise,
                                lambda i: comp_level[i], csf_comp)
        base = base_dataset(tables[name], study_uid, uids[name], for_uid, numbers[name],
                             float(field_strength), grid, rescale_slope, rescale_intercept)
        if name in multi:
            order = list(range(n_slices))[::-1] if reverse_instance_numbers else None
            path = (series_dir / "pending" / f"{name}_0" if shuffle_names
                    else folder / "ENHANCED.dcm")
            files[name] = [path]
            sop = uid_from("sop", name, "enhanced", *key)
            stored = write_enhanced(path, images, base, tables[name], grid, sop,
                                    rescale_slope, rescale_intercept, float(field_strength),
                                    compress=compress, frame_order=order)
            if name == "t1":
                stored_t1, sop_t1 = stored, [sop] * n_slices
                frame_t1 = [(n_slices - k) if reverse_instance_numbers else (k + 1)
                            for k in range(n_slices)]
            continue
        if shuffle_names:
            paths = files[name] = [series_dir / "pending" / f"{name}_{k}" for k in
                                   range(n_slices)]
        stored = write_series(paths, images, base, grid, sops, inst, rescale_slope,
                               rescale_intercept, compress=compress)
        if name == "t1":
            stored_t1, sop_t1 = stored, sops
    if shuffle_names:
        every = [(name, k, p) for name, ps in files.items() for k, p in enumerate(ps)]
        shuffled = rng.permutation(len(every))
        new_names: dict[int, str] = {}
        used_names: set[str] = set()
        for i in shuffled:
            fname = "".join(rng.choice(list("0123456789ABCDEF"), 12))
            while fname in used_names:
                fname = "".join(rng.choice(list("0123456789ABCDEF"), 12))
            used_names.add(fname)
            new_names[int(i)] = fname
        for i in shuffled:
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
        "tr_ms": tables["t1"].tr_ms,
        "te_ms": tables["t1"].te_ms,
        "rescale_slope": rescale_slope,
        "rescale_intercept": rescale_intercept,
        "seed": seed,
        "distractor_uids": {n: uids[n] for n in extra},
    }
    if frame_t1 is not None:
        expected["frame"] = frame_t1[mid]

    _write_json(out / "rois.json", {"format": "vbq-rois/1", "space": "pixel", "slice": mid,
                                    "rois": rois})
    _write_json(out / "rois_patient.json", {
        "format": "vbq-rois/1", "space": "patient",
        "rois": [_to_patient_roi(r, sag, mid) for r in rois]})
    seeds = []
    for name in ("L1", "L2", "L3", "L4", "L5"):
        y0, z0, _, _ = spine_frame(level_z(name))
        r, c = sag.patient_to_pixel([sag.origins[mid][0], y0, z0], mid)
        seeds.append({"label": name, "point": [round(r, 4), round(c, 4)]})
    csf_roi = next(r for r in rois if r["label"] == "CSF")
    seeds.append({"label": "CSF", "level": "L3", "point": csf_roi["center"]})
    _write_json(out / "seeds.json", {"format": "vbq-seeds/1", "space": "pixel", "slice": mid,
                                     "seeds": seeds})
    _write_json(out / "expected.json", expected)

    from vbq.dicom.geometry import SliceGeometry, volume_affine_ras

    geoms = [SliceGeometry(origin=o, row_dir=sag.row_dir, col_dir=sag.col_dir,
                           spacing=sag.spacing, shape=sag.shape) for o in sag.origins]
    img = nib.Nifti1Image(tss_volume, volume_affine_ras(geoms))
    img.header.set_xyzt_units("mm")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    from vbq.fileio import atomic_path

    with atomic_path(out / "mask.nii.gz", suffix=".nii.gz") as tmp:
        nib.save(img, tmp)

    return PhantomInfo(
        out_dir=out, series_dir=series_dir, rois_path=out / "rois.json",
        rois_patient_path=out / "rois_patient.json", seeds_path=out / "seeds.json",
        mask_path=out / "mask.nii.gz", expected_path=out / "expected.json",
        expected=expected, series_instance_uid=uids["t1"], slice=mid, files=files,
        distractor_uids={n: uids[n] for n in extra}, tissue=tissue_volume)
