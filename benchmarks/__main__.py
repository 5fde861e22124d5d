"""`python -m benchmarks [part] [--quick] [--client ...]`, part one of tiles, memory, radiology,
scroll, annotations, drawing, live, referrals:

Without a part it runs all of them. `--quick` uses a smaller slide and shorter runs, to
check the harness in about a minute; its figures are not the ones to report.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from benchmarks import (
    annotation_frames,
    annotation_store,
    live,
    memory,
    radiology,
    referrals,
    series_scroll,
    tile_throughput,
)
from benchmarks.load_generators import load_generator
from benchmarks.processes import BenchmarkError
from benchmarks.report import command, machine

PARTS = (
    "tiles",
    "memory",
    "radiology",
    "scroll",
    "annotations",
    "drawing",
    "live",
    "referrals",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts; 1 when a benchmark could not run, 130 when interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    arguments = _parser().parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    print(f"machine : {machine()}")
    print(f"command : {command(argv)}")
    parts = [arguments.part] if arguments.part else PARTS
    try:
        with tempfile.TemporaryDirectory(prefix="samsyn-bench-") as workdir:
            for part in parts:
                print()
                print(_run_part(part, arguments, Path(workdir)), flush=True)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the servers it started are stopped", file=sys.stderr)
        return 130
    return 0


def _run_part(part: str, arguments: argparse.Namespace, workdir: Path) -> str:
    """One benchmark's printed report."""
    if part == "tiles":
        settings = tile_throughput.QUICK if arguments.quick else tile_throughput.FULL
        generator = load_generator(arguments.client)
        return tile_throughput.format_report(tile_throughput.run(settings, generator, workdir))
    if part == "scroll":
        return series_scroll.run()
    if part == "annotations":
        chosen = annotation_store.QUICK if arguments.quick else annotation_store.FULL
        return annotation_store.format_report(annotation_store.run(chosen, workdir))
    if part == "drawing":
        frames = annotation_frames.QUICK if arguments.quick else annotation_frames.FULL
        return annotation_frames.format_report(annotation_frames.run(frames, workdir), frames)
    if part == "live":
        live_settings = live.QUICK if arguments.quick else live.FULL
        generator = load_generator(arguments.client)
        return live.format_report(live.run(live_settings, generator, workdir))
    if part == "referrals":
        chosen_referrals = referrals.QUICK if arguments.quick else referrals.FULL
        return referrals.format_report(referrals.run(chosen_referrals, workdir))
    if part == "radiology":
        radiology_settings = radiology.QUICK if arguments.quick else radiology.FULL
        generator = load_generator(arguments.client)
        return radiology.format_report(radiology.run(radiology_settings, generator, workdir))
    settings_memory = memory.QUICK if arguments.quick else memory.FULL
    return memory.format_report(memory.run(settings_memory, workdir))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("part", nargs="?", choices=PARTS, help="run only this benchmark")
    parser.add_argument(
        "--quick", action="store_true", help="smaller slide, shorter runs: checks the harness"
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "asyncio"),
        help="load generator of the tile and radiology benchmarks (default: wrk if installed)",
    )
    return parser


def _exit_on_sigterm(_number: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception, so the servers are stopped on the way out as on Ctrl-C."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
