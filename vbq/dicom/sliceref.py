"""A reference to one slice of a series, as written in files, manifests and on the command line.

Owns the one parser of every way a slice is named: a 0-based index into the
series' sorted stack, a SOP Instance UID, or ``{"sop_instance_uid": "...",
"frame": n}`` for one frame of a multi-frame image. Turning a reference into a
slice index needs the series (:meth:`vbq.dicom.series.SeriesInfo.resolve`),
which also refuses an index when lost files may have shifted the stack.

Examples
--------
>>> SliceRef.parse(5, "rois.json")
SliceRef(index=5)
>>> SliceRef.parse({"sop_instance_uid": "1.2.3", "frame": 2}, "rois.json")
SliceRef(uid='1.2.3', frame=2)
>>> SliceRef.parse("1.2.3.4", "--slice").uid
'1.2.3.4'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vbq.errors import InputError
from vbq.fileio import shown, shown_number, shown_text

__all__ = ["SliceRef", "SliceLike"]

#: A UID as DICOM writes it (PS3.5 9.1): digit components separated by dots, 64 at most.
_UID = re.compile(r"(?=.{1,64}$)[0-9]+(\.[0-9]+)*")


@dataclass(frozen=True)
class SliceRef:
    """One slice: by 0-based ``index``, or by SOP Instance ``uid`` (and 1-based ``frame``).

    Exactly one of ``index`` and ``uid`` is set; ``frame`` only with ``uid``.
    """

    index: int | None = None
    uid: str | None = None
    frame: int | None = None

    def __post_init__(self) -> None:
        """Check that the reference names the slice one way."""
        if (self.index is None) == (self.uid is None):
            raise ValueError("a SliceRef has either an index or a uid")
        if self.frame is not None and self.uid is None:
            raise ValueError("a SliceRef frame needs a uid")

    def __repr__(self) -> str:
        """Show only the parts that are set."""
        if self.uid is None:
            return f"SliceRef(index={self.index})"
        frame = "" if self.frame is None else f", frame={self.frame}"
        return f"SliceRef(uid={self.uid!r}{frame})"

    def to_json(self) -> int | dict[str, Any]:
        """Return the reference as an input file writes it.

        Examples
        --------
        >>> SliceRef(uid="1.2.3", frame=4).to_json()
        {'sop_instance_uid': '1.2.3', 'frame': 4}
        """
        if self.index is not None:
            return self.index
        out: dict[str, Any] = {"sop_instance_uid": self.uid}
        if self.frame is not None:
            out["frame"] = self.frame
        return out

    @classmethod
    def parse(cls, value: object, where: str, *, in_file: bool = False) -> SliceRef:
        """Read a slice reference.

        Parameters
        ----------
        value
            A :class:`SliceRef`; an integer index; ``{"sop_instance_uid": "..."}``
            with an optional 1-based ``"frame"``; or, outside files (``in_file``
            false: the command line, a manifest cell, a Python argument), a
            string: ASCII digits are an index, digits and dots a SOP Instance UID,
            anything else (``abc``, ``-1``, ``nan``) is refused.
        where
            The file, row or option the value comes from, for messages.
        in_file
            ``value`` comes from a JSON input file: a negative index and a bare
            string are refused there.

        Raises
        ------
        InputError
            Naming ``where`` and what is wrong.
        """
        if isinstance(value, SliceRef):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if in_file and value < 0:
                raise InputError(f"{where}: slice must be a 0-based index >= 0, got "
                                 f"{shown_number(value)}")
            return cls(index=int(value))
        if isinstance(value, str) and not in_file:
            text = value.strip()
            # ASCII digits only: str.isdigit() is also true of '²', which int() refuses
            if text.isascii() and text.isdigit():
                if len(text.lstrip("0")) > 18:   # no series has so many slices
                    raise InputError(f"{where}: slice {shown_text(text)} is too large to be a "
                                     "slice index")
                return cls(index=int(text))
            if not _UID.fullmatch(text):
                raise InputError(f"{where}: {text[:70]!r} is neither a slice index (0, 1, ...) "
                                 "nor a SOP Instance UID (digits and dots)")
            return cls(uid=text)
        if isinstance(value, Mapping):
            keys = {"sop_instance_uid", "frame"} if "frame" in value else {"sop_instance_uid"}
            extra = sorted(str(k) for k in set(value) - keys)
            if extra:
                raise InputError(f'{where}: unknown key "{extra[0]}" in slice')
            uid = value.get("sop_instance_uid")
            if "frame" in value:
                if not isinstance(uid, str) or not uid.strip():
                    raise InputError(f'{where}: slice needs a "sop_instance_uid" string next '
                                     'to "frame"')
                frame = value["frame"]
                if isinstance(frame, bool) or not isinstance(frame, int) or frame < 1:
                    raise InputError(f'{where}: slice "frame" must be a frame number >= 1 '
                                     f"(1-based, as in DICOM), got {shown(frame)}")
                return cls(uid=uid.strip(), frame=frame)
            if isinstance(uid, str) and uid:
                return cls(uid=uid)
        raise InputError(f'{where}: slice must be a 0-based index or {{"sop_instance_uid": '
                         f'"..."}}, got {shown(value)}')


#: What the Python API accepts as a slice (see :meth:`SliceRef.parse`).
SliceLike = SliceRef | int | str | Mapping[str, Any]
