"""What load runs share: the tile grid they ask from, their settings and results, and the
check that a server's tiles are right before anything is timed."""

from __future__ import annotations

import io
import math
import random
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from benchmarks.client import get
from benchmarks.processes import BenchmarkError


@dataclass(frozen=True)
class TileGrid:
    """Where a server's tiles of one Deep Zoom level are, read from its .dzi descriptor."""

    base_url: str
    prefix: str
    level: int
    columns: int
    rows: int
    tile_size: int
    overlap: int

    def path(self, col: int, row: int) -> str:
        return f"{self.prefix}/{self.level}/{col}_{row}.jpeg"


@dataclass(frozen=True)
class LoadSettings:
    """How hard and how long to load a server."""

    connections: int
    threads: int
    seconds: float


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured. `errors` counts non-2xx answers and socket errors."""

    tiles_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    megabytes_per_s: float


class LoadGenerator(Protocol):
    """Something that loads a server with random tiles of `grid` and measures it."""

    def describe(self, settings: LoadSettings) -> str:
        """Which client, with how many threads and connections, for the report."""
        ...

    def run(
        self, grid: TileGrid, settings: LoadSettings, headers: Mapping[str, str]
    ) -> LoadResult: ...


def highest_level_grid(base_url: str, dzi_path: str, headers: Mapping[str, str]) -> TileGrid:
    """The tile grid of the full-resolution Deep Zoom level described at `dzi_path`."""
    reply = get(base_url + dzi_path, headers)
    if reply.status != 200:
        raise BenchmarkError(f"{dzi_path} answered {reply.status}")
    root = ET.fromstring(reply.body)
    size = root.find("{*}Size")
    if size is None:
        raise BenchmarkError(f"{dzi_path} has no Size element")
    width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    tile_size = int(root.get("TileSize", 0))
    return TileGrid(
        base_url=base_url,
        prefix=dzi_path.removesuffix(".dzi") + "_files",
        level=math.ceil(math.log2(max(width, height))),
        columns=math.ceil(width / tile_size),
        rows=math.ceil(height / tile_size),
        tile_size=tile_size,
        overlap=int(root.get("Overlap", 0)),
    )


def check_sample(grid: TileGrid, headers: Mapping[str, str], count: int = 20) -> None:
    """Before timing: random tiles must be 200, image/jpeg, and decode to at most a tile's size."""
    rng = random.Random(1)
    largest = grid.tile_size + 2 * grid.overlap
    for _ in range(count):
        path = grid.path(rng.randrange(grid.columns), rng.randrange(grid.rows))
        reply = get(grid.base_url + path, headers)
        if reply.status != 200 or reply.media_type != "image/jpeg":
            raise BenchmarkError(f"{path} answered {reply.status} {reply.media_type}")
        with Image.open(io.BytesIO(reply.body)) as picture:
            picture.load()
            if picture.format != "JPEG" or max(picture.size) > largest:
                raise BenchmarkError(f"{path} is a {picture.format} of {picture.size} px")
