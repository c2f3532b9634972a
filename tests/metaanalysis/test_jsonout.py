import json
import math

import numpy as np
import pandas as pd

from metaanalysis.jsonout import dumps, jsonable


def _strict(text):
    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_numpy_and_pandas_values_become_plain_json():
    obj = {"a": np.float64("nan"), "b": np.int64(3), "c": np.array([1.5, np.inf]),
           "d": (np.bool_(True), pd.NA, None), 4: "x", "e": float("-inf")}
    assert _strict(dumps(obj)) == {"a": None, "b": 3, "c": [1.5, None],
                                   "d": [True, None, None], "4": "x", "e": None}


def test_finite_floats_round_trip_exactly():
    x = 0.1 + 0.2
    assert _strict(dumps({"x": np.float64(x)}))["x"] == x
    assert jsonable(math.pi) == math.pi
