"""One bounded, thread-safe least-recently-used map for every cache in samsyn.

Each cache bounds what it holds by a weight of its own: open slides by count, encoded
tiles and decoded frames by bytes. The least recently used entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class BoundedLRU(Generic[Key, Value]):
    """At most `capacity` in total weight; `weight(value)` is 1 unless told otherwise."""

    def __init__(self, capacity: int, weight: Callable[[Value], int] = lambda _value: 1) -> None:
        self.capacity = capacity
        self.weight = weight
        self.total = 0
        self._items: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value | None:
        """The value, marked as recently used, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Key, value: Value) -> bool:
        """Keep a value, dropping the oldest beyond capacity; False when it alone is too heavy."""
        size = self.weight(value)
        if size > self.capacity:
            return False
        with self._lock:
            old = self._items.pop(key, None)
            self.total -= self.weight(old) if old is not None else 0
            self._items[key] = value
            self.total += size
            while self.total > self.capacity:
                _key, dropped = self._items.popitem(last=False)
                self.total -= self.weight(dropped)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
