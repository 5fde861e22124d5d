"""`python -m app.ready URL`: wait until samsyn answers ready at URL (for `make run`)."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request


def wait_ready(url: str, seconds: float = 60.0) -> bool:
    """True once `url` answers 200 within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    if not wait_ready(sys.argv[1]):
        print(f"samsyn did not answer ready at {sys.argv[1]}", file=sys.stderr)
        sys.exit(1)
