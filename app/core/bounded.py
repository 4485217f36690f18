"""A process-wide cache of bounded size shared by a worker's threads: cachetools' LRU (the least
recently used entry goes first) behind a lock, since cachetools' caches are not thread-safe."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from threading import Lock
from typing import Any

from cachetools import LRUCache

_MISSING = object()


class BoundedCache:
    """At most `size` entries. An entry may `keep` objects alive with its value: a key that names
    objects by id stays unambiguous while the entry lives, as no other object can take that id."""

    def __init__(self, size: int):
        self._entries: LRUCache[Hashable, tuple[object, Any]] = LRUCache(maxsize=size)
        self._lock = Lock()

    def find(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            entry = self._entries.get(key)
        return default if entry is None else entry[1]

    def put(self, key: Hashable, value: Any, keep: object = None) -> None:
        with self._lock:
            self._entries[key] = (keep, value)

    def get(self, key: Hashable, build: Callable[[], Any], keep: object = None) -> Any:
        """The value kept for `key`, or build() kept for it (built outside the lock: two threads may
        both build a missing entry, and the second's is kept)."""
        value = self.find(key, _MISSING)
        if value is _MISSING:
            value = build()
            self.put(key, value, keep)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
