"""Bounded caches: open image sources by count, encoded tiles by bytes. Both thread-safe."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

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
        self._items: OrderedDict[Key, Source] = OrderedDict()
        self._lock = threading.Lock()
        self._opening: dict[Key, threading.Lock] = {}

    def get(self, key: Key, opener: Callable[[], Source]) -> Source:
        """The cached source for `key`, opened once by `opener` when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            gate = self._opening.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            source = opener()
            with self._lock:
                self._items[key] = source
                self._opening.pop(key, None)
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
            return source

    def __len__(self) -> int:
        return len(self._items)


class TileCache:
    """Encoded tiles, least recently used dropped first once `max_bytes` is exceeded."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, EncodedTile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> EncodedTile | None:
        with self._lock:
            tile = self._items.get(key)
            if tile is not None:
                self._items.move_to_end(key)
            return tile

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
        if len(tile.data) > self.max_bytes // 8:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.size -= len(old.data) if old else 0
            self._items[key] = tile
            self.size += len(tile.data)
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped.data)

    def __len__(self) -> int:
        return len(self._items)


def entity_tag(key: str) -> str:
    """A strong entity tag from a cache key, which names the image, its file's fingerprint
    (or its frame and window) and the request."""
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
