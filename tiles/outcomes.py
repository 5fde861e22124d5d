"""What became of a file or folder given to `samsyn import` when no image was found in it.

The slide discovery (`tiles.discover`) and the radiology discovery
(`tiles.radiology.discover`) report with the same two classes, so the importer tells
them apart with one `isinstance` whichever reader gave them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    """A file that is not an image samsyn imports (a note, a DICOM report, a directory)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Failed:
    """A file or folder that should hold an image but cannot be read; `reason` is one line."""

    path: str
    reason: str
