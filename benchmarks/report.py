"""What every benchmark report starts with (machine, command) and how its tables look."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import ROOT


def machine() -> str:
    """CPUs usable by this process (as `nproc` counts them), CPU model, memory and kernel."""
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {_cpu_model()}, "
        f"{_memory_gb():.0f} GB RAM, Linux {platform.release()}, Python {platform.python_version()}"
    )


def load_average() -> float:
    """The 1-minute load average: above the CPU count, other work competes with the benchmark."""
    return os.getloadavg()[0]


def command(argv: Sequence[str]) -> str:
    """The command line that produced this report, as someone would type it from the repo root."""
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return shlex.join([str(shown), "-m", "benchmarks", *argv])


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        kilobytes = int(meminfo.readline().split()[1])  # first line: MemTotal
    return kilobytes / 2**20
