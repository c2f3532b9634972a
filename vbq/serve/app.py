"""The workstation's web application (ASGI, Starlette): the page, its files and the JSON API.

Endpoints (every one needs the access token, see :class:`Guard`):

===========================================  ======================================================
``GET /``                                    the reading page
``GET /static/{file}``                       its script and style sheet (package data)
``GET /api/config``                          the fixed reader (or null), blinding, software version,
                                             the page's protocol and its fewest levels
``GET /api/studies``                         the worklist (``?reader=`` adds ``read``)
``GET /api/series/{uid}``                     its slices, the series middle and the detected
                                             mid-sagittal slice (from the sac once traced,
                                             before that from the stack's symmetry)
``GET /api/series/{uid}/slices/{i}.png``     a slice (``?window=&level=``)
``POST /api/propose``                        ``{series_uid, seeds, slice?}`` -> proposed ellipses
``POST /api/score``                          ``{series_uid, rois, protocol?, statistic?, force?}``
``POST /api/measure``                        ``{series_uid, rois, statistic?}`` -> each ROI's signal
                                             and pixels, no score (too few levels left, say)
``POST /api/readings``                       the same plus ``reader``, ``provenance``,
                                             ``replaces?``, ``export?`` -> ``{reading_id, result}``
``GET /api/readings``                        the readings this reader may see (``?reader=``),
                                             their own with its ROI document
``POST /api/occasions``                      ``{reader}``: start the reader's next occasion
``GET /api/readings.csv``                    every reading (only when started unblinded)
===========================================  ======================================================

Errors are ``{"error": "one sentence"}`` with 400 (malformed body or bad
input: the exit-2 cases), 403 (token, host, origin or reader), 404 (unknown
series, slice or file) or 422 (well formed but not scorable: the exit-1
cases); never a traceback.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from vbq.errors import AnalysisError, CsfNotFoundError, InputError, VBQError
from vbq.fileio import StrictJsonError, loads_strict
from vbq.result import VBQResult
from vbq.serve.catalog import Catalog
from vbq.serve.security import HostPolicy, safe_child, token_matches
from vbq.serve.storage import OtherReadersReadingError, ReadingStore, UnknownReadingError

__all__ = ["ServeConfig", "ApiError", "Guard", "Workstation", "create_app", "PROVENANCE",
           "parse_body", "check_reader_name"]

log = logging.getLogger("vbq.serve")

STATIC = Path(__file__).parent / "static"
COOKIE = "vbq_token"

#: How each ROI of a reading was made.
PROVENANCE: tuple[str, ...] = ("accepted_proposal", "edited_proposal", "hand_drawn")

_MAX_BODY = 2_000_000
#: A reader name: a letter or digit, then letters, digits, spaces and ``. _ - '``
#: (64 characters at most). Nothing a spreadsheet could take for a formula.
_READER = re.compile(r"[^\W_](?:[^\W_]|[ ._'-]){0,63}")
READER_RULE = ("a reader name is 1 to 64 letters, digits, spaces and . _ - ' starting with a "
               "letter or digit")
#: Largest magnitude of a display window or level (signal intensity units).
WINDOW_LIMIT = 1e7


class ApiError(Exception):
    """A request refused with an HTTP status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeConfig:
    """How ``vbq serve`` was started.

    Attributes
    ----------
    folder
        The served folder.
    db, out
        The readings database and the export folder.
    token
        The access token.
    host, port
        The bound address and port.
    reader
        The reader fixed by ``--reader``, or None (chosen in the page).
    unblind
        Whether readings of other readers and occasions may be seen.
    """

    folder: Path
    db: Path
    out: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 8765
    reader: str | None = None
    unblind: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


class Guard:
    """ASGI middleware: Host check, access token, Origin check on state-changing requests.

    The token is taken from ``Authorization: Bearer``, the ``vbq_token``
    cookie, or once from ``?token=``: a GET with a valid ``token`` query is
    redirected to the same address without it and sets the cookie (HttpOnly,
    SameSite=Strict), so the token does not stay in the address bar or the
    browser history.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], token: str,
                 policy: HostPolicy) -> None:
        self.app = app
        self.token = token
        self.policy = policy

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Check the request, then pass it on or answer 403."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if not self.policy.host_ok(headers.get("host")):
            await _error(403, "this server answers only to its own address or localhost (Host "
                         "header refused)")(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        cookie = None
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                cookie = value
        if scope["method"] == "GET" and "token" in query:
            if not token_matches(query["token"], self.token):
                await _error(403, "the access token is wrong; use the address vbq serve "
                             "printed")(scope, receive, send)
                return
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            target = scope["path"] + (f"?{rest}" if rest else "")
            resp = RedirectResponse(target, status_code=303)
            resp.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            await resp(scope, receive, send)
            return
        if not (token_matches(bearer, self.token) or token_matches(cookie, self.token)):
            await _error(403, "an access token is needed: open the address vbq serve printed, or "
                         "send Authorization: Bearer TOKEN")(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD") and not self.policy.origin_ok(
                headers.get("origin")):
            await _error(403, "request from another origin refused")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def parse_body(raw: bytes) -> dict[str, Any]:
    """Parse a request body as strict JSON: one object, every key once, finite numbers.

    The one parser of every JSON endpoint. It refuses, each in one sentence
    (:class:`ApiError` 400): a body over 2,000,000 bytes, text that is not
    UTF-8 or not JSON, a key given twice in one object (named), ``NaN``,
    ``Infinity`` or a number too large for a double, arrays and objects
    nested more than 32 deep (as input files, :data:`vbq.fileio.MAX_JSON_DEPTH`),
    and anything but an object at the top.

    Examples
    --------
    >>> parse_body(b'{"series_uid": "1.2", "slice": 3}')
    {'series_uid': '1.2', 'slice': 3}
    >>> try:
    ...     parse_body(b'{"a": 1, "a": 2}')
    ... except ApiError as err:
    ...     print(err.status, err)
    400 the request body is not strict JSON: key "a" appears twice in one object
    """
    if len(raw) > _MAX_BODY:
        raise ApiError(400, f"the request body is larger than {_MAX_BODY} bytes")
    try:
        data = loads_strict(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    except StrictJsonError as err:
        raise ApiError(400, f"the request body is not strict JSON: {err}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data



def check_reader_name(name: str, what: str = "reader name") -> str:
    """Return ``name`` stripped if it is a plain reader name, else raise :class:`InputError`.

    A reader name is 1 to 64 letters, digits, spaces and ``. _ - '``,
    starting with a letter or digit: it ends up in CSV cells and file names,
    so nothing in it may read as a spreadsheet formula (``=``, ``+``, ``-``,
    ``@``) or split a cell.

    Examples
    --------
    >>> check_reader_name(" Dr. O'Neil-Smith ")
    "Dr. O'Neil-Smith"
    >>> try:
    ...     check_reader_name("@SUM(1+1)")
    ... except InputError as err:
    ...     print(str(err)[:40])
    reader name '@SUM(1+1)': a reader name i
    """
    text = name.strip()
    if not _READER.fullmatch(text):
        raise InputError(f"{what} {name[:80]!r}: {READER_RULE}")
    return text


def window_value(key: str, text: str) -> float:
    """Read ``?window=`` or ``?level=``: a plain decimal number, at most 1e7 in magnitude.

    A window must also be above 0. Anything else is :class:`ApiError` 400.

    Examples
    --------
    >>> window_value("window", "400"), window_value("level", "-2.5e2")
    (400.0, -250.0)
    """
    from vbq.values import parse_number

    rule = (f"{key} must be a number from -{WINDOW_LIMIT:g} to {WINDOW_LIMIT:g}"
            if key == "level" else f"{key} must be a number above 0, at most {WINDOW_LIMIT:g}")
    try:
        value = parse_number(text.strip(" "))
    except ValueError:
        raise ApiError(400, f"{rule}, got {text[:40]!r}") from None
    if not (math.isfinite(value) and abs(value) <= WINDOW_LIMIT) or (
            key == "window" and value <= 0):
        raise ApiError(400, f"{rule}, got {text[:40]}")
    return value


def _allowed(data: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in data:
        if key not in keys:
            raise ApiError(400, f'unknown key "{key}" (expected: {", ".join(keys)})')


def _string(data: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ApiError(400, f'"{key}" is missing')
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f'"{key}" must be a non-empty string')
    return value.strip()


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f'"{key}" must be true or false')
    return value


def _object(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        raise ApiError(400, f'"{key}" is missing')
    if not isinstance(value, dict):
        raise ApiError(400, f'"{key}" must be a JSON object')
    return value


def provenance_text(rois: Mapping[str, Any], given: object) -> str:
    """``"L1:accepted_proposal;...;CSF:hand_drawn"`` in ROI order (a ROI not named: hand_drawn).

    Raises
    ------
    ApiError
        ``given`` is not an object of label -> one of :data:`PROVENANCE`, or
        names a label the ROIs do not have.
    """
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ApiError(400, '"provenance" must be an object like {"L1": "accepted_proposal"}')
    labels = [str(r.get("label")) for r in rois.get("rois", []) if isinstance(r, dict)]
    for label, value in given.items():
        if label not in labels:
            raise ApiError(400, f'"provenance" names {label}, which is not one of the ROIs')
        if value not in PROVENANCE:
            raise ApiError(400, f'"provenance" of {label}: {value!r} is not one of '
                           f'{", ".join(PROVENANCE)}')
    return ";".join(f"{label}:{given.get(label, 'hand_drawn')}" for label in labels)


#: How the command line and the API are told to force a refused score, and how the page is.
_FORCE_HINTS = (
    ("force the score with --force (force=True in Python, a 'force' column in a batch "
     "manifest or values table)", "tick Force beside Save to score it anyway (the result then "
     "carries a warning)"),
    ("or force it (--force, force=True, a force column) to score it anyway",
     "or tick Force beside Save to score it anyway"),
)


def in_the_page(message: str) -> str:
    """Return a refusal's sentence with its hint on forcing the score as the page offers it.

    Examples
    --------
    >>> in_the_page("no VBQ; or force it (--force, force=True, a force column) to score it "
    ...             "anyway")
    'no VBQ; or tick Force beside Save to score it anyway'
    """
    for given, page in _FORCE_HINTS:
        message = message.replace(given, page)
    return message


class Workstation:
    """The state behind the API: the catalog, the readings database and the options."""

    def __init__(self, config: ServeConfig, catalog: Catalog | None = None,
                 store: ReadingStore | None = None) -> None:
        self.config = config
        if config.reader is not None:
            check_reader_name(config.reader, "--reader")
        self.catalog = catalog if catalog is not None else Catalog(config.folder)
        self.store = store if store is not None else ReadingStore(config.db)
        self._midlines: dict[str, tuple[int, float]] = {}
        self._midline_sources: dict[str, str] = {}
        self._symmetric: dict[str, tuple[int, float] | None] = {}
        self._symmetry_locks: dict[str, threading.Lock] = {}
        self._decode_locks: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def pixels(self, series: Any, index: int) -> Any:
        """Return slice ``index`` of ``series``, decoding it at most once however it is asked.

        The series keeps the decoded slices (:meth:`vbq.dicom.series.SeriesInfo.pixels`);
        requests that need the same slice at the same time (a slice image, the
        symmetry search, a proposal or a score) wait for the one decoding it
        instead of decoding it again.

        Raises
        ------
        InputError
            The slice cannot be read (as :meth:`~vbq.dicom.series.SeriesInfo.pixels`).
        """
        key = (series.series_instance_uid, int(index))
        with self._lock:
            lock = self._decode_locks.setdefault(key, threading.Lock())
        with lock:
            return series.pixels(index)

    def decode(self, series: Any) -> None:
        """Decode every slice of ``series`` once (see :meth:`pixels`), before an analysis.

        Proposals and scores read every slice for the mid-sagittal plane; decoded
        here first, they never decode a slice the symmetry search or another
        request is decoding. A slice that cannot be read is left for the
        analysis to report.
        """
        for k in range(len(series.slices)):
            try:
                self.pixels(series, k)
            except InputError:
                continue

    def note_midline(self, series: Any, index: int, offset_mm: float | None,
                     source: str | None = None) -> None:
        """Remember the mid-sagittal slice found when slice ``index`` was ``offset_mm`` from it.

        The plane is found from the anatomy through the clicked or drawn bodies
        (:func:`vbq.roi.midline.summarise_canal`; ``source`` ``"bodies"`` or
        ``"canal"``, :attr:`vbq.roi.midline.Midline.source`); the series is then
        opened on it.
        """
        if offset_mm is None or not math.isfinite(offset_mm):
            return
        if source is not None:
            self._midline_sources[series.series_instance_uid] = source
        from vbq.roi.midline import slice_positions

        positions = slice_positions(series)
        plane = float(positions[int(index)]) + float(offset_mm)
        k = int(abs(positions - plane).argmin())
        self._midlines[series.series_instance_uid] = (k, float(plane - positions[k]))

    def midline(self, uid: str) -> tuple[int, float] | None:
        """Return the mid-sagittal slice found from the anatomy and its offset (mm), or None."""
        return self._midlines.get(uid)

    def midline_source(self, uid: str) -> str | None:
        """Return how that plane was found (``"bodies"``, ``"canal"``), or None."""
        return self._midline_sources.get(uid)

    def symmetry_midline(self, series: Any) -> tuple[int, float] | None:
        """Return the slice of greatest left-right symmetry and the plane's offset from it (mm).

        Found from the images alone (:func:`vbq.roi.symmetry.symmetry_midline`),
        once per series (later calls, and calls while it is being found, get the
        same answer); None when a slice of the series cannot be read.
        """
        uid = series.series_instance_uid
        with self._lock:
            if uid in self._symmetric:
                return self._symmetric[uid]
            lock = self._symmetry_locks.setdefault(uid, threading.Lock())
        with lock:
            if uid in self._symmetric:
                return self._symmetric[uid]
            from vbq.roi.midline import slice_positions
            from vbq.roi.symmetry import symmetry_midline

            try:
                stack = [self.pixels(series, k) for k in range(len(series.slices))]
                found = symmetry_midline(stack)
                positions = slice_positions(series)
                plane = found.position_mm(positions)
                k = int(abs(positions - plane).argmin())
                answer: tuple[int, float] | None = (k, float(plane - positions[k]))
            except (InputError, ValueError):
                answer = None
            with self._lock:
                self._symmetric[uid] = answer
            return answer

    def find_midline_soon(self, series: Any) -> None:
        """Start finding the series' symmetric slice in the background (once), if not yet known."""
        uid = series.series_instance_uid
        with self._lock:
            if uid in self._symmetric or uid in self._symmetry_locks:
                return
            self._symmetry_locks[uid] = threading.Lock()
        threading.Thread(target=self.symmetry_midline, args=(series,), daemon=True,
                         name=f"vbq-midline-{uid[-12:]}").start()

    # ----------------------------------------------------------------- helpers
    def series(self, uid: object) -> Any:
        """Return the served series with this UID (404 otherwise)."""
        if not isinstance(uid, str) or not uid:
            raise ApiError(400, '"series_uid" must be a non-empty string')
        try:
            return self.catalog.series(uid)
        except KeyError:
            raise ApiError(404, f"series {uid} is not in the served folder") from None

    def reader(self, name: object) -> str:
        """Return the reader of a request: the fixed one or a valid name (403 on a mismatch)."""
        fixed = self.config.reader
        if name is None or name == "":
            if fixed is not None:
                return fixed
            raise ApiError(400, '"reader" is missing: choose a reader name first')
        if not isinstance(name, str):
            raise ApiError(400, f'"reader" must be a string: {READER_RULE}')
        try:
            name = check_reader_name(name, '"reader"')
        except InputError as err:
            raise ApiError(400, str(err)) from None
        if fixed is not None and name != fixed:
            raise ApiError(403, f"this server was started for reader {fixed}; readings of "
                           "another reader are refused")
        return name

    def score(self, data: Mapping[str, Any]) -> tuple[VBQResult, Any]:
        """Score ROIs as ``vbq score FOLDER --study S --series U --rois F`` does."""
        from vbq.protocol import get_protocol
        from vbq.roi.rois import RoiFile
        from vbq.score import score_roi_masks

        uid = data.get("series_uid")
        self.series(uid)
        rois = _object(data, "rois")
        protocol = _string(data, "protocol", required=False) or "lumbar"
        statistic = _string(data, "statistic", required=False)
        force = _bool(data, "force")
        proto = get_protocol(protocol)
        choice = self.catalog.choice(str(uid))
        series = choice.series
        roi_file = RoiFile.from_json(rois)
        roi_file.check_csf_level(proto.csf_levels, proto.name)
        self.decode(series)
        roi_masks = roi_file.masks(series)
        try:
            result = score_roi_masks(series, roi_masks, protocol=proto, statistic=statistic,
                                     extra_warnings=choice.warnings, force=force)
        except AnalysisError as err:
            raise type(err)(in_the_page(str(err))) from None
        rejected = [{"series_instance_uid": u, "description": d, "why": w}
                    for u, d, w in choice.rejected]
        result = replace(result, series_choice={"reason": choice.reason, "rejected": rejected})
        self.note_midline(series, roi_masks.slice_index, roi_masks.midline_offset_mm,
                          roi_masks.midline_source)
        return result, series

    def measure(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Measure each ROI as a score would, without scoring (no level count, no gate)."""
        from vbq.roi.rois import RoiFile
        from vbq.score import measure_roi_masks

        uid = data.get("series_uid")
        self.series(uid)
        rois = _object(data, "rois")
        statistic = _string(data, "statistic", required=False) or "mean"
        if statistic not in ("mean", "median"):
            raise ApiError(400, f'"statistic" must be "mean" or "median", not {statistic!r}')
        series = self.catalog.choice(str(uid)).series
        roi_file = RoiFile.from_json(rois)
        self.decode(series)
        measurements, slices = measure_roi_masks(series, roi_file.masks(series))
        return {"statistic": statistic,
                "rois": {label: {"si": float(m.statistic(statistic)), "n_pixels": m.n_pixels,
                                 "slice_index": slices[label]}
                         for label, m in measurements.items()}}


#: What the requests run, imported when the application is built so that the first
#: proposal or score of a fresh server does not wait for Python to load them.
ANALYSIS_MODULES: tuple[str, ...] = (
    "scipy.ndimage", "contourpy", "vbq.roi.proposal", "vbq.roi.rois",
    "vbq.roi.midline", "vbq.roi.symmetry", "vbq.score", "vbq.protocol", "vbq.batch",
    "vbq.serve.render", "vbq.serve.exports")


def create_app(config: ServeConfig, workstation: Workstation | None = None) -> Guard:
    """Build the ASGI application for ``config`` (wrapped in its :class:`Guard`).

    The modules the requests run (:data:`ANALYSIS_MODULES`) are imported here,
    before ``vbq serve`` prints its address.
    """
    import importlib

    for name in ANALYSIS_MODULES:
        importlib.import_module(name)
    ws = workstation if workstation is not None else Workstation(config)
    from vbq import __version__

    def endpoint(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Run ``fn``, turning refusals into JSON errors (never a traceback)."""

        def run(request: Request) -> Response:
            t0 = time.perf_counter()
            try:
                resp = fn(request)
            except ApiError as err:
                resp = _error(err.status, str(err))
            except InputError as err:
                resp = _error(400, str(err))
            except AnalysisError as err:
                resp = _error(422, str(err))
            except VBQError as err:
                resp = _error(400, str(err))
            except Exception as err:  # noqa: BLE001  one sentence, never a traceback
                log.error("internal error on %s %s: %s", request.method, request.url.path,
                          type(err).__name__)
                resp = _error(500, f"internal error ({type(err).__name__}); the server log "
                              "has the request")
            resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
            resp.headers["Cache-Control"] = "no-store"
            log.info("%s %s %d", request.method, request.url.path, resp.status_code)
            return resp

        return run

    def body(request: Request) -> dict[str, Any]:
        import anyio.from_thread

        raw = anyio.from_thread.run(request.body)
        return parse_body(raw)

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    def static(request: Request) -> Response:
        path = safe_child(STATIC, request.path_params["path"])
        if path is None or not path.is_file():
            raise ApiError(404, "no such file")
        return FileResponse(path)

    def config_info(request: Request) -> Response:
        from vbq.protocol import get_protocol

        lumbar = get_protocol("lumbar")  # what the page scores with
        return JSONResponse({"reader": config.reader, "unblind": config.unblind,
                             "version": __version__, "folder": config.folder.name,
                             "protocol": lumbar.name, "min_levels": lumbar.min_levels})

    def studies(request: Request) -> Response:
        reader = request.query_params.get("reader")
        read: set[str] = set()
        if reader or config.reader:
            name = ws.reader(reader)
            read = {r.study_instance_uid for r in ws.store.visible(name, blinded=True)}
        out = []
        for st in ws.catalog.studies.values():
            entry = st.to_dict()
            entry["read"] = st.study_uid in read
            out.append(entry)
        return JSONResponse(out)

    def series_info(request: Request) -> Response:
        series = ws.series(request.path_params["uid"])
        uid = series.series_instance_uid
        sagittal = series.plane == "sagittal"  # only a sagittal stack has a mid-sagittal slice
        traced = ws.midline(uid) if sagittal else None
        found = (traced if traced is not None else ws.symmetry_midline(series)) if sagittal \
            else None
        source = ((ws.midline_source(uid) or "canal") if traced is not None
                  else ("symmetry" if found is not None else None))
        rows, cols = series.shape
        return JSONResponse({
            "series_uid": uid, "n_slices": len(series.slices), "rows": int(rows),
            "cols": int(cols),
            "middle": series.mid_slice, "midline_slice": found[0] if found else None,
            "midline_offset_mm": found[1] if found else None, "midline_source": source,
            "open_at": found[0] if found else series.mid_slice,
            "midline_reason": None if found else (
                f"the series is {series.plane}, so it has no mid-sagittal slice; it opens at "
                "its middle"
                if not sagittal else
                "a slice of the series cannot be read, so its mid-sagittal slice was not "
                "found; it opens at the series' middle")})

    def slice_png(request: Request) -> Response:
        from vbq.serve.render import default_window
        from vbq.serve.render import slice_png as render

        series = ws.series(request.path_params["uid"])
        try:
            index = int(request.path_params["index"])
        except ValueError:
            raise ApiError(404, "a slice is named by its 0-based index") from None
        if not 0 <= index < len(series.slices):
            raise ApiError(404, f"series {series.series_instance_uid} has slices 0 to "
                           f"{len(series.slices) - 1}, not {index}")
        wl: list[float | None] = []
        for key in ("window", "level"):
            text = request.query_params.get(key)
            if text in (None, ""):
                wl.append(None)
                continue
            wl.append(window_value(key, text))
        image = ws.pixels(series, index)
        ws.find_midline_soon(series)  # ready, or nearly, when the page asks for the series
        dw, dl = default_window(image)
        window = dw if wl[0] is None else wl[0]
        level = dl if wl[1] is None else wl[1]
        return Response(render(image, window, level), media_type="image/png",
                        headers={"X-Window": repr(window), "X-Level": repr(level)})

    def propose(request: Request) -> Response:
        from vbq.roi.proposal import propose as engine

        data = body(request)
        _allowed(data, ("series_uid", "seeds", "slice", "find_csf"))
        series = ws.series(data.get("series_uid"))
        seeds = _object(data, "seeds")
        sl = data.get("slice")
        if sl is not None and (isinstance(sl, bool) or not isinstance(sl, int)):
            raise ApiError(400, '"slice" must be a 0-based slice index')
        find_csf = _bool(data, "find_csf") if "find_csf" in data else True
        notes: list[str] = []
        ws.decode(series)
        try:
            p = engine(series, seeds, slice=sl, find_csf=find_csf)
        except CsfNotFoundError as err:
            given = seeds.get("seeds")
            has_csf = isinstance(given, list) and any(
                isinstance(x, dict) and x.get("label") == "CSF" for x in given)
            if has_csf or not find_csf:
                raise
            # the bodies clicked so far are still proposed; the reader clicks the CSF
            p = engine(series, seeds, slice=sl, find_csf=False)
            notes.append(f"no CSF ROI proposed ({err}); click inside the CSF")
        ws.note_midline(series, int(p.rois.get("slice", 0)), p.midline_offset_mm,
                        p.midline_source)
        found = ws.midline(series.series_instance_uid)
        return JSONResponse({"rois": p.rois, "notes": [*p.notes, *notes],
                             "warnings": list(p.warnings),
                             "warning_codes": list(p.warning_codes),
                             "csf_reference": list(p.csf_reference) if p.csf_reference else None,
                             "midline_offset_mm": p.midline_offset_mm,
                             "midline_source": p.midline_source,
                             "midline_slice": found[0] if found else None})

    def score(request: Request) -> Response:
        data = body(request)
        _allowed(data, ("series_uid", "rois", "protocol", "statistic", "force"))
        result, _ = ws.score(data)
        return JSONResponse(result.to_dict())

    def measure(request: Request) -> Response:
        data = body(request)
        _allowed(data, ("series_uid", "rois", "statistic"))
        return JSONResponse(ws.measure(data))

    def save(request: Request) -> Response:
        from vbq.batch import BatchTask, result_record
        from vbq.serve.exports import export_stem, write_exports

        data = body(request)
        _allowed(data, ("reader", "series_uid", "rois", "protocol", "statistic", "force",
                        "provenance", "replaces", "export"))
        reader = ws.reader(data.get("reader"))
        replaces = data.get("replaces")
        if replaces is not None and (isinstance(replaces, bool) or not isinstance(replaces, int)):
            raise ApiError(400, '"replaces" must be a reading id')
        export = _bool(data, "export")
        t0 = time.perf_counter()
        result, series = ws.score(data)
        seconds = time.perf_counter() - t0
        rois = dict(data["rois"])
        provenance = provenance_text(rois, data.get("provenance"))
        study = dict(result.study or {})
        row = result_record(BatchTask(id="", line=0, series=str(config.folder)), result,
                            seconds)
        try:
            reading = ws.store.add(
                reader=reader, study_instance_uid=str(study.get("study_instance_uid") or ""),
                series_instance_uid=series.series_instance_uid,
                patient_id=study.get("patient_id"), rois=rois, roi_provenance=provenance,
                result=result.to_dict(), batch_row=row, replaces=replaces)
        except UnknownReadingError as err:
            raise ApiError(404, str(err)) from None
        except OtherReadersReadingError as err:
            raise ApiError(403, str(err)) from None
        out: dict[str, Any] = {"reading_id": reading.reading_id, "result": reading.result,
                               "occasion": reading.occasion, "read_at": reading.read_at,
                               "replaces": reading.replaces}
        if export:
            stem = export_stem(study.get("patient_id"), study.get("study_date"), reader,
                               reading.reading_id)
            out["files"] = write_exports(config.out, stem, result, rois, series, reader=reader,
                                         read_at=reading.read_at,
                                         reading_id=reading.reading_id, version=__version__)
        return JSONResponse(out)

    def readings(request: Request) -> Response:
        reader = ws.reader(request.query_params.get("reader"))
        # the reader's own with their ROIs: the page reopens the current reading of a series
        # (unblinded, the others' are listed without them: the list stays short)
        return JSONResponse([{**r.summary(), **({"rois": r.rois} if r.reader == reader else {})}
                             for r in ws.store.visible(reader, blinded=not config.unblind)])

    def occasions(request: Request) -> Response:
        data = body(request)
        _allowed(data, ("reader",))
        reader = ws.reader(data.get("reader"))
        return JSONResponse({"reader": reader, "occasion": ws.store.start_occasion(reader)})

    def readings_csv(request: Request) -> Response:
        if not config.unblind:
            raise ApiError(403, "the readings export is available only when the server is "
                           "started with --unblind (or use vbq readings export --db F)")
        return Response(ws.store.export_csv(), media_type="text/csv; charset=utf-8")

    def not_found(request: Request) -> Response:
        raise ApiError(404, f"no such address: {request.url.path}")

    routes = [
        Route("/", endpoint(index)),
        Route("/static/{path:path}", endpoint(static)),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/config", endpoint(config_info)),
        Route("/api/studies", endpoint(studies)),
        Route("/api/series/{uid}", endpoint(series_info)),
        Route("/api/series/{uid}/slices/{index}.png", endpoint(slice_png)),
        Route("/api/propose", endpoint(propose), methods=["POST"]),
        Route("/api/score", endpoint(score), methods=["POST"]),
        Route("/api/measure", endpoint(measure), methods=["POST"]),
        Route("/api/readings", endpoint(save), methods=["POST"]),
        Route("/api/readings", endpoint(readings), methods=["GET"]),
        Route("/api/occasions", endpoint(occasions), methods=["POST"]),
        Route("/api/readings.csv", endpoint(readings_csv)),
        Route("/{rest:path}", endpoint(not_found), methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        status = int(getattr(exc, "status_code", 400))
        return _error(status, str(getattr(exc, "detail", "")) or "request refused")

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, config.token, HostPolicy(config.host, config.port))
