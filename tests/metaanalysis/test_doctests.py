"""Every ``>>>`` example in the statistics half runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import metaanalysis


def test_docstring_examples_run():
    attempted = 0
    failed: list[str] = []
    for info in pkgutil.walk_packages(metaanalysis.__path__, "metaanalysis."):
        module = importlib.import_module(info.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit caveats are checked elsewhere
            result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False,
                                     report=False)
        attempted += result.attempted
        if result.failed:
            failed.append(info.name)
    assert not failed, f"doctests fail in {failed}"
    assert attempted >= 30  # examples (statements), not docstrings
