"""One typed object per application holding what its requests share: the database, the
login sessions, access control, the image registry, the tile service, frame pictures, the
series shelf and the policy epoch.

Routes reach it through `services()`; the WSGI fast path and background threads get it
when they are made. Nothing here is module-global, so two applications in one process
(tests, benchmarks) never share a database or a cache.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.access import AccessControl
from app.audit import AccessFolder
from app.auth import Sessions
from app.epoch import PolicyEpoch
from app.extensions import Database
from app.imaging import SeriesShelf
from app.registry import Registry
from tiles.cache import SourceCache, TileCache
from tiles.frames import FramePictures
from tiles.radiology import FrameCache
from tiles.service import TileService

KEY = "samsyn"


@dataclass(frozen=True)
class Services:
    """Everything one application's requests share."""

    config: dict[str, Any]
    db: Database
    epoch: PolicyEpoch
    sessions: Sessions
    access: AccessControl
    folder: AccessFolder
    registry: Registry
    tiles: TileService
    frames: FramePictures
    series: SeriesShelf

    def close(self) -> None:
        """Write the access log's folded entries, stop its thread, release the database."""
        self.folder.stop()
        self.db.dispose()


def build_services(config: dict[str, Any]) -> Services:
    """The services of one application, from its configuration."""
    epoch = PolicyEpoch(config["DATA_DIR"])
    database = Database(config["DATABASE_URL"], on_policy_change=epoch.bump)
    folder = AccessFolder(database, gap=config["TILE_LOG_GAP"])
    tile_cache = TileCache(config["TILE_CACHE_BYTES"])
    return Services(
        config=config,
        db=database,
        epoch=epoch,
        sessions=Sessions(config, database, epoch),
        access=AccessControl(database, epoch, folder),
        folder=folder,
        registry=Registry(database),
        tiles=TileService(SourceCache(config["SOURCE_CACHE_SIZE"]), tile_cache),
        frames=FramePictures(tile_cache),
        series=SeriesShelf(database, FrameCache(config["FRAME_CACHE_BYTES"])),
    )


def attach(app: Flask, built: Services) -> None:
    """Bind the services to the app; the access log's thread stops when the app goes."""
    app.extensions[KEY] = built
    weakref.finalize(app, built.folder.stop)


def services(app: Flask | None = None) -> Services:
    """The services of `app`, or of the application handling this request."""
    found: Services = (app or current_app).extensions[KEY]
    return found
