"""The image registry: images found on disk recorded in the database, and found again by id.

Tile requests look images up here. Records are kept in a small in-process map, so a
tile of an image already seen costs no database round trip.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import Database
from app.models import Image
from samsyn.errors import NotFound
from tiles import Source, open_source
from tiles.discover import Found
from tiles.radiology import SeriesFound


@dataclass(frozen=True)
class ImageRecord:
    """What the tile layer needs of an image row: its id and files."""

    id: str
    files: tuple[str, ...]
    kind: str


def source_key(paths: tuple[str, ...]) -> str:
    """One key per set of files, so importing the same slide twice registers it once."""
    joined = "\n".join(sorted(os.path.realpath(path) for path in paths))
    return hashlib.sha256(joined.encode()).hexdigest()


def register(database: Database, found: Found | SeriesFound) -> tuple[Image, bool]:
    """Record a found image; returns the row and whether it is new."""
    key = source_key(found.paths)
    with database.session() as session:
        existing = session.scalar(select(Image).where(Image.source_key == key))
        if existing is not None:
            return existing, False
        columns = _columns(found) if isinstance(found, Found) else _series_columns(found)
        image = Image(source_key=key, **columns)
        session.add(image)
        session.flush()
        return image, True


def _columns(found: Found) -> dict[str, Any]:
    info = found.info
    base = info.levels[0]
    return {
        "name": found.name,
        "kind": found.kind,
        "format": info.format,
        "vendor": info.vendor,
        "reader": info.reader,
        "files": [os.path.realpath(path) for path in found.paths],
        "width": info.width,
        "height": info.height,
        "levels": [
            {"width": level.width, "height": level.height, "downsample": level.downsample}
            for level in info.levels
        ],
        "tile_width": base.tile_width,
        "tile_height": base.tile_height,
        "mpp_x": info.mpp[0] if info.mpp else None,
        "mpp_y": info.mpp[1] if info.mpp else None,
        "objective_power": info.objective_power,
        "associated": list(info.associated),
        "size_bytes": sum(os.path.getsize(path) for path in found.paths),
        "properties": dict(info.properties),
    }


SERIES_SUMMARY = (
    "modality",
    "study_date",
    "study_description",
    "series_description",
    "series_number",
    "pixel_spacing_mm",
    "slice_thickness_mm",
    "spacing_between_slices_mm",
    "unit",
    "default_window",
    "warnings",
    "manufacturer",
    "body_part_examined",
)


def _series_columns(found: SeriesFound) -> dict[str, Any]:
    """A radiology series: one frame size, frames in display order, metadata kept whole."""
    meta = {
        **found.metadata,
        "files": [
            {**file, "path": os.path.realpath(file["path"])} for file in found.metadata["files"]
        ],
    }
    rows, columns = int(meta["rows"]), int(meta["columns"])
    return {
        "name": found.name,
        "kind": "series",
        "format": "dicom",
        "vendor": str(meta.get("manufacturer") or "dicom").strip().lower(),
        "reader": "pydicom",
        "files": [os.path.realpath(path) for path in found.paths],
        "width": columns,
        "height": rows,
        "levels": [{"width": columns, "height": rows, "downsample": 1.0}],
        "tile_width": min(columns, 512),
        "tile_height": min(rows, 512),
        "associated": [],
        "size_bytes": sum(os.path.getsize(path) for path in found.paths),
        "frames": int(meta["number_of_frames"]),
        "modality": str(meta.get("modality") or "")[:16] or None,
        "properties": {name: meta.get(name) for name in SERIES_SUMMARY},
        "series_meta": meta,
    }


class Registry:
    """Image records by id, remembered after the first lookup."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._records: dict[str, ImageRecord] = {}
        self._lock = threading.Lock()

    def record(self, image_id: str) -> ImageRecord:
        """The record of an image, or NotFound."""
        record = self._records.get(image_id)
        if record is not None:
            return record
        with self.database.session() as session:
            image = session.get(Image, image_id) if len(image_id) <= 32 else None
            if image is None:
                raise NotFound("no such image")
            record = ImageRecord(image.id, tuple(image.files), image.kind)
        with self._lock:
            self._records[image_id] = record
        return record

    def opener(self, image_id: str) -> Any:
        """A function that opens the image's files; used by the source cache on a miss."""
        record = self.record(image_id)

        def open_image() -> Source:
            return open_source(list(record.files))

        return open_image
