"""Fixtures shared by the whole suite: synthetic slides, an application, a live server."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.directory import add_org, add_patient, add_unit, add_user
from app.extensions import Database, sqlite_file
from app.importer import import_paths
from app.migrate import upgrade
from app.services import services
from tiles.synthetic import tissue, write_pyramid

REPO = Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    """The shared folder of real sample files (SAMSYN_SAMPLE_DATA overrides ../shared/data)."""
    return Path(os.environ.get("SAMSYN_SAMPLE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def sample_data() -> Path:
    folder = sample_data_dir()
    if not folder.is_dir():
        pytest.skip(f"sample data folder {folder} is missing (set SAMSYN_SAMPLE_DATA)")
    return folder


@pytest.fixture(scope="session")
def synthetic_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2048 x 1536 H&E-like pyramidal TIFF: 256 px JPEG tiles, levels 1x and 4x, 0.25 um/px."""
    path = tmp_path_factory.mktemp("slides") / "synthetic.tif"
    write_pyramid(path, tissue(2048, 1536, seed=5), tile=256, mpp=0.25, downsamples=(1, 4))
    return path


TEST_ORG = "Testregion"
TEST_PATIENT = "640823-3234"
TEST_CASE = "Testfall"
TEST_USER = "tester"
TEST_PASSWORD = "correct horse battery"


def database(application: Flask) -> Database:
    """The database of one application (its engine and session factory)."""
    return services(application).db


def make_app(data_dir: Path, database_url: str | None = None) -> Flask:
    """An application on its own data directory with a migrated database, an organisation,
    a pathologist of it (`tester`) and a patient. On SQLite (the default) the database is
    a copy of one migrated and filled once per test run: migrating costs more than most
    tests."""
    url = database_url or f"sqlite:///{data_dir / 'samsyn.db'}"
    database_file = sqlite_file(url)
    fresh_file = Path(database_file) if database_file else None
    if fresh_file is not None and not fresh_file.exists():
        fresh_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seeded_sqlite(), fresh_file)
        return create_app({"DATA_DIR": data_dir, "DATABASE_URL": url, "TESTING": True})
    upgrade(url)
    application = create_app({"DATA_DIR": data_dir, "DATABASE_URL": url, "TESTING": True})
    seed(application)
    return application


def seed(application: Flask) -> None:
    with database(application).session() as session:
        add_org(session, TEST_ORG, "SE0000000001", "region")
        add_unit(session, "Testpatologi", TEST_ORG, "SE0000000001-P1")
        add_patient(session, TEST_PATIENT, "Test Testsson", TEST_ORG)
        add_user(session, TEST_USER, TEST_ORG, "pathologist", TEST_PASSWORD, "Testpatologi")


@functools.cache
def seeded_sqlite() -> Path:
    """The SQLite database every `make_app` starts from: migrated, seeded, and in rollback
    journal mode so the one file is all of it (each copy turns WAL on when it opens)."""
    folder = Path(tempfile.mkdtemp(prefix="samsyn-seeded-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "samsyn.db"
    upgrade(f"sqlite:///{path}")
    application = create_app({"DATA_DIR": folder, "DATABASE_URL": f"sqlite:///{path}"})
    seed(application)
    services(application).close()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    return path


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


def login(
    client: FlaskClient, username: str = TEST_USER, password: str = TEST_PASSWORD
) -> FlaskClient:
    """Log the test client in and send the CSRF token with every later request."""
    response = client.post("/api/session", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = response.get_json()["csrf_token"]
    return client


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A test client logged in as `tester`, a pathologist of the organisation owning the images."""
    return login(app.test_client())


def import_one(app: Flask, path: Path | str) -> str:
    """Import one file into the test organisation's case and return its image id."""
    lines = [
        line for line, _ok in import_paths(app, [str(path)], (TEST_ORG, TEST_PATIENT, TEST_CASE))
    ]
    assert len(lines) == 1 and lines[0].startswith("imported "), lines
    return lines[0].split()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # answering, if only with 401 before login
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def wait_ready(url: str, seconds: float = 30) -> None:
    """Until `/readyz` answers 200: the database and the live process are there."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {seconds} s")


@pytest.fixture(scope="session")
def live_data(
    tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path
) -> tuple[Path, dict[str, str]]:
    """A data directory with a readable slide and one whose file was damaged after import."""
    data_dir = tmp_path_factory.mktemp("live")
    application = make_app(data_dir)
    broken = data_dir / "damaged.tif"
    shutil.copy(synthetic_slide, broken)
    images = {
        "slide": import_one(application, synthetic_slide),
        "broken": import_one(application, broken),
    }
    broken.write_bytes(broken.read_bytes()[:600])
    return data_dir, images


@contextmanager
def samsyn_serve(data_dir: Path, *arguments: str) -> Iterator[str]:
    """A real `samsyn serve` process (gunicorn) on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "SAMSYN_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *arguments]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def live_server(live_data: tuple[Path, dict[str, str]]) -> Iterator[str]:
    """A real `samsyn serve` on the live data, 8 threads; yields its base URL."""
    with samsyn_serve(live_data[0], "--threads", "8") as base:
        yield base


@pytest.fixture(scope="session")
def demo_images(live_data: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """Image ids on the live server: "slide" (readable) and "broken" (damaged after import)."""
    return live_data[1]


@pytest.fixture(scope="session")
def live_login() -> dict[str, str]:
    """Credentials of a pathologist on the live server who may see the demo images."""
    return {"username": TEST_USER, "password": TEST_PASSWORD}


POSTGRES_URL = os.environ.get("SAMSYN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def database_for(kind: str, folder: Path, tag: str) -> Iterator[str]:
    """A database URL for one test or one module: a SQLite file in `folder`, or a fresh
    PostgreSQL schema named after `tag`, dropped afterwards (skipped without PostgreSQL)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'samsyn.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    schema = f"t_{tag}_{os.getpid()}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite and on PostgreSQL (a fresh schema per test, dropped after)."""
    tag = str(abs(hash(request.node.nodeid)) % 10**9)
    yield from database_for(request.param, tmp_path, tag)


@pytest.fixture()
def db_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """Like `app`, once on SQLite and once on PostgreSQL."""
    application = make_app(tmp_path, database_url)
    yield application
    services(application).close()
