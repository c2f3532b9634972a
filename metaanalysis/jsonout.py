"""Strict JSON for results: numpy and pandas values become plain Python, NaN becomes null.

Every ``--json`` output of the command line goes through :func:`dumps`, so it
parses with any strict JSON reader (no ``NaN`` or ``Infinity`` tokens).
"""

from __future__ import annotations

import json
import math
from typing import Any


def jsonable(obj: Any) -> Any:
    """Return ``obj`` with numpy/pandas scalars and arrays as plain values, NaN/inf as None."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None or isinstance(obj, str | int):
        return obj
    try:
        import pandas as pd

        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Serialise ``obj`` as strict JSON (see :func:`jsonable`)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)
