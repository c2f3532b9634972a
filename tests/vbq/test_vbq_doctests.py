"""Every ``>>>`` example in the imaging half runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import vbq


def test_docstring_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    attempted = 0
    failed: list[str] = []
    for info in pkgutil.walk_packages(vbq.__path__, "vbq."):
        module = importlib.import_module(info.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False,
                                     report=False)
        attempted += result.attempted
        if result.failed:
            failed.append(info.name)
    assert not failed, f"doctests fail in {failed}"
    assert attempted >= 16  # examples (statements), not docstrings
