"""Synthetic slides: H&E-like tissue written as pyramidal TIFF with tifffile.

The demo data and the tests make their own slides with this, so nothing depends on
sample files being present. The picture is deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, ImageDraw, ImageFilter

BACKGROUND = (243, 241, 244)
EOSIN = np.array([232, 160, 196], dtype=np.float32)
HAEMATOXYLIN = (88, 52, 128)


def tissue(width: int, height: int, seed: int = 1) -> np.ndarray:
    """An RGB picture of pink stroma with purple nuclei on a pale glass background."""
    rng = np.random.default_rng(seed)
    mask = _blobs(rng, width, height, cells=8, threshold=0.45)
    shade = _blobs(rng, width, height, cells=32, threshold=None)
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    stroma = EOSIN[None, :] * (0.85 + 0.3 * shade[mask][:, None])
    pixels[mask] = np.clip(stroma, 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels)
    _nuclei(picture, mask, rng)
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(0.7)))


def _blobs(
    rng: np.random.Generator, width: int, height: int, cells: int, threshold: float | None
) -> np.ndarray:
    """Smooth noise: a coarse random grid enlarged with bicubic interpolation."""
    grid = rng.random(
        (max(height * cells // max(width, height), 2), max(width * cells // max(width, height), 2))
    )
    smooth = (
        np.asarray(
            Image.fromarray((grid * 255).astype(np.uint8)).resize(
                (width, height), Image.Resampling.BICUBIC
            ),
            dtype=np.float32,
        )
        / 255.0
    )
    return smooth > threshold if threshold is not None else smooth


def _nuclei(picture: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> None:
    draw = ImageDraw.Draw(picture)
    count = int(mask.sum() / 900)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return
    chosen = rng.integers(0, len(xs), size=count)
    radii = rng.uniform(3, 7, size=count)
    for x, y, radius in zip(xs[chosen], ys[chosen], radii, strict=True):
        stretch = radius * rng.uniform(0.7, 1.3)
        draw.ellipse((x - radius, y - stretch, x + radius, y + stretch), fill=HAEMATOXYLIN)


def write_pyramid(
    path: str | Path,
    pixels: np.ndarray,
    tile: int = 256,
    mpp: float = 0.25,
    downsamples: tuple[int, ...] = (1, 4, 16),
    compression: str = "jpeg",
    photometric: str = "rgb",
    subifds: bool = False,
    description: str = "samsyn synthetic slide",
) -> None:
    """A tiled pyramidal TIFF of `pixels`: level 0 then one page (or SubIFD) per downsample."""
    levels = [_shrink(pixels, factor) for factor in downsamples]
    resolution = (1e4 / mpp, 1e4 / mpp)
    options: dict[str, Any] = {
        "tile": (tile, tile),
        "compression": compression,
        "photometric": photometric,
    }
    with tifffile.TiffWriter(path, bigtiff=pixels.nbytes > 2**31) as writer:
        writer.write(
            levels[0],
            subifds=len(levels) - 1 if subifds else 0,
            resolution=resolution,
            resolutionunit="CENTIMETER",
            description=description,
            **options,
        )
        for factor, level in zip(downsamples[1:], levels[1:], strict=True):
            scaled = (resolution[0] / factor, resolution[1] / factor)
            writer.write(
                level, subfiletype=1, resolution=scaled, resolutionunit="CENTIMETER", **options
            )


def _shrink(pixels: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(width // factor, 1), max(height // factor, 1))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))
