"""The studies under the served folder, each with its chosen series and the reasons.

The folder is indexed once (:func:`vbq.dicom.index.index_folder`); each study
then goes through the same series choice as ``vbq score --study``
(:func:`vbq.dicom.choice.choose_series`), so the worklist shows the series
``vbq score`` would measure, and why each other one was rejected. A series
any of whose files lies outside the folder once symbolic links are resolved is
left out: the server reads only files under the folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vbq.dicom.choice import SeriesChoice, choose_series
from vbq.dicom.index import index_folder
from vbq.dicom.series import SeriesIndex, SeriesInfo, iso_date
from vbq.errors import InputError
from vbq.serve.security import inside

__all__ = ["Study", "Catalog"]


@dataclass(frozen=True)
class Study:
    """One study of the folder as the worklist shows it.

    Attributes
    ----------
    study_uid, patient_id, study_date, description
        Its identity (``study_date`` as YYYY-MM-DD).
    series
        ``{series_uid, description, chosen, reason, n_slices, rows, cols,
        mid_slice}`` per image series, the chosen one first.
    problem
        Why no series can be scored (the series choice's sentence), or None.
    """

    study_uid: str
    patient_id: str | None
    study_date: str | None
    description: str | None
    series: tuple[dict[str, Any], ...]
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the study as ``GET /api/studies`` lists it."""
        return {"study_uid": self.study_uid, "patient_id": self.patient_id,
                "study_date": self.study_date, "description": self.description,
                "series": [dict(s) for s in self.series], "problem": self.problem}


def _series_entry(s: SeriesInfo, chosen: bool, reason: str) -> dict[str, Any]:
    rows, cols = s.shape if s.slices else (0, 0)
    return {"series_uid": s.series_instance_uid, "description": s.description,
            "chosen": chosen, "reason": reason, "n_slices": len(s.slices), "rows": int(rows),
            "cols": int(cols), "mid_slice": s.mid_slice if s.slices else 0,
            "series_number": s.series_number,
            "instance_numbers": [sl.instance_number for sl in s.slices]}


class Catalog:
    """Every study found under ``folder``.

    Parameters
    ----------
    folder
        The served folder (read only; never written).

    Raises
    ------
    InputError
        ``folder`` is not a folder.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder} is not a folder")
        self._lock = threading.Lock()
        index = index_folder(self.folder)
        kept = tuple(s for s in index.series
                     if all(inside(sl.path, self.folder) for sl in s.slices))
        self.outside = len(index.series) - len(kept)
        self.index: SeriesIndex = replace(index, series=kept)
        self._series = {s.series_instance_uid: s for s in kept}
        self.studies = self._build()

    def _build(self) -> dict[str, Study]:
        by_study: dict[str, list[SeriesInfo]] = {}
        for s in self.index.series:
            by_study.setdefault(s.study_instance_uid or "", []).append(s)
        out: dict[str, Study] = {}
        for uid, members in by_study.items():
            first = next((s for s in members if s.study_date), members[0])
            desc = next((s.study_description for s in members if s.study_description), None)
            pid = next((s.patient_id for s in members if s.patient_id), None)
            problem = None
            entries: list[dict[str, Any]] = []
            try:
                if not uid:
                    raise InputError("the series carry no StudyInstanceUID")
                choice = choose_series(self.index, study=uid)
                chosen = choice.series.series_instance_uid
                why = {u: w for u, _, w in choice.rejected}
                entries.append(_series_entry(choice.series, True, choice.reason))
                entries += [_series_entry(s, False, why.get(s.series_instance_uid, "not chosen"))
                            for s in members if s.series_instance_uid != chosen]
            except InputError as err:
                problem = str(err)
                entries = [_series_entry(s, False, problem) for s in members]
            out[uid] = Study(study_uid=uid, patient_id=pid, study_date=iso_date(first.study_date),
                             description=desc, series=tuple(entries), problem=problem)
        return out

    def series(self, series_uid: str) -> SeriesInfo:
        """Return the series with this UID (KeyError if it is not served)."""
        return self._series[series_uid]

    def choice(self, series_uid: str) -> SeriesChoice:
        """Return the series choice ``vbq score FOLDER --study S --series U`` makes.

        Raises
        ------
        KeyError
            The series is not served.
        InputError
            As :func:`~vbq.dicom.choice.choose_series`.
        """
        s = self._series[series_uid]
        return choose_series(self.index, series_uid=series_uid,
                             study=s.study_instance_uid or None)
