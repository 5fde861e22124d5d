"""Tiles as bytes: Deep Zoom and IIIF requests answered from stored tiles, the cache, or a render.

This is where a request for a picture becomes bytes and an entity tag. Stored JPEG tiles
that match a request exactly are passed through; everything else is rendered from the
nearest finer stored level and kept in a bounded cache.
"""

from __future__ import annotations

import functools
import struct
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from samsyn.errors import SamsynError, Unreadable
from tiles import iiif
from tiles.cache import EncodedTile, SourceCache, TileCache, entity_tag
from tiles.deepzoom import DeepZoom, deep_zoom_for
from tiles.render import Encoding, orient, region_at_size, thumbnail
from tiles.sources.base import Source

Opener = Callable[[], Source]
RENDERED_QUALITY = 97
DZI_FORMATS = {"jpeg": "jpg", "jpg": "jpg", "png": "png"}


Method = TypeVar("Method", bound=Callable[..., Any])


def reader_errors_as_unreadable(method: Method) -> Method:
    """Reader libraries fail in many undocumented ways on damaged files; each becomes
    Unreadable (422) with its one-line reason instead of a server error."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SamsynError:
            raise
        except (OSError, ValueError, IndexError, KeyError, RuntimeError, struct.error) as error:
            raise Unreadable(
                f"the image cannot be read: {type(error).__name__}: {error}"
            ) from error

    return guarded  # type: ignore[return-value]


class TileService:
    """Answers tile and picture requests for images known by an opaque id."""

    def __init__(
        self, sources: SourceCache[str] | None = None, tiles: TileCache | None = None
    ) -> None:
        self.sources: SourceCache[str] = sources or SourceCache()
        self.tiles = tiles or TileCache()
        self._zooms: weakref.WeakKeyDictionary[Source, DeepZoom] = weakref.WeakKeyDictionary()

    @reader_errors_as_unreadable
    def source(self, image_id: str, opener: Opener) -> Source:
        """The open source of an image, opened by `opener` on first use."""
        return self.sources.get(image_id, opener)

    def deep_zoom(self, image_id: str, opener: Opener) -> DeepZoom:
        return self._zoom(self.source(image_id, opener))

    def _zoom(self, source: Source) -> DeepZoom:
        """The Deep Zoom pyramid of an open source, worked out once."""
        zoom = self._zooms.get(source)
        if zoom is None:
            zoom = self._zooms[source] = deep_zoom_for(source.info)
        return zoom

    @reader_errors_as_unreadable
    def dzi_tile(
        self, image_id: str, opener: Opener, level: int, col: int, row: int, fmt: str
    ) -> EncodedTile:
        """One Deep Zoom tile: stored bytes when they match exactly, else rendered and cached."""
        source = self.source(image_id, opener)
        zoom = self._zoom(source)
        rect, width, height = zoom.tile(level, col, row)
        key = f"{image_id}/{source.fingerprint}/dzi/{level}/{col}_{row}.{fmt}"
        stored = zoom.stored(level, col, row) if fmt in ("jpeg", "jpg") else None
        if stored is not None:
            data = source.stored_tile(stored.level, stored.col, stored.row)
            if data is not None:
                return EncodedTile(data, "image/jpeg", entity_tag(key))
        encoding = Encoding(DZI_FORMATS[fmt], RENDERED_QUALITY, subsampling=0)
        return self.tiles.picture(
            key, lambda: region_at_size(source, rect, width, height), encoding
        )

    @reader_errors_as_unreadable
    def iiif_info(self, image_id: str, opener: Opener, service_id: str) -> dict[str, object]:
        return iiif.info_json(self.source(image_id, opener).info, service_id)

    @reader_errors_as_unreadable
    def iiif_image(
        self,
        image_id: str,
        opener: Opener,
        region: str,
        size: str,
        rotation: str,
        quality: str,
        fmt: str,
    ) -> EncodedTile:
        """An IIIF Image API 3.0 image request."""
        source = self.source(image_id, opener)
        request = iiif.parse(source.info, region, size, rotation, quality, fmt)
        key = f"{image_id}/{source.fingerprint}/iiif/{request}"
        stored = iiif.stored_tile_for(source.info, request)
        if stored is not None:
            data = source.stored_tile(*stored)
            if data is not None:
                return EncodedTile(data, "image/jpeg", entity_tag(key))

        def pixels() -> np.ndarray:
            picture = region_at_size(source, request.region, request.width, request.height)
            return orient(picture, request.rotation, request.mirror)

        return self.tiles.picture(key, pixels, request.encoding)

    @reader_errors_as_unreadable
    def associated(self, image_id: str, opener: Opener, name: str, fmt: str) -> EncodedTile:
        """Thumbnail, label or macro picture; a thumbnail is made when the file has none."""
        source = self.source(image_id, opener)
        key = f"{image_id}/{source.fingerprint}/associated/{name}.{fmt}"

        def pixels() -> np.ndarray:
            if name == "thumbnail" and name not in source.info.associated:
                return np.asarray(thumbnail(source))
            picture = source.associated_image(name)
            picture.thumbnail((2048, 2048), Image.Resampling.LANCZOS)
            return np.asarray(picture)

        return self.tiles.picture(key, pixels, Encoding("png" if fmt == "png" else "jpg", 90))
