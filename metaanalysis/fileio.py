"""Atomic file writes: every file :mod:`metaanalysis` writes goes through here.

A file is written in full to a temporary file in the target's folder and then
moved onto the target with :func:`os.replace`, so a reader never sees a
half-written file and an existing file is replaced only once the new one is
complete. The temporary file is created with mode ``0o666`` less the umask, so
the result has the mode any new file gets (``0644`` under umask ``022``), not
the owner-only mode of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_figure", "protect_inputs", "refuse_clashes"]

#: The input files of the running command: no write may replace one of them.
_INPUTS: dict[Path, str] = {}


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symbolic links resolved, hard links included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def protect_inputs(inputs: dict[str, str | os.PathLike[str] | None]) -> None:
    """Name the running command's input files (what -> path); None values are skipped.

    From then on :func:`write_atomic` refuses to replace any of them, and
    :func:`refuse_clashes` compares planned outputs with them. Called once per
    command by the command line; calling it again starts afresh.
    """
    _INPUTS.clear()
    for what, path in inputs.items():
        if path is not None:
            _INPUTS[Path(path)] = what


def refuse_clashes(outputs: list[Path], option: str) -> None:
    """Refuse (exit 2), before anything is written, outputs that are inputs or repeat.

    Parameters
    ----------
    outputs
        Every file the command is about to write.
    option
        The option that placed them (``--out``), named in the sentence.
    """
    from metaanalysis.errors import InputError

    for i, out in enumerate(outputs):
        for given, what in _INPUTS.items():
            if _same(out, given):
                raise InputError(f"{option} would write {out}, which is the {what} {given}; "
                                 "choose another folder or move the input.")
        for other in outputs[:i]:
            if _same(out, other):
                raise InputError(f"{option} would write {out} twice.")  # pragma: no cover


def _temporary(target: Path) -> tuple[int, Path]:
    """Create a new, empty temporary file next to ``target``; return its descriptor and path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{target}: no free temporary name in its folder.")  # pragma: no cover


def write_atomic(path: str | os.PathLike[str], data: bytes | str,
                 encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically, with a new file's usual mode.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder must exist.
    data : bytes or str
        The content; text is encoded with ``encoding``.
    encoding : str, default "utf-8"
        Encoding of text ``data``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        When the file cannot be written; the error names ``path``, never the
        temporary file, and no temporary file is left behind.
    """
    target = Path(path)
    for given, what in _INPUTS.items():
        if _same(target, given):
            from metaanalysis.errors import InputError

            raise InputError(f"{target}: is the {what} {given} of this command, and is not "
                             "overwritten; choose another output folder.")
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    try:
        fd, tmp = _temporary(target)
    except OSError as err:
        raise OSError(err.errno, err.strerror, os.fspath(target)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, target)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, os.fspath(target)) from None
        raise
    return target


def write_figure(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> Path:
    """Render a matplotlib figure in memory, then write it with :func:`write_atomic`.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or path-like
        The file to write.
    **savefig_kwargs
        Passed to :meth:`~matplotlib.figure.Figure.savefig` (``format``,
        ``dpi``, ``bbox_inches``...). Without ``format``, the suffix of
        ``path`` chooses it.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    target = Path(path)
    kw = dict(savefig_kwargs)
    if "format" not in kw:
        kw["format"] = target.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, **kw)
    return write_atomic(target, buf.getvalue())
