"""DICOM whole-slide images read with wsidicom: all instances of one series together.

Brightfield pyramids serve their stored JPEG frames unchanged. Fluorescence slides store
one frame per tile per optical path (channel); those are composed into one RGB picture
on black, each channel in its own colour.
"""

from __future__ import annotations

import numpy as np
import pydicom
from PIL import Image
from wsidicom import WsiDicom

from samsyn.errors import NotFound, Unreadable
from tiles.passthrough import servable_jpeg
from tiles.pyramid import Level, Rect
from tiles.sources.base import BLACK, WHITE, SlideInfo, Source, as_rgb8, paste

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
CHANNEL_COLOURS = (
    (0.0, 0.35, 1.0),  # blue, where nuclear stains (DAPI) usually sit
    (0.0, 1.0, 0.0),
    (1.0, 0.0, 0.0),
    (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0),
    (1.0, 1.0, 0.0),
)


class DicomWsiSource(Source):
    """A DICOM WSI series: one or more instances forming one pyramid."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(paths)
        try:
            self._slide = WsiDicom.open(paths if len(paths) > 1 else paths[0])
            self._wsi_levels = list(self._slide.levels)
            self._closed = False
        except Exception as error:
            raise Unreadable(f"not a readable DICOM whole-slide image: {error}") from error
        if not self._wsi_levels:
            raise Unreadable("the DICOM series holds no pyramid levels")
        base = self._wsi_levels[0]
        self._paths = sorted((str(path) for path in base.optical_paths), key=_identifier_order)
        self._monochrome = base.default_instance.image_data.photometric_interpretation.startswith(
            "MONOCHROME"
        )
        self._fluorescence = self._monochrome and len(self._paths) > 1
        self._colours = channel_colours(self._paths, _path_descriptions(paths))
        self.info = self._describe()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._slide.close()
            self._closed = True

    def _describe(self) -> SlideInfo:
        base = self._wsi_levels[0].size
        levels = tuple(
            Level(
                level.size.width,
                level.size.height,
                (base.width / level.size.width + base.height / level.size.height) / 2,
                level.tile_size.width,
                level.tile_size.height,
            )
            for level in self._wsi_levels
        )
        mpp = self._wsi_levels[0].mpp
        associated = ("label",) if self._slide.labels else ()
        if self._slide.overviews:
            associated = (*associated, "macro")
        return SlideInfo(
            format="dicom-wsi",
            vendor=_manufacturer(self._slide),
            reader="wsidicom",
            levels=levels,
            mpp=(float(mpp.width), float(mpp.height)) if mpp else None,
            associated=associated,
            background=BLACK if self._fluorescence else WHITE,
            properties={"channels": str(len(self._paths))},
        )

    def read_region(self, level: int, rect: Rect) -> np.ndarray:
        stored = self.info.levels[level]
        inside = rect.clipped(stored.width, stored.height)
        canvas = self.blank(rect)
        if inside.width == 0 or inside.height == 0:
            return canvas
        pixels = self._read_channels(level, inside)
        paste(canvas, pixels, inside.x - rect.x, inside.y - rect.y)
        return canvas

    def _read_channels(self, level: int, rect: Rect) -> np.ndarray:
        number = self._wsi_levels[level].level
        try:
            if not self._fluorescence:
                region = self._slide.read_region(
                    (rect.x, rect.y), number, (rect.width, rect.height)
                )
                return as_rgb8(np.asarray(region))
            planes = [
                np.asarray(
                    self._slide.read_region(
                        (rect.x, rect.y), number, (rect.width, rect.height), path=path
                    )
                )
                for path in self._paths
            ]
        except Exception as error:
            raise Unreadable(f"this region cannot be decoded: {error}") from error
        return compose_channels(planes, self._colours)

    def stored_tile(self, level: int, col: int, row: int) -> bytes | None:
        if self._fluorescence:
            return None
        wsi_level = self._wsi_levels[level]
        if wsi_level.default_instance.image_data.transfer_syntax != JPEG_BASELINE:
            return None
        tile_w, tile_h = wsi_level.tile_size.width, wsi_level.tile_size.height
        if (col + 1) * tile_w > wsi_level.size.width or (row + 1) * tile_h > wsi_level.size.height:
            return None
        try:
            data = self._slide.read_encoded_tile(
                wsi_level.level, (col, row), crop_to_image_boundary=False
            )
        except Exception as error:
            raise Unreadable(f"this tile cannot be read: {error}") from error
        photometric = wsi_level.default_instance.image_data.photometric_interpretation
        return servable_jpeg(data, None, rgb=photometric == "RGB")

    def associated_image(self, name: str) -> Image.Image:
        try:
            if name == "label" and self._slide.labels:
                return self._slide.read_label().convert("RGB")
            if name == "macro" and self._slide.overviews:
                return self._slide.read_overview().convert("RGB")
        except Exception as error:
            raise Unreadable(f"the {name} image cannot be decoded: {error}") from error
        raise NotFound(f"this slide has no {name} image")


NAMED_COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.35, 1.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "dapi": (0.0, 0.35, 1.0),
}


def channel_colours(
    paths: list[str], descriptions: dict[str, str]
) -> list[tuple[float, float, float]]:
    """A display colour per channel: the one its description names, else a fixed palette.

    Channels are kept in the order of their identifiers, so every process paints a tile
    the same way.
    """
    colours = []
    for index, path in enumerate(paths):
        words = descriptions.get(path, "").lower().split()
        named = next((NAMED_COLOURS[word] for word in words if word in NAMED_COLOURS), None)
        colours.append(named or CHANNEL_COLOURS[index % len(CHANNEL_COLOURS)])
    return colours


def compose_channels(
    planes: list[np.ndarray], colours: list[tuple[float, float, float]]
) -> np.ndarray:
    """Grey channel planes added up in their display colours, clipped to 8 bits."""
    total = np.zeros((*planes[0].shape[:2], 3), dtype=np.float32)
    for plane, colour in zip(planes, colours, strict=True):
        grey = as_rgb8(plane)[:, :, 0].astype(np.float32)
        total += grey[:, :, None] * np.asarray(colour, dtype=np.float32)
    return np.clip(total, 0, 255).astype(np.uint8)


def _identifier_order(identifier: str) -> tuple[int, str]:
    return (int(identifier), "") if identifier.isdigit() else (1 << 30, identifier)


def _path_descriptions(paths: list[str]) -> dict[str, str]:
    """OpticalPathDescription by identifier, from the first instance that has them."""
    for path in paths:
        try:
            header = pydicom.dcmread(
                path, stop_before_pixels=True, specific_tags=["OpticalPathSequence"]
            )
        except Exception:  # a damaged instance: wsidicom has already said what it could read
            continue
        sequence = header.get("OpticalPathSequence") or []
        found = {
            str(item.get("OpticalPathIdentifier", "")): str(item.get("OpticalPathDescription", ""))
            for item in sequence
        }
        if found:
            return found
    return {}


def _manufacturer(slide: WsiDicom) -> str:
    try:
        name = slide.metadata.equipment.manufacturer
    except AttributeError:
        name = None
    return str(name).strip().lower() if name else "dicom"
