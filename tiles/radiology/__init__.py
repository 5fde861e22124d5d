"""Radiology series (CT, MR, US, ...) from DICOM files. A plain library: no Flask, no database.

Import time: `discover_series(paths)` yields `SeriesFound` (with the JSON metadata the app
stores), `Skipped` or `Failed` per series or file. View time: `Series(metadata)` renders
frames (`render`, `value`, `stored`, `modality`) without parsing a DICOM header again.
"""

from tiles.outcomes import Failed, Skipped
from tiles.radiology.discover import Outcome, SeriesFound, discover_series
from tiles.radiology.presets import WINDOW_PRESETS
from tiles.radiology.series import FrameCache, Series

__all__ = [
    "WINDOW_PRESETS",
    "Failed",
    "FrameCache",
    "Outcome",
    "Series",
    "SeriesFound",
    "Skipped",
    "discover_series",
]
