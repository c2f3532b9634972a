"""Fixtures shared by the vbq tests."""

from __future__ import annotations

import pytest

import vbq.batch as batch


@pytest.fixture()
def counted(monkeypatch):
    """The ids of the manifest rows scored, in order (``vbq.batch.process_task`` counted)."""
    calls = []
    original = batch.process_task

    def counting(task):
        calls.append(task.id)
        return original(task)

    monkeypatch.setattr(batch, "process_task", counting)
    return calls
