"""Who may talk to the workstation, and which files it may read.

Three checks, none of which needs the web framework:

- the access token (:func:`new_token`, :func:`token_matches`): made by
  :func:`secrets.token_urlsafe` and compared in constant time;
- the ``Host`` and ``Origin`` headers (:class:`HostPolicy`): a page served
  under another host name that resolves to this machine (DNS rebinding) is
  refused, and so is a state-changing request sent from another origin;
- paths (:func:`inside`, :func:`safe_child`): only files whose real path,
  symbolic links resolved, lies under the served folder are read.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["new_token", "token_matches", "HostPolicy", "inside", "safe_child"]

#: Host names that always mean this machine.
LOCAL_NAMES: frozenset[str] = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def new_token() -> str:
    """Return a fresh access token (32 random bytes, URL-safe base64).

    Examples
    --------
    >>> len(new_token()) >= 43
    True
    """
    return secrets.token_urlsafe(32)


def token_matches(given: str | None, token: str) -> bool:
    """Compare a presented token with the server's in constant time.

    Examples
    --------
    >>> token_matches("abc", "abc"), token_matches("abd", "abc"), token_matches(None, "abc")
    (True, False, False)
    """
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               token.encode("utf-8", "surrogatepass"))


def _split_host(value: str) -> tuple[str, str | None]:
    """``"name:port"`` -> ``("name", "port")``; IPv6 literals keep their brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        rest = value[end + 1:]
        return value[: end + 1], rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        name, port = value.split(":")
        return name, port
    return value, None


@dataclass(frozen=True)
class HostPolicy:
    """The host names and port the server answers to.

    Attributes
    ----------
    host
        The address the server is bound to (e.g. ``127.0.0.1``).
    port
        The port it listens on.

    Examples
    --------
    >>> p = HostPolicy("127.0.0.1", 8765)
    >>> p.host_ok("localhost:8765"), p.host_ok("evil.example:8765"), p.host_ok("127.0.0.1:1")
    (True, False, False)
    >>> p.origin_ok("http://127.0.0.1:8765"), p.origin_ok("http://evil.example:8765")
    (True, False)
    """

    host: str
    port: int

    def names(self) -> frozenset[str]:
        """Host names accepted: the bound address and the local names."""
        bound = self.host.lower()
        if ":" in bound and not bound.startswith("["):
            bound = f"[{bound}]"
        return LOCAL_NAMES | {bound}

    def host_ok(self, header: str | None) -> bool:
        """Whether a ``Host`` header names this server (its address or localhost, its port)."""
        if not header:
            return False
        name, port = _split_host(header)
        if name not in self.names():
            return False
        return port is None or port == str(self.port)

    def origin_ok(self, origin: str | None) -> bool:
        """Whether an ``Origin`` header is this server's own page.

        A request without ``Origin`` (a script, not a browser) is let through: it
        must still carry the token.
        """
        if origin is None:
            return True
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme.lower() != "http" or "/" in rest:
            return False
        return self.host_ok(rest)


def inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path``, symbolic links resolved, lies in the folder ``root``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> inside(root / "a" / "b.dcm", root), inside(root / ".." / "x", root)
    (True, False)
    """
    real_root = Path(root).resolve()
    real = Path(path).resolve()
    return real == real_root or real_root in real.parents


def safe_child(root: str | os.PathLike[str], relative: str) -> Path | None:
    r"""Return ``root/relative`` when it is a plain relative path that stays in ``root``.

    An absolute path, a ``..`` part, a backslash, a NUL or a symbolic link that
    leads out of ``root`` gives None.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> safe_child(root, "app.js") is not None, safe_child(root, "../etc/passwd")
    (True, None)
    >>> safe_child(root, "/etc/passwd"), safe_child(root, "a\\..\\b")
    (None, None)
    """
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    rel = PurePosixPath(relative)
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts):
        return None
    if len(relative) > 1 and relative[1] == ":":  # a drive letter
        return None
    candidate = Path(root, *rel.parts)
    if not inside(candidate, root):
        return None
    return candidate
