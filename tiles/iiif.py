"""IIIF Image API 3.0: parsing of region, size, rotation, quality and format, and info.json.

https://iiif.io/api/image/3.0/ — every parameter is validated here; anything the
specification calls an error raises BadRequest, which the web layer sends as 400.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from samsyn.errors import BadRequest
from tiles.pyramid import Rect, nominal_scale
from tiles.render import Encoding
from tiles.sources.base import SlideInfo

MAX_WIDTH = 8192
MAX_HEIGHT = 8192
MAX_AREA = 4096 * 4096
QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = ("jpg", "png", "webp")
_NUMBER = r"\d+(?:\.\d+)?"


@dataclass(frozen=True)
class ImageRequest:
    """One parsed IIIF image request."""

    region: Rect
    width: int
    height: int
    rotation: int
    mirror: bool
    quality: str
    format: str

    @property
    def encoding(self) -> Encoding:
        return Encoding(
            self.format, 85, grey=self.quality == "gray", bitonal=self.quality == "bitonal"
        )


def parse(
    info: SlideInfo, region: str, size: str, rotation: str, quality: str, fmt: str
) -> ImageRequest:
    """Turn the five path segments into a request, or raise BadRequest."""
    rect = parse_region(region, info.width, info.height)
    width, height = parse_size(size, rect.width, rect.height)
    degrees, mirror = parse_rotation(rotation)
    if quality not in QUALITIES:
        raise BadRequest(f"quality {quality!r} is not one of {', '.join(QUALITIES)}")
    if fmt not in FORMATS:
        raise BadRequest(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return ImageRequest(rect, width, height, degrees, mirror, quality, fmt)


def parse_region(region: str, width: int, height: int) -> Rect:
    """full, square, x,y,w,h or pct:x,y,w,h, cut to the image; empty regions are errors."""
    if region == "full":
        return Rect(0, 0, width, height)
    if region == "square":
        side = min(width, height)
        return Rect((width - side) // 2, (height - side) // 2, side, side)
    percent = region.startswith("pct:")
    numbers = _numbers(region[4:] if percent else region, 4, allow_fraction=percent)
    if percent:
        x, y, w, h = numbers
        rect = Rect(
            round(x * width / 100),
            round(y * height / 100),
            round(w * width / 100),
            round(h * height / 100),
        )
    else:
        rect = Rect(*(int(n) for n in numbers))
    if rect.width <= 0 or rect.height <= 0:
        raise BadRequest("the region is empty")
    clipped = rect.clipped(width, height)
    if clipped.width == 0 or clipped.height == 0:
        raise BadRequest("the region lies outside the image")
    return clipped


def parse_size(size: str, region_w: int, region_h: int) -> tuple[int, int]:
    """The output size for a region; upscaling only with ^, never beyond the limits."""
    upscale = size.startswith("^")
    spec = size[1:] if upscale else size
    width, height = _size_of(spec, region_w, region_h, upscale)
    if width < 1 or height < 1:
        raise BadRequest("the requested size is empty")
    if not upscale and (width > region_w or height > region_h):
        raise BadRequest("a size larger than the region needs the ^ prefix")
    if width > MAX_WIDTH or height > MAX_HEIGHT or width * height > MAX_AREA:
        raise BadRequest(f"sizes are limited to {MAX_WIDTH} x {MAX_HEIGHT} and {MAX_AREA} pixels")
    return width, height


def _size_of(spec: str, region_w: int, region_h: int, upscale: bool) -> tuple[int, int]:
    if spec == "max":
        return _fit_limits(region_w, region_h, upscale)
    if spec.startswith("pct:"):
        (percent,) = _numbers(spec[4:], 1, allow_fraction=True)
        if percent <= 0 or (percent > 100 and not upscale):
            raise BadRequest("a percentage size must be above 0 and at most 100 without ^")
        return round(region_w * percent / 100), round(region_h * percent / 100)
    confined = spec.startswith("!")
    match = re.fullmatch(r"(\d*),(\d*)", spec[1:] if confined else spec)
    if not match or not (match.group(1) or match.group(2)):
        raise BadRequest(f"size {spec!r} is not valid")
    w = int(match.group(1)) if match.group(1) else None
    h = int(match.group(2)) if match.group(2) else None
    if confined:
        if w is None or h is None:
            raise BadRequest("!w,h needs both a width and a height")
        if w == 0 or h == 0:
            raise BadRequest("!w,h needs a width and a height above 0")
        scale = min(w / region_w, h / region_h)
        return max(round(region_w * scale), 1), max(round(region_h * scale), 1)
    if w is None and h is not None:
        return max(round(region_w * h / region_h), 1), h
    if h is None and w is not None:
        return w, max(round(region_h * w / region_w), 1)
    return w or 0, h or 0


def _fit_limits(width: int, height: int, upscale: bool) -> tuple[int, int]:
    """The largest size the server delivers for `max` (never above the region without ^)."""
    scale = min(MAX_WIDTH / width, MAX_HEIGHT / height, math.sqrt(MAX_AREA / (width * height)))
    if not upscale:
        scale = min(scale, 1.0)
    return max(math.floor(width * scale), 1), max(math.floor(height * scale), 1)


def parse_rotation(rotation: str) -> tuple[int, bool]:
    """Degrees (a multiple of 90) and whether the picture is mirrored first."""
    mirror = rotation.startswith("!")
    text = rotation[1:] if mirror else rotation
    if not re.fullmatch(_NUMBER, text):
        raise BadRequest(f"rotation {rotation!r} is not a number")
    degrees = float(text)
    if degrees > 360 or degrees % 90:
        raise BadRequest("rotation is offered in steps of 90 degrees")
    return int(degrees) % 360, mirror


def _numbers(text: str, count: int, allow_fraction: bool) -> list[float]:
    pattern = _NUMBER if allow_fraction else r"\d+"
    parts = text.split(",")
    if len(parts) != count or not all(re.fullmatch(pattern, part) for part in parts):
        raise BadRequest(f"{text!r} is not {count} comma-separated numbers")
    return [float(part) for part in parts]


def stored_tile_for(info: SlideInfo, request: ImageRequest) -> tuple[int, int, int] | None:
    """(level, col, row) of the stored tile this request is exactly, if any."""
    if request.rotation or request.mirror or request.quality not in ("default", "color"):
        return None
    if request.format != "jpg":
        return None
    rect = request.region
    for index, level in enumerate(info.levels):
        scale = nominal_scale(level, info.width, info.height)
        if scale is None or (request.width, request.height) != (
            level.tile_width,
            level.tile_height,
        ):
            continue
        span_w, span_h = level.tile_width * scale, level.tile_height * scale
        if (
            (rect.width, rect.height) == (span_w, span_h)
            and rect.x % span_w == 0
            and rect.y % span_h == 0
        ):
            return index, rect.x // span_w, rect.y // span_h
    return None


def info_json(info: SlideInfo, service_id: str) -> dict[str, object]:
    """The image information document: size, limits, stored tiles and their scale factors."""
    base = info.levels[0]
    scales = sorted(
        {s for level in info.levels if (s := nominal_scale(level, info.width, info.height))}
    )
    sizes = sorted(
        (
            {"width": level.width, "height": level.height}
            for level in info.levels
            if level.width <= MAX_WIDTH
            and level.height <= MAX_HEIGHT
            and level.width * level.height <= MAX_AREA
        ),
        key=lambda size: size["width"],
    )
    return {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": info.width,
        "height": info.height,
        "maxWidth": MAX_WIDTH,
        "maxHeight": MAX_HEIGHT,
        "maxArea": MAX_AREA,
        "sizes": sizes,
        "tiles": [
            {"width": base.tile_width, "height": base.tile_height, "scaleFactors": scales or [1]}
        ],
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFormats": ["webp"],
        "extraFeatures": ["mirroring", "sizeUpscaling", "rotationBy90s"],
    }
