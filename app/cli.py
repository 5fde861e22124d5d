"""The `samsyn` command: database, import, demo data and the server."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from app.config import load_config
from samsyn.errors import SamsynError


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
    importer.add_argument(
        "--accept-mismatch",
        action="store_true",
        help="import images whose header names another patient, with a standing warning",
    )
    importer.set_defaults(run=_import)
    serve = commands.add_parser("serve", help="run the production server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=None, help="worker processes [one per core]")
    serve.add_argument(
        "--threads", type=int, default=32, help="HTTP threads per worker (live ones come on top)"
    )
    serve.set_defaults(run=_serve)
    _directory_commands(commands)
    audit = commands.add_parser("audit", help="the access log").add_subparsers(
        title="audit commands"
    )
    audit.add_parser("verify", help="check the hash chain of the access log").set_defaults(
        run=_audit_verify
    )
    demo = commands.add_parser("demo", help="load the demo data (idempotent)")
    demo.add_argument("--shared-data", help="folder of sample files to import as well")
    demo.set_defaults(run=_demo)
    return parser


def _directory_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    org = commands.add_parser("org", help="organisations").add_subparsers(title="org commands")
    add = org.add_parser("add", help="add an organisation (vårdgivare)")
    add.add_argument("name")
    add.add_argument("--hsa-id", required=True)
    add.add_argument("--kind", default="region", choices=("region", "private", "teaching"))
    add.set_defaults(run=_org_add)
    unit = commands.add_parser("unit", help="care units").add_subparsers(title="unit commands")
    add = unit.add_parser("add", help="add a care unit (vårdenhet)")
    add.add_argument("name")
    add.add_argument("--org", required=True)
    add.add_argument("--hsa-id", required=True)
    add.set_defaults(run=_unit_add)
    user = commands.add_parser("user", help="users").add_subparsers(title="user commands")
    add = user.add_parser("add", help="add a user, or a role to an existing user")
    add.add_argument("username")
    add.add_argument("--org", required=True)
    add.add_argument("--role", required=True)
    add.add_argument("--unit")
    add.add_argument("--hsa-id")
    add.add_argument("--name")
    add.add_argument("--patient", help="for the patient role: the user's personnummer")
    add.add_argument("--password-stdin", action="store_true", required=True)
    add.set_defaults(run=_user_add)
    patient = commands.add_parser("patient", help="patients").add_subparsers(
        title="patient commands"
    )
    add = patient.add_parser("add", help="add a patient")
    add.add_argument("pnr", metavar="PNR")
    add.add_argument("--name", required=True)
    add.add_argument("--org", required=True)
    add.add_argument("--protected-identity", action="store_true")
    add.set_defaults(run=_patient_add)


def _in_directory(action: Callable[[Session], str]) -> int:
    """Run one directory change in a transaction; print its result or a one-line error."""
    from app import create_app
    from app.services import services

    database = services(create_app()).db
    try:
        with database.session() as session:
            print(action(session))
    except SamsynError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


def _org_add(a: argparse.Namespace) -> int:
    from app.directory import add_org

    return _in_directory(
        lambda s: f"organisation {add_org(s, a.name, a.hsa_id, a.kind).id} {a.name}"
    )


def _unit_add(a: argparse.Namespace) -> int:
    from app.directory import add_unit

    return _in_directory(lambda s: f"unit {add_unit(s, a.name, a.org, a.hsa_id).id} {a.name}")


def _user_add(a: argparse.Namespace) -> int:
    from app.directory import add_user

    password = sys.stdin.readline().rstrip("\n")

    def add(session: Session) -> str:
        user = add_user(
            session, a.username, a.org, a.role, password, a.unit, a.hsa_id, a.name, a.patient
        )
        return f"user {user.id} {a.username} ({a.role})"

    return _in_directory(add)


def _patient_add(a: argparse.Namespace) -> int:
    from app.directory import add_patient

    return _in_directory(
        lambda s: f"patient {add_patient(s, a.pnr, a.name, a.org, a.protected_identity).id} {a.pnr}"
    )


def _audit_verify(_arguments: argparse.Namespace) -> int:
    from app import create_app
    from app.audit import verify
    from app.services import services

    with services(create_app()).db.session() as session:
        verdict = verify(session)
    if verdict.ok:
        print(f"access log intact: {verdict.entries} entries")
        return 0
    print(f"access log broken at entry {verdict.broken_seq}: {verdict.reason}")
    return 1


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
    owner = (arguments.org, arguments.patient, arguments.case)
    if (arguments.patient or arguments.case) and not arguments.org:
        print("error: --patient and --case need --org", file=sys.stderr)
        return 1
    if not arguments.org:
        print(
            "note: without --org the images belong to no organisation, and nobody sees them "
            "until they are imported again with --org",
            file=sys.stderr,
        )
    for line, ok in import_paths(app, arguments.paths, owner, arguments.accept_mismatch):
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
