"""vbq: the vertebral bone quality (VBQ) score from routine lumbar MRI.

Entry points (everything else may move)::

    import vbq
    res = vbq.score_series("study/", rois="rois.json", protocol="lumbar")
    res.vbq, res.levels, res.warnings, res.to_dict(), res.plot_qc(ax=None)
    vbq.score_values({"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131})

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use so that `import vbq`
# stays cheap for the command line.
_EXPORTS: dict[str, str] = {
    "score_series": "vbq.score",
    "score_values": "vbq.score",
    "VBQResult": "vbq.result",
    "Protocol": "vbq.protocol",
    "PROTOCOLS": "vbq.protocol",
    "InputError": "vbq.errors",
    "AnalysisError": "vbq.errors",
    "VBQError": "vbq.errors",
    "VbqWarning": "vbq.errors",
    "SliceRef": "vbq.dicom.sliceref",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vbq' has no attribute {name!r}")
