"""Configuration: defaults first, then the SAMSYN_* environment, then an explicit mapping."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of one application instance."""
    data_dir = Path(os.environ.get("SAMSYN_DATA_DIR", "./var")).resolve()
    config: dict[str, Any] = {
        "DATA_DIR": data_dir,
        "DATABASE_URL": os.environ.get(
            "SAMSYN_DATABASE_URL", f"sqlite:///{data_dir / 'samsyn.db'}"
        ),
        "MESSAGE_QUEUE": os.environ.get("SAMSYN_MESSAGE_QUEUE") or None,
        "SOURCE_CACHE_SIZE": int(os.environ.get("SAMSYN_SOURCE_CACHE_SIZE", "16")),
        "TILE_CACHE_BYTES": int(os.environ.get("SAMSYN_TILE_CACHE_MB", "256")) * 1024 * 1024,
        "TILE_MAX_AGE": 3600,
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
        "SESSION_IDLE_MINUTES": int(os.environ.get("SAMSYN_SESSION_IDLE_MINUTES", "30")),
        "SESSION_MAX_HOURS": 12,
        "SESSION_RECHECK": 30.0,
        "SESSION_COOKIE_SECURE": os.environ.get("SAMSYN_COOKIE_SECURE", "") == "1",
        "FRAME_CACHE_BYTES": int(os.environ.get("SAMSYN_FRAME_CACHE_MB", "512")) * 1024 * 1024,
        "TILE_LOG_GAP": 120.0,
        "EMERGENCY_HOURS": 4,
        # The address users reach samsyn at; IIIF ids and redirects are built from it,
        # never from a request's Host header.
        "PUBLIC_URL": os.environ.get("SAMSYN_PUBLIC_URL", "http://127.0.0.1:5000"),
        # Reverse proxies whose X-Forwarded-For is believed (addresses, comma separated).
        "TRUSTED_PROXIES": _addresses(os.environ.get("SAMSYN_TRUSTED_PROXIES", "")),
        # Live connections: handshakes one address may have open before logging in, and
        # connections one user may hold (several tabs, several screens).
        "LIVE_PENDING_PER_ADDRESS": 8,
        "LIVE_CONNECTIONS_PER_USER": 16,
        # Live connections the live process of one `samsyn serve` holds, and the
        # largest live message (an op carrying a 100,000-vertex outline fits).
        "LIVE_CAPACITY": int(os.environ.get("SAMSYN_LIVE_CAPACITY", "1000")),
        "LIVE_MESSAGE_BYTES": 16 * 1024 * 1024,
        # The workers and the live process of one `samsyn serve` relay live messages
        # through their master here.
        "LIVE_RELAY": os.environ.get("SAMSYN_LIVE_RELAY") or None,
        "MAX_URL_LENGTH": 4096,
    }
    config.update(overrides or {})
    config["DATA_DIR"] = Path(config["DATA_DIR"])
    config["PUBLIC_URL"] = str(config["PUBLIC_URL"]).rstrip("/")
    config["TRUSTED_PROXIES"] = frozenset(config["TRUSTED_PROXIES"])
    config.setdefault(
        "SECRET_KEY", os.environ.get("SAMSYN_SECRET_KEY") or _stored_secret(config["DATA_DIR"])
    )
    return config


def _addresses(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _stored_secret(data_dir: Path) -> str:
    """A secret key generated once and kept in the data directory, readable by its owner only."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key
