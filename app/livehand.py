"""Handing a live connection from a tile worker to a live process, on the same port.

Tiles are short CPU-bound requests served by threads; a live connection is a websocket
that stays open for hours and mostly waits. The two share the public port, but not a
process: when a gunicorn worker reads a websocket upgrade for `/socket.io`, it passes the
connected socket itself (SCM_RIGHTS over a Unix socket) and the request's headers to one
of the live processes, in turn, and forgets it. The live process answers the handshake
and keeps the connection; the worker's thread is free again at once. A websocket client
sends nothing before the handshake's answer, so no byte of the connection is lost.

This module is both sides of that: `HandOff` (WSGI middleware in the worker) and
`received` (the live process reads one handed connection).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.fastpath import WsgiApp
from app.headers import SECURITY_HEADERS

LIVE_PATH = "/socket.io"
MOST_HEADER_BYTES = 256 * 1024
HAND_TIMEOUT = 2.0


def is_live_upgrade(environ: dict[str, Any]) -> bool:
    return (
        str(environ.get("PATH_INFO", "")).startswith(LIVE_PATH)
        and "websocket" in str(environ.get("HTTP_UPGRADE", "")).lower()
    )


def request_head(environ: dict[str, Any]) -> dict[str, str]:
    """What the live process needs to rebuild the request: the CGI variables and headers
    (all text), not the worker's own objects."""
    head = {
        key: value
        for key, value in environ.items()
        if isinstance(value, str) and (key.isupper() or key == "wsgi.url_scheme")
    }
    return head


def hand(path: str, connection: socket.socket, head: dict[str, str]) -> None:
    """Pass the connection and its request to the live process; the kernel holds the
    socket in flight, so the worker may forget it as soon as this returns."""
    data = json.dumps(head).encode()
    if len(data) > MOST_HEADER_BYTES:
        raise ValueError("request headers too large")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as door:
        door.settimeout(HAND_TIMEOUT)
        door.connect(path)
        socket.send_fds(door, [data], [connection.fileno()])


def forget(connection: socket.socket) -> None:
    """Point the worker's descriptor at a socket whose other end is gone: gunicorn's own
    answer and close then reach nothing (a broken pipe, which gunicorn ignores), while
    the connection lives on in the live process."""
    dead, other = socket.socketpair()
    other.close()
    dead.shutdown(socket.SHUT_RDWR)
    os.dup2(dead.fileno(), connection.fileno())
    dead.close()


class HandOff:
    """WSGI middleware of the tile workers: websocket upgrades go to a live process, the
    next one in turn (and past one that is restarting)."""

    def __init__(self, inner: WsgiApp, doors: list[str]) -> None:
        self.inner = inner
        self.doors = doors
        self._turn = itertools.count(random.randrange(len(doors)))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        connection = environ.get("gunicorn.socket")
        if connection is None or not is_live_upgrade(environ):
            return self.inner(environ, start_response)
        first = next(self._turn)
        head = request_head(environ)
        for n in range(len(self.doors)):
            try:
                hand(self.doors[(first + n) % len(self.doors)], connection, head)
                break
            except OSError:
                continue
            except ValueError:
                return unavailable(start_response)
        else:
            return unavailable(start_response)
        forget(connection)
        start_response("101 Switching Protocols", [("Connection", "close")])
        return []


def unavailable(start_response: Callable[..., Any]) -> list[bytes]:
    body = json.dumps(
        {"error": "live_unavailable", "message": "the live channel is restarting; try again"}
    ).encode()
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Retry-After", "1"),
            *SECURITY_HEADERS,
        ],
    )
    return [body]


def received(door_side: socket.socket) -> tuple[socket.socket, dict[str, str]] | None:
    """One handed connection, read in the live process: the client's socket and the
    request head (None when what came was not a whole hand-off)."""
    message, fds, _flags, _address = socket.recv_fds(door_side, MOST_HEADER_BYTES, 4)
    if not fds:
        return None
    connection = socket.socket(fileno=fds[0])
    for extra in fds[1:]:
        os.close(extra)
    chunks = [message]
    while len(chunks[-1]) > 0 and sum(map(len, chunks)) <= MOST_HEADER_BYTES:
        chunks.append(door_side.recv(65536))
    try:
        head = json.loads(b"".join(chunks))
    except ValueError:
        connection.close()
        return None
    if not isinstance(head, dict) or not all(isinstance(v, str) for v in head.values()):
        connection.close()
        return None
    return connection, head


def door_open(path: str) -> bool:
    """The live process takes hand-offs (what `/readyz` asks)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as door:
            door.settimeout(HAND_TIMEOUT)
            door.connect(path)
    except OSError:
        return False
    return True


def door_path(master_pid: int, directory: str, number: int) -> str:
    return str(Path(directory) / f"samsyn-live-door-{master_pid}-{number}.sock")
