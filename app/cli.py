"""The `samsyn` command: database, import, demo data and the server."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.config import load_config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    if not hasattr(arguments, "run"):
        parser.print_help()
        return 2
    return int(arguments.run(arguments) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samsyn", description="samsyn second-opinion viewer")
    commands = parser.add_subparsers(title="commands")
    init_db = commands.add_parser("init-db", help="create or migrate the database")
    init_db.set_defaults(run=_init_db)
    importer = commands.add_parser("import", help="register slides from files and folders")
    importer.add_argument("paths", nargs="+", metavar="PATH")
    importer.add_argument("--org", help="owning organisation")
    importer.add_argument("--patient", help="personnummer of the patient")
    importer.add_argument("--case", help="title of the case to attach the images to")
    importer.set_defaults(run=_import)
    serve = commands.add_parser("serve", help="run the production server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--threads", type=int, default=32)
    serve.set_defaults(run=_serve)
    demo = commands.add_parser("demo", help="load the demo data (idempotent)")
    demo.add_argument("--shared-data", help="folder of sample files to import as well")
    demo.set_defaults(run=_demo)
    return parser


def _init_db(_arguments: argparse.Namespace) -> int:
    from app.migrate import upgrade

    url = load_config()["DATABASE_URL"]
    upgrade(url)
    print(f"database ready: {_safe_url(url)}")
    return 0


def _import(arguments: argparse.Namespace) -> int:
    from app import create_app
    from app.importer import import_paths

    app = create_app()
    failures = 0
    for line, ok in import_paths(app, arguments.paths):
        print(line, flush=True)
        failures += 0 if ok else 1
    return 1 if failures else 0


def _serve(arguments: argparse.Namespace) -> int:
    from app.server import serve

    serve(arguments.host, arguments.port, arguments.workers, arguments.threads)
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    from app import create_app
    from app.demo import load_demo

    load_demo(create_app(), arguments.shared_data)
    return 0


def _safe_url(url: str) -> str:
    """The database URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    sys.exit(main())
