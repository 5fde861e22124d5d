"""The live process of `samsyn serve`: every websocket of the server, in one event loop.

The tile workers hand each websocket upgrade over (`app/livehand.py`); here each
connection is a greenlet (gevent), not a thread, so hundreds of mostly waiting reviewers
cost little memory, and fanning one op out to a room is a few writes in one thread with
no other thread to wait for. The handlers are the same as in every other server model
(`app/live.py`); gevent makes their locks, sleeps and sockets cooperative. This process
is started, watched and restarted by the gunicorn master (`app/server.py`), and ends when
the master does.

Start it only through `BOOT`: gevent must patch the standard library before anything
else is imported.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from io import BytesIO
from typing import Any

import gevent
from engineio import packet as eio_packet
from socketio import packet

from app.live import NAMESPACE
from app.livehand import received

# PostgreSQL calls block the loop, as SQLite's do, rather than yield: a transaction then
# never waits, holding its row locks (the access log's head, a case's sequence), while
# the loop serves a thousand pointer messages first. Each call is a fraction of a
# millisecond; a convoy of every writer of every process behind one lock is seconds.
BOOT = (
    "import os\n"
    "os.environ['PSYCOPG_WAIT_FUNC'] = 'wait_c'\n"
    "from gevent import monkey; monkey.patch_all()\n"
    "from app.liveprocess import main\n"
    "main()"
)
SETTINGS_ENV = "SAMSYN_LIVE_SETTINGS"
WEBSOCKET_KEY = "samsyn.websocket"
DOOR_ENV = "SAMSYN_LIVE_DOOR"
PARENT_ENV = "SAMSYN_LIVE_PARENT"
log_process = logging.getLogger("samsyn.live")


def wsgi_environ(head: dict[str, str], connection: socket.socket) -> dict[str, Any]:
    """The WSGI environ of a handed request: its CGI variables and headers as the worker
    read them, with the connection where the websocket layer looks for it."""
    environ: dict[str, Any] = dict(head)
    # No per-message compression: every cursor and viewport, a few dozen bytes each,
    # would be deflated once per listener, the largest cost of the fan-out, for little
    # gain on hospital networks.
    environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    environ.update(
        {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": head.get("wsgi.url_scheme", "http"),
            "wsgi.input": BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "gunicorn.socket": connection,
        }
    )
    return environ


def frame(data: str | bytes) -> bytes:
    """One unmasked, final websocket frame (RFC 6455 section 5.2): what the server sends."""
    payload, opcode = (data, 0x82) if isinstance(data, bytes) else (data.encode(), 0x81)
    size = len(payload)
    if size < 126:
        return bytes((opcode, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", opcode, 126, size) + payload
    return struct.pack("!BBQ", opcode, 127, size) + payload


def quick_websockets() -> None:
    """Each message a listener hears is framed here, a few bytes before the text, and
    written whole, instead of through the protocol library's event machinery (a tenth of
    the cost, for the thousands of frames a busy room sends each second). The library
    still reads what clients send, answers pings and closes."""
    import simple_websocket
    from engineio.async_drivers import threading as driver
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    class QuickServer(simple_websocket.Server):
        def __init__(self, environ: dict[str, Any], **options: Any) -> None:
            self.writing = threading.Lock()  # one frame at a time, whole
            super().__init__(environ, **options)

        def send(self, data: str | bytes) -> None:
            self.send_frame(frame(data))

        def send_frame(self, data: bytes) -> None:
            if not self.connected:
                raise simple_websocket.ConnectionClosed(self.close_reason, self.close_message)
            with self.writing:
                self.sock.sendall(data)

    class QuickWebSocket(SimpleWebSocketWSGI):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            self.ws = QuickServer(environ, **self.server_args)
            environ[WEBSOCKET_KEY] = self.ws  # where `Broadcast` finds it
            ret = self.app(self)
            if self.ws.mode == "gunicorn":
                raise StopIteration()
            return ret

    driver._async["websocket"] = QuickWebSocket


class Broadcast:
    """A room's message written to each listener's websocket from here: encoded and framed
    once, then one write per listener, instead of a trip through engine.io's queue and
    writer for each (the fan-out of a busy room is most of a live process's work).

    A write here never waits: a listener whose websocket is busy, whose queue holds
    something, or whose socket cannot take the whole frame at once gets it the usual
    way, through its own queue and writer (a slow reader never holds up the room), and a
    frame begun here is finished by a greenlet of its own."""

    def __init__(self, socketio: Any, namespace: str) -> None:
        self.server = socketio.server
        self.namespace = namespace

    def __call__(self, event: str, data: Any, to: str, skip: str | None = None) -> None:
        server = self.server
        encoded = server.packet_class(
            packet.EVENT, namespace=self.namespace, data=[event, data]
        ).encode()
        if isinstance(encoded, list):  # binary attachments: never in samsyn's events
            server.emit(event, data, to=to, namespace=self.namespace, skip_sid=skip)
            return
        message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        whole = frame(message.encode())
        for sid, eio_sid in list(server.manager.get_participants(self.namespace, to)):
            if sid == skip:
                continue
            try:
                if not self._write_now(eio_sid, whole):
                    server._send_eio_packet(eio_sid, message)
            except Exception:  # the listener is going: its own handler closes it
                continue

    def _write_now(self, eio_sid: str, whole: bytes) -> bool:
        """The frame written (or begun) without waiting; False: queue it instead."""
        quick = (self.server.environ.get(eio_sid) or {}).get(WEBSOCKET_KEY)
        engine_socket = self.server.eio.sockets.get(eio_sid)
        if quick is None or not quick.connected or engine_socket is None:
            return False
        if not engine_socket.queue.empty() or not quick.writing.acquire(blocking=False):
            return False
        try:
            sent = quick.sock._sock.send(whole)  # the non-blocking socket beneath gevent's
        except BlockingIOError:
            sent = 0
        except OSError:
            quick.writing.release()
            return True  # closing: nothing more to say to it
        if sent == 0:
            quick.writing.release()
            return False
        if sent < len(whole):
            gevent.spawn(_finish, quick, whole[sent:])
            return True
        quick.writing.release()
        return True


def _finish(quick: Any, rest: bytes) -> None:
    """The rest of a frame the socket could not take at once; its writes wait meanwhile."""
    try:
        quick.sock.sendall(rest)
    except OSError:
        pass
    finally:
        quick.writing.release()


def answer(
    connection: socket.socket, status: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    """A request refused before the websocket opened: an HTTP answer, then close."""
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    if not any(name.lower() == "content-length" for name, _v in headers):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def serve_connection(
    app: Callable[..., Any], connection: socket.socket, head: dict[str, str]
) -> None:
    """Run one handed request to its end (for a websocket: until it closes)."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda _data: None

    try:
        body = app(wsgi_environ(head, connection), start_response)
        data = b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        if started:
            answer(connection, started[0], started[1], data)
    except StopIteration:
        pass  # the websocket ended (the websocket layer's way of saying so)
    except OSError:
        pass  # the client went away
    except Exception:
        log_process.exception("live connection")
    finally:
        with suppress(OSError):
            connection.close()


def door(path: str) -> socket.socket:
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(1024)
    return listener


def watch_parent(parent: int) -> None:
    """The master is gone (killed, or ended without telling): so is this process."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        gevent.sleep(1.0)


def main() -> None:
    """The live process: the application, the door the workers hand connections through,
    a greenlet per connection."""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="[live] %(levelname)s %(name)s: %(message)s",
    )
    from app import create_app

    quick_websockets()
    settings = json.loads(os.environ.get(SETTINGS_ENV) or "{}")
    app = create_app(settings)
    hub = app.extensions["samsyn.live"]
    hub.broadcast = Broadcast(hub.socketio, NAMESPACE)
    # What start-up made lives as long as the process: out of the collector's full passes,
    # which would otherwise walk it all again and hold every room up while they run.
    gc.collect()
    gc.freeze()
    gevent.spawn(watch_parent, int(os.environ.get(PARENT_ENV) or os.getppid()))
    listener = door(os.environ[DOOR_ENV])
    while True:
        door_side, _address = listener.accept()
        gevent.spawn(_take, app, door_side)


def _take(app: Callable[..., Any], door_side: socket.socket) -> None:
    try:
        with door_side:
            got = received(door_side)
    except OSError:
        return
    if got is not None:
        serve_connection(app, *got)
