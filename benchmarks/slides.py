"""Synthetic benchmark slides, generated once and cached in `var/bench/`.

The large slide (32,768 px square in the full run) would need 3.2 GB as one picture, so
it is written tile by tile: every level-0 tile is one of a few hundred texture tiles cut
from `tiles.synthetic.tissue`, chosen by a fixed random layout. A reduced level is the
same layout made of shrunken texture tiles, which is exactly the box-filtered level 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import openslide
import tifffile
from PIL import Image

from benchmarks import CACHE
from tiles.synthetic import BACKGROUND, tissue, write_pyramid

TILE = 256
MPP = 0.25
LARGE_DOWNSAMPLES = (1, 4, 16, 64)
SMALL_DOWNSAMPLES = (1, 4, 16)
TEXTURE_SEEDS = (1, 2)
TEXTURE_SIDE = 2048
GENERATOR_VERSION = 1  # part of the cached file names: bump it when the pictures change


@dataclass(frozen=True)
class SlideFile:
    """A generated square slide: its path, side in pixels and stored downsamples."""

    path: Path
    side: int
    downsamples: tuple[int, ...]

    @property
    def megabytes(self) -> float:
        return self.path.stat().st_size / 2**20


def large_slide(side: int) -> SlideFile:
    """The JPEG-tiled pyramidal TIFF of the tile benchmark, `side` px square (a multiple of 256)."""
    if side % TILE:
        raise ValueError(f"the large slide's side must be a multiple of {TILE}")
    path = CACHE / f"large-{side}-v{GENERATOR_VERSION}.tiff"
    _cached(path, partial(_write_large, side=side))
    slide = SlideFile(path, side, LARGE_DOWNSAMPLES)
    check_openslide_opens(slide)
    return slide


def small_slides(count: int, side: int) -> list[SlideFile]:
    """`count` different small pyramids (seeds 1..count) for the memory benchmark."""
    folder = CACHE / f"small-{side}-v{GENERATOR_VERSION}"
    slides = []
    for seed in range(1, count + 1):
        path = folder / f"slide-{seed:02d}.tiff"
        _cached(path, partial(_write_small, side=side, seed=seed))
        slides.append(SlideFile(path, side, SMALL_DOWNSAMPLES))
    return slides


def check_openslide_opens(slide: SlideFile) -> None:
    """Fail early unless OpenSlide reads the file as a generic tiled TIFF with every level."""
    expected = tuple((slide.side // factor, slide.side // factor) for factor in slide.downsamples)
    with openslide.OpenSlide(str(slide.path)) as opened:
        found = opened.level_dimensions
    if found != expected:
        raise RuntimeError(f"OpenSlide sees levels {found} in {slide.path}, expected {expected}")


def _cached(path: Path, write: Callable[[Path], None]) -> None:
    """Write `path` unless it exists, through a partial file: an interrupted run leaves no slide."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    unfinished = path.with_name(path.name + ".unfinished")
    print(f"generating {path.relative_to(CACHE.parent.parent)} (once; cached)", file=sys.stderr)
    try:
        write(unfinished)
        unfinished.replace(path)
    finally:
        unfinished.unlink(missing_ok=True)


def _write_small(path: Path, *, side: int, seed: int) -> None:
    write_pyramid(path, tissue(side, side, seed), tile=TILE, mpp=MPP, downsamples=SMALL_DOWNSAMPLES)


def _write_large(path: Path, *, side: int) -> None:
    pool = _texture_pool()
    layout = np.random.default_rng(0).integers(0, len(pool), size=(side // TILE, side // TILE))
    resolution = 1e4 / MPP
    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        for factor in LARGE_DOWNSAMPLES:
            level_side = side // factor
            writer.write(
                _level_tiles(_shrunk(pool, factor), layout, factor, level_side),
                shape=(level_side, level_side, 3),
                dtype="uint8",
                tile=(TILE, TILE),
                compression="jpeg",
                photometric="rgb",
                subfiletype=0 if factor == 1 else 1,
                resolution=(resolution / factor, resolution / factor),
                resolutionunit="CENTIMETER",
                metadata=None,
                description="samsyn benchmark slide",
            )


def _texture_pool() -> np.ndarray:
    """Texture tiles, shape (n, 256, 256, 3): cut from tissue pictures, in four rotations."""
    tiles: list[np.ndarray] = []
    for seed in TEXTURE_SEEDS:
        picture = tissue(TEXTURE_SIDE, TEXTURE_SIDE, seed)
        for y in range(0, TEXTURE_SIDE, TILE):
            for x in range(0, TEXTURE_SIDE, TILE):
                tiles.extend(np.rot90(picture[y : y + TILE, x : x + TILE], k) for k in range(4))
    return np.stack(tiles)


def _shrunk(pool: np.ndarray, factor: int) -> np.ndarray:
    """Every texture tile box-filtered by `factor` (256 / factor px square)."""
    if factor == 1:
        return pool
    step = TILE // factor
    return np.stack(
        [
            np.asarray(Image.fromarray(tile).resize((step, step), Image.Resampling.BOX))
            for tile in pool
        ]
    )


def _level_tiles(
    shrunk: np.ndarray, layout: np.ndarray, factor: int, side: int
) -> Iterator[np.ndarray]:
    """The tiles of one level in row-major order, each a mosaic of `factor` x `factor` textures."""
    step = shrunk.shape[1]
    per_side = -(-side // TILE)
    for row in range(per_side):
        for col in range(per_side):
            block = layout[row * factor : (row + 1) * factor, col * factor : (col + 1) * factor]
            mosaic = (
                shrunk[block]
                .transpose(0, 2, 1, 3, 4)
                .reshape(block.shape[0] * step, block.shape[1] * step, 3)
            )
            tile = np.empty((TILE, TILE, 3), dtype=np.uint8)
            tile[:] = BACKGROUND
            tile[: mosaic.shape[0], : mosaic.shape[1]] = mosaic
            yield tile
