"""`samsyn serve`: gunicorn with threaded workers, serving HTTP and Socket.IO (websocket)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class SamsynServer(BaseApplication):
    """gunicorn running `create_app()` in each worker process."""

    def __init__(self, options: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        self.options = options
        self.app_config = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_app

        return create_app(self.app_config)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn's settings for samsyn: threaded workers (HTTP and Socket.IO websockets)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


def serve(
    host: str, port: int, workers: int, threads: int, config: dict[str, Any] | None = None
) -> None:
    """Run the production server until interrupted."""
    SamsynServer(gunicorn_options(host, port, workers, threads), config).run()
