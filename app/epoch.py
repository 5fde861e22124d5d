"""The policy epoch: a counter shared by every server process on this machine, telling them
to forget cached sessions and access decisions (a share revoked, a user logged out, a
spärr set).

The counter lives in a small file mapped into memory (MAP_SHARED), so reading it on every
request is a memory read: no system call, no database round trip, and a change made by
one process is seen by the others at once.
"""

from __future__ import annotations

import mmap
import os
import secrets
from pathlib import Path

SIZE = 8


class PolicyEpoch:
    """A change counter shared by the processes that use the same data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "policy-epoch"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descriptor).st_size < SIZE:
                os.ftruncate(descriptor, SIZE)
            self._map = mmap.mmap(
                descriptor, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        finally:
            os.close(descriptor)

    def current(self) -> int:
        return int.from_bytes(self._map[:SIZE], "little")

    def bump(self) -> None:
        """Mark every cached decision in every process as stale."""
        before = self.current()
        value = before
        while value == before:
            value = int.from_bytes(secrets.token_bytes(SIZE), "little")
        self._map[:SIZE] = value.to_bytes(SIZE, "little")
