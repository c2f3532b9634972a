"""The result of a VBQ score: numbers, provenance, coded warnings, and the QC figure.

Owns :class:`VBQResult` and its result JSON, text summary, and the entry points of
its views (the QC figure is drawn by :mod:`vbq.qc`, the DICOM SR by :mod:`vbq.sr`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vbq.measure import Measurement

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from vbq.dicom.series import SeriesInfo


def _num(x: float | None) -> float | None:
    """Return a float for JSON: NaN and infinities become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class LevelResult:
    """One vertebral level of a score.

    Attributes
    ----------
    level
        ``"L1"`` etc.
    si
        Signal intensity used for the score (the protocol statistic of the ROI,
        or the value read in a PACS); None when not measured.
    used
        Whether it entered the median.
    excluded
        Exclusion reason, when the level was excluded.
    measurement
        Full ROI statistics, when measured from an image.
    slice_index
        Slice the ROI lies on, when measured from an image.
    """

    level: str
    si: float | None
    used: bool
    excluded: str | None = None
    measurement: Measurement | None = None
    slice_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the result-JSON entry of this level."""
        out: dict[str, Any] = {}
        if self.si is not None:
            out["si"] = _num(self.si)
        m = self.measurement
        if m is not None:
            out.update(median=_num(m.median), n_pixels=m.n_pixels, area_mm2=_num(m.area_mm2),
                       mean=_num(m.mean), sd=_num(m.sd), iqr=_num(m.iqr), min=_num(m.min),
                       max=_num(m.max))
        out["used"] = self.used
        if self.excluded is not None:
            out["excluded"] = self.excluded
        return out


@dataclass(frozen=True)
class CsfResult:
    """The CSF reference of a score."""

    level: str
    si: float
    measurement: Measurement | None = None
    slice_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the result-JSON ``csf`` block."""
        m = self.measurement
        out: dict[str, Any] = {"level": self.level, "si": _num(self.si),
                               "n_pixels": m.n_pixels if m else None}
        if m is not None:
            out.update(median=_num(m.median), area_mm2=_num(m.area_mm2), mean=_num(m.mean),
                       sd=_num(m.sd), iqr=_num(m.iqr), min=_num(m.min), max=_num(m.max))
        return out


@dataclass(frozen=True)
class VBQResult:
    """A vertebral bone quality score and everything needed to check it.

    ``VBQ = median(SI of the used levels) / SI(CSF)``; higher means more marrow
    fat, i.e. worse bone.

    Attributes
    ----------
    vbq
        The score.
    protocol
        Protocol name.
    statistic
        ROI statistic used as SI (``"mean"`` or ``"median"``).
    levels
        Level -> :class:`LevelResult`, in protocol order (plus excluded ones).
    csf
        The CSF reference.
    warnings
        Every check that did not pass (never silent), as sentences.
    warning_codes
        The stable code of each warning, same length and order as ``warnings``
        (see :class:`vbq.errors.VbqWarning`); match these, not the texts.
    cutoffs
        Where the score falls against each applicable published cut-off.
    series
        Series metadata (UID, description, manufacturer, field strength, TR,
        TE, ...), None for values read in a PACS.
    slice_index, sop_instance_uid
        The measured slice (the one most ROIs lie on).
    roi_source
        ``"drawn"``, ``"mask"``, ``"seeds"`` or ``"values"``.
    other_rois
        Measured ROIs of levels that are not part of the protocol.
    study
        The study the series belongs to: ``{"study_instance_uid", "patient_id",
        "study_date" (YYYY-MM-DD), "accession_number"}``; None for values read
        in a PACS. :meth:`without_phi` empties the patient ID, date and
        accession number.
    instance_number, midline_offset_mm, midline_source
        InstanceNumber of the measured slice, its distance (mm) from the
        mid-sagittal plane when that is known, and how the plane was found
        (``"bodies"``, ``"canal"`` or ``"labels"``).
    series_choice
        Why the series was chosen and why each other series was rejected
        (``{"reason": str, "rejected": [{"series_instance_uid", "description",
        "why"}]}``), None for values read in a PACS.
    image, masks, outlines, cut_outlines, pixel_spacing, series_info
        The measured slice, the ROI masks and outlines (and the outlines of
        shapes cut out of a ROI, its ``minus`` list), and the series object;
        kept for the QC figure and DICOM SR, not serialised.

    References
    ----------
    Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
    assessment of bone density in operative spine patients. Spine J.
    2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018
    """

    vbq: float
    protocol: str
    statistic: str
    levels: Mapping[str, LevelResult]
    csf: CsfResult
    warnings: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()
    cutoffs: tuple[Mapping[str, Any], ...] = ()
    series: Mapping[str, Any] | None = None
    slice_index: int | None = None
    sop_instance_uid: str | None = None
    frame_number: int | None = None
    roi_source: str = "values"
    other_rois: Mapping[str, Measurement] = field(default_factory=dict)
    series_choice: Mapping[str, Any] | None = None
    study: Mapping[str, Any] | None = None
    instance_number: int | None = None
    midline_offset_mm: float | None = None
    midline_source: str | None = None
    #: True when patient ID, study date and accession number were removed.
    phi_removed: bool = False
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    masks: Mapping[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    outlines: Mapping[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    cut_outlines: Mapping[str, tuple[np.ndarray, ...]] | None = field(default=None, repr=False,
                                                                      compare=False)
    mask_slices: Mapping[str, int] | None = field(default=None, repr=False, compare=False)
    pixel_spacing: tuple[float, float] | None = field(default=None, repr=False, compare=False)
    series_info: SeriesInfo | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Give warnings without codes the code ``"other"``; refuse codes that do not match."""
        if not self.warning_codes and self.warnings:
            object.__setattr__(self, "warning_codes", ("other",) * len(self.warnings))
        if len(self.warning_codes) != len(self.warnings):
            raise ValueError(f"{len(self.warnings)} warnings but {len(self.warning_codes)} "
                             "warning codes")

    @property
    def used_levels(self) -> tuple[str, ...]:
        """Levels that entered the median."""
        return tuple(k for k, v in self.levels.items() if v.used)

    @property
    def excluded(self) -> dict[str, str]:
        """Level -> reason for the excluded levels."""
        return {k: v.excluded for k, v in self.levels.items() if v.excluded is not None}

    def without_phi(self) -> VBQResult:
        """Return the same result without patient ID, study date and accession number.

        They become None in :attr:`study` (so in the JSON, the summary, the QC
        figure and batch rows); the study and series UIDs stay, since they
        name the images measured. :attr:`phi_removed` is then True, and the
        DICOM SR written from it (:func:`vbq.sr.write_sr`) has those
        attributes, and the patient's name, birth date and sex, empty.
        """
        from dataclasses import replace

        study = None
        if self.study is not None:
            study = {**self.study, "patient_id": None, "study_date": None,
                     "accession_number": None}
        return replace(self, study=study, phi_removed=True)

    def _slice_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.slice_index, "sop_instance_uid": self.sop_instance_uid}
        if self.frame_number is not None:  # a frame of a multi-frame (Enhanced MR) image
            out["frame"] = self.frame_number
        if self.slice_index is not None:
            out["instance_number"] = self.instance_number
        if self.midline_offset_mm is not None:
            out["midline_offset_mm"] = _num(self.midline_offset_mm)
            if self.midline_source is not None:
                out["midline_source"] = self.midline_source
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the result JSON (DESIGN.md keys, plus ``roi_source`` and ROI statistics).

        A level (or the CSF) measured on another slice than ``slice.index`` also
        carries that slice's 0-based ``slice_index``.
        """
        out: dict[str, Any] = {
            "vbq": _num(self.vbq),
            "protocol": self.protocol,
            "statistic": self.statistic,
            "levels": {k: v.to_dict() for k, v in self.levels.items()},
            "csf": self.csf.to_dict(),
            "slice": self._slice_dict(),
            "study": dict(self.study) if self.study is not None else None,
            "series": dict(self.series) if self.series is not None else None,
            "cutoffs": [dict(c) for c in self.cutoffs],
            "warnings": list(self.warnings),
            "warning_codes": list(self.warning_codes),
            "roi_source": self.roi_source,
        }
        if self.phi_removed:
            out["phi_removed"] = True
        # a ROI measured on another slice than the result's names its own (0-based index)
        parts: list[tuple[str, LevelResult | CsfResult]] = [*self.levels.items(),
                                                             ("csf", self.csf)]
        for key, part in parts:
            idx = part.slice_index
            if idx is not None and self.slice_index is not None and idx != self.slice_index:
                block = out["csf"] if key == "csf" else out["levels"][key]
                block["slice_index"] = int(idx)
        if self.series_choice is not None:
            out["series_choice"] = {
                "reason": self.series_choice.get("reason"),
                "rejected": [dict(r) for r in self.series_choice.get("rejected", ())],
            }
        if self.other_rois:
            out["other_rois"] = {
                k: {key: _num(v) if isinstance(v, float) else v
                    for key, v in m.to_dict().items()}
                for k, m in self.other_rois.items()
            }
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """Return the result JSON as text."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self, *, warnings: bool = True) -> str:
        """Return a short human-readable report (with the warnings unless ``warnings=False``)."""
        lines = [f"VBQ {self.vbq:.3f}  (protocol {self.protocol}, SI = ROI {self.statistic})"]
        if self.study is not None:
            lines.append("study: " + self.study_line())
        if self.series:
            s = self.series
            bits = [str(s.get("description") or "")]
            if s.get("series_number") is not None:
                bits.append(f"series number {s['series_number']}")
            if s.get("field_strength_t"):
                bits.append(f"{s['field_strength_t']:g} T")
            if s.get("tr_ms") is not None and s.get("te_ms") is not None:
                bits.append(f"TR {s['tr_ms']:g} ms / TE {s['te_ms']:g} ms")
            if s.get("manufacturer"):
                bits.append(str(s["manufacturer"]))
            lines.append("series: " + ", ".join(b for b in bits if b))
        if self.series_choice is not None:
            lines.append(f"chosen: {self.series_choice.get('reason')}")
            for r in self.series_choice.get("rejected", ()):
                lines.append(f"rejected: '{r['description']}' ({r['series_instance_uid']}): "
                             f"{r['why']}")
        if self.slice_index is not None:
            lines.append("slice: " + self.slice_line())
        for name, lv in self.levels.items():
            si = f"{lv.si:10.1f}" if lv.si is not None else " " * 10
            extra = f"  n={lv.measurement.n_pixels}" if lv.measurement else ""
            state = "used" if lv.used else f"excluded ({lv.excluded})" if lv.excluded else "unused"
            lines.append(f"  {name:<4}{si}{extra}  {state}")
        n = f"  n={self.csf.measurement.n_pixels}" if self.csf.measurement else ""
        lines.append(f"  CSF {self.csf.si:10.1f}{n}  at {self.csf.level}")
        if self.cutoffs:
            lines.append("published cut-offs (the score is 'above' when VBQ >= cut-off):")
            for c in sorted(self.cutoffs, key=lambda c: c["value"]):
                side = "above" if c["above"] else "below"
                lines.append(f"  {c['value']:<5g} {side:<6}{c['target']} "
                             f"[{c['source']}; doi:{c['doi']}]")
        if warnings:
            lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def study_line(self) -> str:
        """Return the study in one line: date, patient ID, accession number, UID (what is known)."""
        st = dict(self.study or {})
        bits = []
        if st.get("study_date"):
            bits.append(str(st["study_date"]))
        if st.get("patient_id"):
            bits.append(f"patient {st['patient_id']}")
        if st.get("accession_number"):
            bits.append(f"accession {st['accession_number']}")
        if self.phi_removed:
            bits.append("patient ID, date and accession number removed")
        bits.append(f"UID {st.get('study_instance_uid') or '(none)'}")
        return ", ".join(bits)

    def slice_line(self) -> str:
        """Return the measured slice in one line: index, InstanceNumber, offset from the midline."""
        bits = [f"{self.slice_index}"]
        if self.instance_number is not None:
            bits.append(f"instance {self.instance_number}")
        if self.midline_offset_mm is not None:
            how = {"bodies": " through the bodies", "canal": " at the canal",
                   "labels": " from the labels"}.get(self.midline_source or "", "")
            bits.append(f"{abs(self.midline_offset_mm):.1f} mm from the mid-sagittal plane{how}")
        return bits[0] + (f" ({', '.join(bits[1:])})" if len(bits) > 1 else "")

    def plot_qc(self, ax: Axes | None = None) -> Axes:
        """Draw the QC figure (measured slice, ROIs, SI per level, VBQ) and return the Axes."""
        from vbq.qc import plot_qc

        return plot_qc(self, ax=ax)

    def save_qc(self, path: str | Path, *, dpi: int = 150) -> Path:
        """Write the QC figure to ``path`` (PNG, PDF or SVG by suffix), atomically."""
        from vbq.qc import save_qc

        return save_qc(self, path, dpi=dpi)
