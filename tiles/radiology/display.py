"""From stored values to grey levels: the modality, VOI and presentation transforms.

DICOM's grayscale pipeline (PS3.3 C.11, PS3.4 N.2.1.1): stored values -> Modality LUT or
rescale -> modality values (HU for CT) -> VOI (window or VOI LUT) -> presentation
(MONOCHROME1 or Presentation LUT Shape INVERSE inverts) -> 0..255.

For 8- and 16-bit integer data the whole pipeline is evaluated once for every possible
stored value into a table of 256 or 65,536 grey levels, so showing a frame is one
`np.take` whatever the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiles.radiology.model import Lut, Palette, Rescale, Window


@dataclass(frozen=True)
class Voi:
    """How modality values become grey: a window with its VOI LUT Function, or a VOI LUT."""

    window: Window | None = None
    function: str = "LINEAR"
    lut: Lut | None = None


def modality_values(stored: np.ndarray, rescale: Rescale, lut: Lut | None) -> np.ndarray:
    """Modality values (float64) of stored values: the Modality LUT if any, else rescale."""
    if lut is not None:
        return lut_values(stored, lut).astype(np.float64)
    return stored.astype(np.float64) * rescale.slope + rescale.intercept


def lut_values(inputs: np.ndarray, lut: Lut) -> np.ndarray:
    """LUT entries for inputs; inputs before the table take its first entry, after it its last."""
    table = np.asarray(lut.data, dtype=np.int64)
    index = np.clip(np.trunc(inputs).astype(np.int64) - lut.first, 0, len(table) - 1)
    return table[index]


def voi_fraction(values: np.ndarray, voi: Voi) -> np.ndarray:
    """The VOI output of modality values as a fraction of the output range, 0..1.

    LINEAR is PS3.3 C.11.2.1.2.1: below c - 0.5 - (w-1)/2 -> 0, above c - 0.5 + (w-1)/2 -> 1,
    between ((x - (c - 0.5)) / (w - 1) + 0.5). LINEAR_EXACT (C.11.2.1.3.2) drops the 0.5 and
    1 corrections; SIGMOID (C.11.2.1.3.1) is 1 / (1 + exp(-4 (x - c) / w)).
    """
    if voi.lut is not None:
        return lut_values(values, voi.lut) / float((1 << voi.lut.bits) - 1)
    if voi.window is None:
        return np.zeros_like(values)
    center, width = voi.window.center, voi.window.width
    if voi.function == "SIGMOID" and width > 0:
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if voi.function != "LINEAR_EXACT":
        center, width = center - 0.5, width - 1.0
    if width <= 0:
        return (values > center).astype(np.float64)
    return np.clip((values - center) / width + 0.5, 0.0, 1.0)


def grey_levels(fraction: np.ndarray, invert: bool) -> np.ndarray:
    """Fractions 0..1 as grey levels 0..255 (rounded half up), inverted when asked."""
    grey = np.floor(np.clip(fraction, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return 255 - grey if invert else grey


def grey(
    stored: np.ndarray, rescale: Rescale, modality_lut: Lut | None, voi: Voi, invert: bool
) -> np.ndarray:
    """The whole grayscale pipeline on an array of stored values."""
    values = modality_values(stored, rescale, modality_lut)
    return grey_levels(voi_fraction(values, voi), invert)


def code_domain(dtype: np.dtype) -> np.ndarray | None:
    """Every value an 8- or 16-bit integer type can hold, in the order of its unsigned view;
    None for wider types, which are transformed directly instead of through a table."""
    if dtype.kind not in "iu" or dtype.itemsize > 2:
        return None
    unsigned = np.dtype(f"u{dtype.itemsize}")
    return np.arange(1 << (8 * dtype.itemsize), dtype=unsigned).view(dtype.newbyteorder("="))


def look_up(stored: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Apply a table built over `code_domain`: index by the stored values' unsigned view."""
    unsigned = stored.view(np.dtype(f"u{stored.dtype.itemsize}"))
    return np.take(table, unsigned)


def palette_table(palette: Palette) -> np.ndarray:
    """The palette as an (entries, 3) table of 8-bit RGB."""
    table = np.stack([palette.red, palette.green, palette.blue], axis=1).astype(np.int64)
    if palette.bits > 8:
        table = (table * 255 + 32767) // 65535
    return np.clip(table, 0, 255).astype(np.uint8)


def apply_palette(stored: np.ndarray, palette: Palette, table: np.ndarray) -> np.ndarray:
    """RGB of palette indices; indices outside the palette take its first or last colour."""
    index = np.clip(stored.astype(np.int64) - palette.first, 0, len(table) - 1)
    return table[index]


def colour_8bit(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    """RGB samples of more than 8 bits scaled to 8 bits."""
    if pixels.dtype == np.uint8:
        return pixels
    top = float((1 << bits_stored) - 1)
    return np.floor(np.clip(pixels / top, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
