"""The live benchmark's world: reviewers, rooms and who sits where, made through samsyn's API.

Two organisations: the owning region holds one patient's cases, one per room, each with
its own small slide; the other organisation is the second opinion and sees a case only
through a share to the reviewer. The reviewers alternate between the two, so every room
has members of both. Connection k belongs to user k // per_user and sits in room
k % rooms: each user holds several connections (tabs, screens) in different rooms, and a
room's connections belong to different users.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import samsyn_instance
from benchmarks.processes import HOST, BenchmarkError

OWNER = "Region Live"
OWNER_HSA_ID = "SE2321000000-LIVE"
SECOND = "Region Andra"
SECOND_HSA_ID = "SE2321000000-LIV2"
PATIENT = "19121212-1212"  # Skatteverket's test personnummer (Tolvan Tolvansson)
PASSWORD = "benchmark-password"  # throwaway databases on 127.0.0.1 only
TILE_USER = "live-tiles"
SESSION_COOKIE = "samsyn_session"
ROOM_SLIDE_SIDE = 1024
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = (HOST, 6379)
POSTGRES = (HOST, 5432)


@dataclass(frozen=True)
class Room:
    """One case and the slide its members look at and draw on."""

    case: str
    image: str
    width: int
    height: int


@dataclass(frozen=True)
class Layout:
    """How many users hold how many connections each, in how many rooms."""

    users: int
    per_user: int
    rooms: int

    @property
    def clients(self) -> int:
        return self.users * self.per_user

    def seat(self, connection: int) -> tuple[int, int]:
        """(user, room) of connection number `connection`."""
        return connection // self.per_user, connection % self.rooms


@dataclass(frozen=True)
class World:
    """What the servers of one run share: the data directory, database, rooms and users."""

    data_dir: Path
    database_url: str
    rooms: tuple[Room, ...]
    usernames: tuple[str, ...]
    tile_image: str

    def seats(self, layout: Layout, bases: Sequence[str]) -> list[dict[str, Any]]:
        """Every connection of `layout` for the Node client; with several servers, the
        connections of each room alternate between them."""
        seats = []
        for number in range(layout.clients):
            user, room_number = layout.seat(number)
            room = self.rooms[room_number]
            base = bases[(number // layout.rooms) % len(bases)]
            seats.append(
                {
                    "id": number,
                    "username": self.usernames[user],
                    "password": PASSWORD,
                    "base": base,
                    "case": room.case,
                    "image": room.image,
                    "width": room.width,
                    "height": room.height,
                }
            )
        return seats


def build(data_dir: Path, database_url: str, layouts: Sequence[Layout], tile_slide: Path) -> World:
    """A migrated database with both organisations, the reviewers, a case per room (the
    tile slide in the first) and the shares the second organisation's reviewers need."""
    from app import create_app
    from app.migrate import upgrade
    from app.services import services

    upgrade(database_url)
    config = {"DATA_DIR": data_dir, "DATABASE_URL": database_url}
    application = create_app(config)
    try:
        users = max(layout.users for layout in layouts)
        rooms = max(layout.rooms for layout in layouts)
        usernames, seconds = _directory(application, users)
        made = tuple(_room(application, data_dir, number) for number in range(rooms))
        tile_image = _import(application, tile_slide, _title(0))
        _share(application, made, usernames, seconds, layouts)
    finally:
        services(application).close()
    return World(data_dir, database_url, made, tuple(usernames), tile_image)


def _title(number: int) -> str:
    return f"Live room {number + 1:02d}"


def _directory(application: Any, users: int) -> tuple[list[str], set[str]]:
    """Both organisations, the patient, the tile reader and `users` reviewers; returns the
    reviewers' usernames and those of the second organisation."""
    from app.directory import add_org, add_patient, add_user
    from app.services import services

    usernames, seconds = [], set()
    with services(application).db.session() as session:
        add_org(session, OWNER, OWNER_HSA_ID, "region")
        add_org(session, SECOND, SECOND_HSA_ID, "region")
        add_patient(session, PATIENT, "Tolvan Tolvansson", OWNER)
        add_user(session, TILE_USER, OWNER, "pathologist", PASSWORD)
        for number in range(users):
            org = OWNER if number % 2 == 0 else SECOND
            username = f"live-{number:03d}"
            add_user(session, username, org, "pathologist", PASSWORD)
            usernames.append(username)
            if org == SECOND:
                seconds.add(username)
    return usernames, seconds


def _room(application: Any, data_dir: Path, number: int) -> Room:
    """A case with its own copy of a small slide (a copy: one file registers once)."""
    from app.models import Case, Image
    from app.services import services

    slide = data_dir / "slides" / f"room-{number + 1:02d}.tif"
    slide.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_room_slide(data_dir), slide)
    image_id = _import(application, slide, _title(number))
    with services(application).db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.case_id is None or session.get(Case, image.case_id) is None:
            raise BenchmarkError(f"{slide} was imported into no case")
        return Room(image.case_id, image_id, image.width, image.height)


def _room_slide(data_dir: Path) -> Path:
    """The small slide every room gets a copy of, written once per world."""
    from tiles.synthetic import tissue, write_pyramid

    path = data_dir / "slides" / "room.tif"
    if not path.exists():
        pixels = tissue(ROOM_SLIDE_SIDE, ROOM_SLIDE_SIDE, seed=4)
        write_pyramid(path, pixels, tile=256, mpp=0.25, downsamples=(1, 4))
    return path


def _import(application: Any, slide: Path, title: str) -> str:
    from app.importer import import_paths

    lines = list(import_paths(application, [str(slide)], (OWNER, PATIENT, title)))
    if len(lines) != 1 or not lines[0][1] or not lines[0][0].startswith("imported "):
        raise BenchmarkError(f"importing {slide} into {title!r} failed: {lines}")
    return lines[0][0].split()[1]


def _share(
    application: Any,
    rooms: Sequence[Room],
    usernames: Sequence[str],
    seconds: set[str],
    layouts: Sequence[Layout],
) -> None:
    """Share each room's case with the second organisation's reviewers who sit in it."""
    from sqlalchemy import select

    from app.access import now_utc
    from app.models import Share, User
    from app.services import services

    wanted = {
        (usernames[user], rooms[room].case)
        for layout in layouts
        for user, room in map(layout.seat, range(layout.clients))
        if usernames[user] in seconds
    }
    until = now_utc() + timedelta(days=1)
    with services(application).db.session() as session:
        ids = dict(session.execute(select(User.username, User.id)).tuples().all())
        for username, case in sorted(wanted):
            session.add(
                Share(case_id=case, user_id=ids[username], purpose="second_opinion", until=until)
            )


def listening(address: tuple[str, int]) -> bool:
    """Whether something accepts TCP connections at `address` (Redis, PostgreSQL)."""
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh PostgreSQL schema of its own (as tests/conftest.py's `database_for` makes
    them); yields the database URL that uses it; dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"bench_live_{secrets.token_hex(4)}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def login_headers(base_url: str, username: str = TILE_USER) -> dict[str, str]:
    """Log in; the headers (session cookie) every tile request of that user sends."""
    return samsyn_instance.login_headers(base_url, username, PASSWORD)
