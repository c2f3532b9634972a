"""Files written for a saved reading: ROIs in patient space, result JSON, QC figure, SR, PDF.

Every file of a reading is named ``<patient_id>_<study_date>_<reader>_<reading_id>``
plus its suffix (:func:`export_stem`), in the output folder the server was
started with; a client never names a path. Each file is written atomically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.errors import InputError
from vbq.fileio import atomic_write, write_text
from vbq.result import VBQResult

__all__ = ["export_stem", "rois_to_patient", "write_pdf", "write_exports"]

#: The line every chart page carries.
RESEARCH_LINE = "For research use only: not for diagnosis or treatment decisions."


def _part(value: object, empty: str) -> str:
    text = re.sub(r"[^A-Za-z0-9-]+", "-", str(value or "")).strip("-")
    return text[:64] or empty


def export_stem(patient_id: str | None, study_date: str | None, reader: str,
                reading_id: int) -> str:
    """``<patient_id>_<study_date>_<reader>_<reading_id>``, each part safe as a file name.

    Each run of characters other than letters, digits and ``-`` becomes one ``-``; an empty part
    becomes ``nopid`` / ``nodate``.

    Examples
    --------
    >>> export_stem("PAT/../1", "2024-03-01", "Dr Ann", 7)
    'PAT-1_2024-03-01_Dr-Ann_7'
    >>> export_stem(None, None, "..", 8)
    'nopid_nodate_reader_8'
    """
    return "_".join((_part(patient_id, "nopid"), _part(study_date, "nodate"),
                     _part(reader, "reader"), str(int(reading_id))))


def _xyz(series: SeriesInfo, index: int, rc: Any) -> list[float]:
    """Return the patient position (mm) of pixel ``rc``, not rounded.

    Read back, it must give ``rc`` again to within the 1e-6 pixel the ROI reader
    rounds to, whatever the pixel spacing.
    """
    xyz = series.slices[index].geometry.pixel_to_patient(np.asarray(rc, dtype=float))
    return [float(v) for v in np.asarray(xyz).reshape(-1)]


def _radii_mm(radii: Any, angle_deg: Any, spacing: tuple[float, float]
              ) -> tuple[list[float], float | None]:
    """Radii (mm) and angle of a pixel-space ellipse once the pixel spacing is applied.

    Unturned, or on square pixels, the radii scale by the spacing and the angle
    stays. A turned ellipse on pixels that are not square is still an ellipse
    in millimetres, with other axes: its semi-axes are the square roots of the
    eigenvalues of ``M M^T``, ``M = S R(a) diag(ry, rx)``, ``S`` the spacing.
    Nothing is rounded: a rounded length or angle moves boundary pixel centres.

    Examples
    --------
    >>> _radii_mm([2, 3], None, (0.5, 0.5))
    ([1.0, 1.5], None)
    >>> radii, angle = _radii_mm([2, 3], 90, (1.0, 2.0))  # the row semi-axis along columns
    >>> [round(r, 9) for r in radii], round(angle, 9)
    ([4.0, 3.0], 90.0)
    """
    ry, rx = float(radii[0]), float(radii[1])
    sr, sc = spacing
    if angle_deg is None or float(angle_deg) == 0.0 or sr == sc:
        # not rounded: a turned shape's lengths stay in mm when read back, so a
        # rounded length would move a boundary pixel centre
        return [ry * sr, rx * sc], None if angle_deg is None else float(angle_deg)
    a = np.radians(float(angle_deg))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = np.diag([sr, sc]) @ rot @ np.diag([ry, rx])
    values, vectors = np.linalg.eigh(m @ m.T)
    # the row semi-axis is the eigenvector nearest the turned row axis
    row_axis = np.diag([sr, sc]) @ rot[:, 0]
    k = int(np.argmax(np.abs(vectors.T @ row_axis)))
    u = vectors[:, k] * np.sign(vectors[:, k] @ row_axis)
    angle = float(np.degrees(np.arctan2(u[1], u[0])))
    return [float(np.sqrt(values[k])), float(np.sqrt(values[1 - k]))], angle


def rois_to_patient(doc: Mapping[str, Any], series: SeriesInfo) -> dict[str, Any]:
    """Convert a pixel-space ``vbq-rois/1`` document to patient space (LPS mm).

    Centres, corners and vertices go through the slice's geometry; radii and
    sizes become millimetres along the row and column axes; ``angle_deg`` is
    kept (it is measured in the image plane either way). A ROI's slice is
    implied by its patient coordinates, so ``slice`` keys are dropped.

    Raises
    ------
    InputError
        A document that is not in pixel space or has no slice.
    """
    if doc.get("space", "pixel") != "pixel":
        raise InputError("the ROI document to convert must be in pixel space")
    default = doc.get("slice")
    out_rois = []
    for roi in doc["rois"]:
        index = roi.get("slice", default)
        if not isinstance(index, int):
            raise InputError(f"ROI {roi.get('label')}: no slice index to place it on")
        new = _shape_to_patient(roi, series, index, f"ROI {roi.get('label')}")
        if roi.get("minus"):   # cut-outs lie on the ROI's slice
            new["minus"] = [_shape_to_patient(part, series, index,
                                              f"ROI {roi.get('label')}: minus[{i}]")
                            for i, part in enumerate(roi["minus"])]
        out_rois.append(new)
    out: dict[str, Any] = {"format": doc.get("format", "vbq-rois/1"), "space": "patient",
                           "rois": out_rois}
    if doc.get("exclude"):
        out["exclude"] = dict(doc["exclude"])
    return out


def _shape_to_patient(roi: Mapping[str, Any], series: SeriesInfo, index: int, name: str
                      ) -> dict[str, Any]:
    """Convert one pixel-space shape (a ROI or one of its cut-outs) on slice ``index``."""
    geom = series.slices[index].geometry
    sr, sc = geom.spacing
    new = {k: v for k, v in roi.items() if k not in ("slice", "center", "radii", "radius",
                                                     "corner", "size", "points", "minus")}
    if "center" in roi:
        new["center"] = _xyz(series, index, roi["center"])
    if "radii" in roi:
        new["radii"], angle = _radii_mm(roi["radii"], roi.get("angle_deg"), (sr, sc))
        if angle is not None:
            new["angle_deg"] = angle
    if "radius" in roi:  # a circle of equal pixel radii: an ellipse in millimetres
        new["shape"] = "ellipse"
        radius = float(roi["radius"])
        new["radii"] = [radius * sr, radius * sc]
    if "corner" in roi and float(roi.get("angle_deg") or 0.0) % 180.0 and sr != sc:
        raise InputError(f"{name}: a turned rectangle on pixels that are not square is not a "
                         "rectangle in millimetres; draw an ellipse")
    if "corner" in roi:
        new["corner"] = _xyz(series, index, roi["corner"])
        new["size"] = [float(roi["size"][0]) * sr, float(roi["size"][1]) * sc]
    if "points" in roi:
        new["points"] = [_xyz(series, index, p) for p in roi["points"]]
    return new


def _page_text(result: VBQResult) -> list[str]:
    st = dict(result.study or {})
    s = dict(result.series or {})
    lines = [
        f"Patient ID: {st.get('patient_id') or '(none)'}    Study date: "
        f"{st.get('study_date') or '(none)'}",
        f"Series: {s.get('description') or '(no description)'} (number "
        f"{s.get('series_number')}, UID {s.get('series_instance_uid')})",
        f"VBQ {result.vbq:.3f}   (protocol {result.protocol}, SI = ROI {result.statistic}; "
        f"levels used: {', '.join(result.used_levels)}"
        + (f"; excluded: {', '.join(f'{k} ({v})' for k, v in result.excluded.items())}"
           if result.excluded else "") + ")",
    ]
    return lines


def write_pdf(result: VBQResult, path: str | Path, *, reader: str, read_at: str,
              reading_id: int, version: str) -> Path:
    """Write the one-page chart PDF of a reading (A4, drawn with matplotlib).

    The page holds the patient ID, study date, series, VBQ, the QC image, each
    published cut-off with its DOI and where the score falls, the warnings,
    the reader, the date of the reading, the software version and a
    research-use line.
    """
    from matplotlib.figure import Figure

    from vbq.qc import plot_qc

    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.965, "Vertebral bone quality (VBQ) score", fontsize=15, weight="bold")
    y = 0.94
    for line in _page_text(result):
        fig.text(0.06, y, line, fontsize=9)
        y -= 0.018
    ax = fig.add_axes((0.06, 0.40, 0.88, 0.47))
    plot_qc(result, ax=ax)
    # the text goes below the QC figure as drawn, caption lines and all
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    drawn = ax.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
    y = 0.38
    if drawn is not None:
        y = min(y, float(fig.transFigure.inverted().transform((0.0, drawn.y0))[1]) - 0.02)
    fig.text(0.06, y, "Published cut-offs (the score is 'above' when VBQ >= cut-off):",
             fontsize=9, weight="bold")
    y -= 0.016
    for c in sorted(result.cutoffs, key=lambda c: c["value"]):
        side = "above" if c["above"] else "below"
        fig.text(0.08, y, f"{c['value']:g}  {side}  {c['target']}  [{c['source']}; "
                 f"doi:{c['doi']}]", fontsize=7.5)
        y -= 0.014
    if not result.cutoffs:
        fig.text(0.08, y, "none applies to this protocol and field strength", fontsize=7.5)
        y -= 0.014
    y -= 0.006
    fig.text(0.06, y, f"Warnings ({len(result.warnings)}):", fontsize=9, weight="bold")
    y -= 0.016
    for w in result.warnings[:12]:
        fig.text(0.08, y, w if len(w) <= 150 else w[:147] + "...", fontsize=7)
        y -= 0.013
    if len(result.warnings) > 12:
        fig.text(0.08, y, f"... and {len(result.warnings) - 12} more (see the result JSON)",
                 fontsize=7)
    fig.text(0.06, 0.045, f"Reader: {reader}    Read at: {read_at}    Reading {reading_id}    "
             f"vbq-toolkit {version}", fontsize=8)
    fig.text(0.06, 0.028, RESEARCH_LINE, fontsize=8, style="italic")
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="pdf")
    return path


def write_exports(out_dir: str | Path, stem: str, result: VBQResult, rois_pixel: Mapping[str, Any],
                  series: SeriesInfo, *, reader: str, read_at: str, reading_id: int,
                  version: str) -> dict[str, str]:
    """Write the five files of a reading under ``out_dir``; return kind -> file name.

    Raises
    ------
    InputError
        The folder cannot be created or a file cannot be written.
    """
    import json

    from vbq.sr import write_sr

    out = Path(out_dir)
    names = {"rois": f"{stem}_rois.json", "result": f"{stem}_result.json",
             "qc": f"{stem}_qc.png", "sr": f"{stem}_sr.dcm", "pdf": f"{stem}.pdf"}
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / names["rois"],
                   json.dumps(rois_to_patient(rois_pixel, series), indent=2) + "\n")
        write_text(out / names["result"], result.to_json() + "\n")
        result.save_qc(out / names["qc"])
        write_sr(result, series, out / names["sr"])
        write_pdf(result, out / names["pdf"], reader=reader, read_at=read_at,
                  reading_id=reading_id, version=version)
    except OSError as err:
        raise InputError(f"cannot write the reading's files to {out}: "
                         f"{err.strerror or err}") from None
    return names
