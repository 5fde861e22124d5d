"""A radiology series rebuilt from its stored metadata: frames read, decoded and shown.

Nothing here parses a DICOM header: the metadata made at import says where every frame's
bytes are and how to show them. Decoded frames are kept in a bounded, thread-safe LRU
that the application shares between its series; grey tables per window are kept per series.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from samsyn.errors import BadRequest, NotFound, Unreadable
from tiles.lru import BoundedLRU
from tiles.radiology import codecs, display
from tiles.radiology.discover import METADATA_VERSION
from tiles.radiology.display import Voi
from tiles.radiology.model import FileRecord, FrameRecord, Window, file_from_json, frame_from_json

DEFAULT_CACHE_BYTES = 512 * 2**20
STANDALONE_CACHE_BYTES = 64 * 2**20
_TABLES_KEPT = 64


class FrameCache:
    """Decoded frames by key; the least recently used go once `capacity` bytes are held.

    The application keeps one per process, sized by its configuration; a series made
    without one (a test, a script) gets a small one of its own.
    """

    def __init__(self, capacity: int = DEFAULT_CACHE_BYTES) -> None:
        self.capacity = capacity
        self._frames: BoundedLRU[Hashable, np.ndarray] = BoundedLRU(
            capacity, weight=lambda frame: int(frame.nbytes)
        )

    def get(self, key: Hashable) -> np.ndarray | None:
        """The cached frame, marked as recently used, or None."""
        return self._frames.get(key)

    def put(self, key: Hashable, frame: np.ndarray) -> None:
        """Keep a frame (read-only from now on), dropping the oldest ones beyond capacity."""
        frame.flags.writeable = False
        self._frames.put(key, frame)

    @property
    def nbytes(self) -> int:
        return self._frames.total

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames = BoundedLRU(self.capacity, weight=lambda frame: int(frame.nbytes))


class Series:
    """A series of frames in display order, rendered from the metadata `discover_series` made.

    Thread-safe: one instance may serve concurrent requests.
    """

    def __init__(self, metadata: Mapping[str, Any], cache: FrameCache | None = None) -> None:
        if metadata.get("version") != METADATA_VERSION:
            raise Unreadable("the series was imported by another samsyn version; import it again")
        self.metadata = metadata
        self.files = tuple(file_from_json(entry) for entry in metadata["files"])
        self.frames = tuple(frame_from_json(entry) for entry in metadata["frames"])
        self.rows = int(metadata["rows"])
        self.columns = int(metadata["columns"])
        self._cache = cache if cache is not None else FrameCache(STANDALONE_CACHE_BYTES)
        self._tables: BoundedLRU[Hashable, np.ndarray] = BoundedLRU(_TABLES_KEPT)
        self._palettes: dict[int, np.ndarray] = {}
        self._ranges: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def number_of_frames(self) -> int:
        return len(self.frames)

    def stored(self, k: int) -> np.ndarray:
        """Stored values of frame k (0-based), read-only; colour frames come as RGB."""
        frame, record = self._frame(k)
        key = (record.path, record.size, frame.frame, frame.spans[:1])
        pixels = self._cache.get(key)
        if pixels is None:
            pixels = codecs.decode(record, frame)
            self._cache.put(key, pixels)
        return pixels

    def modality(self, k: int) -> np.ndarray:
        """Modality values of frame k as float32: HU for CT, else the file's own units."""
        frame, record = self._frame(k)
        stored = self.stored(k)
        if record.samples_per_pixel == 3:
            return stored.astype(np.float32)
        values = display.modality_values(stored, frame.rescale, record.modality_lut)
        return values.astype(np.float32)

    def render(self, k: int, window: tuple[float, float] | None = None) -> np.ndarray:
        """Frame k as 8-bit grey (rows, columns) or RGB (rows, columns, 3) ready for encoding.

        `window` is (center, width) in modality units; without it the frame's own VOI LUT,
        else its first window, else its min/max. Colour images ignore the window.
        """
        frame, record = self._frame(k)
        checked = _checked_window(window) if window is not None else None
        stored = self.stored(k)
        if record.samples_per_pixel == 3:
            return display.colour_8bit(stored, record.bits_stored)
        if record.photometric_interpretation == "PALETTE COLOR" and record.palette is not None:
            return display.apply_palette(stored, record.palette, self._palette(frame.file))
        voi = self._voi(k, frame, record, stored, checked)
        invert = _inverted(record)
        table = self._table(frame, record, stored.dtype, voi, invert)
        if table is None:
            return display.grey(stored, frame.rescale, record.modality_lut, voi, invert)
        return display.look_up(stored, table)

    def value(self, k: int, x: float, y: float) -> tuple[float, str]:
        """The modality value at pixel (x, y) of frame k and its unit ("HU" or "")."""
        frame, record = self._frame(k)
        column, row = _pixel(x, y, self.columns, self.rows)
        stored = self.stored(k)
        if record.samples_per_pixel == 3:
            red, green, blue = (float(v) for v in stored[row, column])
            return 0.299 * red + 0.587 * green + 0.114 * blue, ""  # luma (BT.601)
        sample = np.asarray([stored[row, column]])
        value = display.modality_values(sample, frame.rescale, record.modality_lut)[0]
        return float(value), frame.unit

    def unit(self, k: int) -> str:
        """The unit of frame k's modality values: "HU" or ""."""
        return self._frame(k)[0].unit

    def default_window(self, k: int) -> tuple[float, float] | None:
        """The frame's first window from the file as (center, width), or None."""
        frame, _record = self._frame(k)
        return (frame.windows[0].center, frame.windows[0].width) if frame.windows else None

    # --- helpers ---------------------------------------------------------------------

    def _frame(self, k: int) -> tuple[FrameRecord, FileRecord]:
        if not isinstance(k, (int, np.integer)) or not 0 <= k < len(self.frames):
            raise NotFound(f"frame {k} does not exist; the series has {len(self.frames)} frames")
        frame = self.frames[int(k)]
        return frame, self.files[frame.file]

    def _voi(
        self,
        k: int,
        frame: FrameRecord,
        record: FileRecord,
        stored: np.ndarray,
        window: Window | None,
    ) -> Voi:
        if window is not None:
            return Voi(window, frame.voi_lut_function)
        if record.voi_luts:
            return Voi(lut=record.voi_luts[0])
        if frame.windows:
            return Voi(frame.windows[0], frame.voi_lut_function)
        low, high = self._range(k, frame, record, stored)
        return Voi(Window((low + high) / 2.0, high - low), "LINEAR_EXACT")

    def _range(
        self, k: int, frame: FrameRecord, record: FileRecord, stored: np.ndarray
    ) -> tuple[float, float]:
        """Smallest and largest modality value of the frame (kept once computed)."""
        known = self._ranges.get(k)
        if known is not None:
            return known
        low, high = int(stored.min()), int(stored.max())
        codes = np.arange(low, high + 1) if high - low <= 65536 else np.asarray([low, high])
        values = display.modality_values(codes, frame.rescale, record.modality_lut)
        found = (float(values.min()), float(values.max()))
        self._ranges[k] = found
        return found

    def _table(
        self, frame: FrameRecord, record: FileRecord, dtype: np.dtype, voi: Voi, invert: bool
    ) -> np.ndarray | None:
        """The grey level of every possible stored value for this frame's transforms."""
        domain = display.code_domain(dtype)
        if domain is None:
            return None
        key = (
            dtype.str,
            frame.rescale,
            frame.file if record.modality_lut else -1,
            voi.window,
            voi.function,
            frame.file if voi.lut else -1,
            invert,
        )
        table = self._tables.get(key)
        if table is None:
            table = display.grey(domain, frame.rescale, record.modality_lut, voi, invert)
            self._tables.put(key, table)
        return table

    def _palette(self, file_index: int) -> np.ndarray:
        table = self._palettes.get(file_index)
        if table is None:
            palette = self.files[file_index].palette
            assert palette is not None
            table = self._palettes[file_index] = display.palette_table(palette)
        return table


def _inverted(record: FileRecord) -> bool:
    """MONOCHROME1 shows low values bright; so does Presentation LUT Shape INVERSE (which
    the enhanced IODs require for MONOCHROME1: the two mean one inversion, not two)."""
    return (
        record.photometric_interpretation == "MONOCHROME1"
        or record.presentation_lut_shape == "INVERSE"
    )


def _checked_window(window: tuple[float, float]) -> Window:
    try:
        center, width = float(window[0]), float(window[1])
    except (TypeError, ValueError, IndexError) as error:
        raise BadRequest("a window is two numbers: center,width") from error
    if not (math.isfinite(center) and math.isfinite(width)):
        raise BadRequest("the window must be finite numbers")
    if width <= 0:
        raise BadRequest("the window width must be greater than 0")
    return Window(center, width)


def _pixel(x: float, y: float, columns: int, rows: int) -> tuple[int, int]:
    try:
        column, row = math.floor(float(x)), math.floor(float(y))
    except (TypeError, ValueError, OverflowError) as error:
        raise BadRequest("x and y must be numbers") from error
    if not (0 <= column < columns and 0 <= row < rows):
        raise BadRequest(f"({x}, {y}) lies outside the {columns} x {rows} frame")
    return column, row
