"""Vendor formats tifffile does not cover (MIRAX, Philips TIFF, Leica SCN, Ventana BIF,
and the rest of OpenSlide's list), read through openslide-python with openslide-bin."""

from __future__ import annotations

import numpy as np
import openslide
from PIL import Image

from samsyn.errors import NotFound, Unreadable
from tiles.pyramid import Level, Rect
from tiles.sources.base import SlideInfo, Source

_ASSOCIATED = {"thumbnail": "thumbnail", "label": "label", "macro": "macro"}


class OpenSlideSource(Source):
    """A slide opened by OpenSlide; regions composed onto white like OpenSlide's own viewer."""

    def __init__(self, path: str) -> None:
        super().__init__([path])
        try:
            self._slide = openslide.OpenSlide(path)
            self._closed = False
        except Exception as error:
            raise Unreadable(f"OpenSlide cannot open this file: {error}") from error
        self.info = self._describe()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._slide.close()
            self._closed = True

    def _describe(self) -> SlideInfo:
        props = self._slide.properties
        levels = tuple(
            Level(
                width,
                height,
                float(downsample),
                int(props.get(f"openslide.level[{index}].tile-width", 256)),
                int(props.get(f"openslide.level[{index}].tile-height", 256)),
            )
            for index, ((width, height), downsample) in enumerate(
                zip(self._slide.level_dimensions, self._slide.level_downsamples, strict=True)
            )
        )
        mpp_x, mpp_y = (
            props.get(openslide.PROPERTY_NAME_MPP_X),
            props.get(openslide.PROPERTY_NAME_MPP_Y),
        )
        power = props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)
        vendor = props.get(openslide.PROPERTY_NAME_VENDOR) or "unknown"
        return SlideInfo(
            format=f"openslide-{vendor}",
            vendor=vendor,
            reader="openslide",
            levels=levels,
            mpp=(float(mpp_x), float(mpp_y)) if mpp_x and mpp_y else None,
            objective_power=float(power) if power else None,
            associated=tuple(name for name in _ASSOCIATED if name in self._slide.associated_images),
        )

    def read_region(self, level: int, rect: Rect) -> np.ndarray:
        downsample = self.info.levels[level].downsample
        origin = (round(rect.x * downsample), round(rect.y * downsample))
        try:
            rgba = self._slide.read_region(origin, level, (rect.width, rect.height))
        except openslide.OpenSlideError as error:
            raise Unreadable(f"this region cannot be decoded: {error}") from error
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))

    def associated_image(self, name: str) -> Image.Image:
        images = self._slide.associated_images
        if name not in images:
            raise NotFound(f"this slide has no {name} image")
        return images[name].convert("RGB")
