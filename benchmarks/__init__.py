"""samsyn's benchmarks, run by `make bench` (`python -m benchmarks`).

Each benchmark starts its own servers on 127.0.0.1, measures samsyn next to an anchor
on the same data and the same server configuration, and prints the figures, the
machine and the command (docs: PERFORMANCE.md). Generated slides are cached in
`var/bench/`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
