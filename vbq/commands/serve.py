"""``vbq serve FOLDER``: the VBQ reading workstation in the browser (local, offline)."""

from __future__ import annotations

import argparse
from typing import Any

from vbq.commands import plain_int


def register(subparsers: Any) -> None:
    """Add the ``serve`` sub-command."""
    p = subparsers.add_parser(
        "serve",
        help="read the studies of a folder in the browser (local web server)",
        description="Start a local web server for reading the lumbar MRIs under FOLDER in a "
        "browser: a worklist, the sagittal slices, one click per level that becomes a proposed "
        "ellipse, the live VBQ, and saved readings in a SQLite database. It prints the address "
        "to open, with its access token. Needs the 'serve' extra (pip install "
        "'vbq-toolkit[serve]').",
    )
    p.add_argument("folder", metavar="FOLDER", help="folder searched for DICOM studies "
                   "(only read, never written)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=plain_int, default=8765,
                   help="port (default 8765; 0 picks a free one)")
    p.add_argument("--db", metavar="FILE",
                   help="readings database (default ./vbq-readings.sqlite)")
    p.add_argument("--out", metavar="DIR",
                   help="folder of the files a saved reading is exported to (default "
                   "./vbq-exports/)")
    p.add_argument("--reader", metavar="NAME",
                   help="fix the reader: readings of another reader are refused")
    p.add_argument("--unblind", action="store_true",
                   help="let readers see every reading and allow GET /api/readings.csv "
                   "(default: blinded, each reader sees only their own current occasion)")
    p.set_defaults(func=run)


#: Where the readings database and the exports go when not asked for (the working folder).
DEFAULT_DB = "vbq-readings.sqlite"
DEFAULT_OUT = "vbq-exports"


def run(args: argparse.Namespace) -> int:
    """Index the folder, open the database, bind the port, print the address and serve."""
    import socket
    import sys
    from pathlib import Path

    from vbq.errors import InputError

    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise InputError("vbq serve needs the web server packages: pip install "
                         "'vbq-toolkit[serve]'") from None
    from vbq.serve.app import ServeConfig, Workstation, create_app
    from vbq.serve.security import new_token

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is not a port number (0 to 65535)")
    if args.reader is not None and not args.reader.strip():
        raise InputError("--reader must name a reader")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    from vbq.fileio import refuse_output_clash

    # a path asked for inside FOLDER is refused (written files would land among the
    # images); the defaults are in the folder the server is started from, which may be
    # FOLDER itself (`cd FOLDER && vbq serve .`)
    asked = [(name, value) for name, value in (("--db", args.db), ("--out", args.out))
             if value is not None]
    db = args.db if args.db is not None else DEFAULT_DB
    out = args.out if args.out is not None else DEFAULT_OUT
    refuse_output_clash(asked, folders=[("FOLDER", args.folder)], of="vbq serve")
    refuse_output_clash([("--db", db), ("--out", out)], of="vbq serve")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {args.host}:{args.port}: "
                         f"{err.strerror or err}") from None
    sock.listen(128)
    port = int(sock.getsockname()[1])
    config = ServeConfig(folder=folder.resolve(), db=Path(db).resolve(),
                         out=Path(out).resolve(), token=new_token(), host=args.host,
                         port=port, reader=args.reader.strip() if args.reader else None,
                         unblind=args.unblind)
    workstation = Workstation(config)
    app = create_app(config, workstation)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    n = len(workstation.catalog.studies)
    print(f"vbq serve: {n} stud{'y' if n == 1 else 'ies'} under {folder}", file=sys.stderr)
    if workstation.catalog.outside:
        print(f"vbq serve: {workstation.catalog.outside} series left out: their files lie "
              "outside the folder", file=sys.stderr)
    print(f"readings database: {config.db}", file=sys.stderr)
    print(f"exports: {config.out}", file=sys.stderr)
    print(f"http://{shown_host}:{port}/?token={config.token}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off"))
    server.run(sockets=[sock])
    return 0
