"""The policy epoch: a file whose change tells every server process on this machine to forget
cached sessions and access decisions (a share revoked, a user logged out, a spärr set).

Reading it is one `stat` call, so a tile request can check it without a database round trip.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class PolicyEpoch:
    """A change counter shared by the processes that use the same data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "policy-epoch"
        if not self.path.exists():
            self.bump()

    def current(self) -> int:
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return 0

    def bump(self) -> None:
        """Mark every cached decision in every process as stale."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        before = self.current()
        self.path.write_text(secrets.token_hex(8))
        if self.current() == before:
            os.utime(self.path, ns=(before + 1, before + 1))
