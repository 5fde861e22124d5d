"""Bounded caches: open image sources by count, encoded tiles by bytes. Both thread-safe."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from tiles.lru import BoundedLRU
from tiles.render import Encoding, encode
from tiles.sources.base import Source

Key = TypeVar("Key")


@dataclass(frozen=True)
class EncodedTile:
    """Bytes ready to send, their media type and their entity tag."""

    data: bytes
    media_type: str
    etag: str


class SourceCache(Generic[Key]):
    """The most recently used open sources, at most `capacity` of them.

    An evicted source is not closed here: a request may still be reading it, and it is
    closed when the last reference is dropped.
    """

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._items: BoundedLRU[Key, Source] = BoundedLRU(capacity)
        self._lock = threading.Lock()
        self._opening: dict[Key, threading.Lock] = {}

    def get(self, key: Key, opener: Callable[[], Source]) -> Source:
        """The cached source for `key`, opened once by `opener` when missing."""
        source = self._items.get(key)
        if source is not None:
            return source
        with self._lock:
            gate = self._opening.setdefault(key, threading.Lock())
        with gate:
            source = self._items.get(key)
            if source is None:
                source = opener()
                self._items.put(key, source)
            with self._lock:
                self._opening.pop(key, None)
            return source

    def __len__(self) -> int:
        return len(self._items)


class TileCache:
    """Encoded tiles, least recently used dropped first once `max_bytes` is exceeded."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: BoundedLRU[str, EncodedTile] = BoundedLRU(
            max_bytes, weight=lambda tile: len(tile.data)
        )

    @property
    def size(self) -> int:
        return self._items.total

    def get(self, key: str) -> EncodedTile | None:
        return self._items.get(key)

    def picture(
        self, key: str, pixels: Callable[[], np.ndarray], encoding: Encoding
    ) -> EncodedTile:
        """The encoded picture cached under `key`, made by `pixels` and kept on a miss."""
        cached = self.get(key)
        if cached is not None:
            return cached
        tile = EncodedTile(encode(pixels(), encoding), encoding.media_type, entity_tag(key))
        self.put(key, tile)
        return tile

    def put(self, key: str, tile: EncodedTile) -> None:
        """Keep a tile unless it alone would take more than an eighth of the cache."""
        if len(tile.data) <= self.max_bytes // 8:
            self._items.put(key, tile)

    def __len__(self) -> int:
        return len(self._items)


def entity_tag(key: str) -> str:
    """A strong entity tag from a cache key, which names the image, its file's fingerprint
    (or its frame and window) and the request."""
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
