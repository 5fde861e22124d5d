"""Finding the images in files and folders given to `samsyn import`.

A folder is walked recursively. DICOM files are grouped by series: all instances of one
whole-slide image become one slide, and radiology objects (CT, MR, US, ...) go to
`tiles.radiology.discover_series`, which groups and orders them into series. Other files
are recognised by their content. Every file ends up in exactly one outcome: found,
skipped (not an image) or failed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom

from samsyn.errors import SamsynError
from tiles.pyramid import Rect
from tiles.radiology import Failed as RadiologyFailed
from tiles.radiology import SeriesFound, discover_series
from tiles.radiology.instance import looks_like_dicom
from tiles.sources import open_source, sniff
from tiles.sources.base import SlideInfo

SLIDE_EXTENSIONS = {
    ".svs",
    ".ndpi",
    ".tif",
    ".tiff",
    ".scn",
    ".bif",
    ".mrxs",
    ".vms",
    ".vmu",
    ".svslide",
    ".jpg",
    ".jpeg",
    ".png",
    ".dcm",
    ".dicom",
}
WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


@dataclass(frozen=True)
class Found:
    """A readable image: its files, a display name and what it holds."""

    paths: tuple[str, ...]
    name: str
    info: SlideInfo
    kind: str = "slide"


@dataclass(frozen=True)
class Skipped:
    """A file that is not an image samsyn imports (a note, a DICOM report)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Failed:
    """A file or folder that should have been an image but cannot be read."""

    path: str
    reason: str


Outcome = Found | SeriesFound | Skipped | Failed


def discover(path: str) -> Iterator[Outcome]:
    """Every image in a file or folder, each opened once to prove it can be read."""
    target = Path(path)
    if not target.exists():
        yield Failed(path, "no such file or folder")
        return
    files = [target] if target.is_file() else _walk(target)
    if target.is_dir() and not files:
        yield Failed(path, "the folder holds no files")
        return
    yield from _classify(files, explicit=target.is_file())


def _walk(folder: Path) -> list[Path]:
    """Files below `folder`, leaving out the data folders that belong to a MIRAX slide."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not (Path(root) / f"{d}.mrxs").exists() and not d.startswith(".")
        )
        found.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
    return found


def _classify(files: list[Path], explicit: bool) -> Iterator[Outcome]:
    slide_series: dict[str, list[str]] = defaultdict(list)
    radiology: list[str] = []
    for file in files:
        family = sniff(str(file))
        if family == "dicom" and _is_whole_slide(file, slide_series):
            continue
        if family == "dicom" or (family is None and looks_like_dicom(str(file))):
            radiology.append(str(file))
        elif family is not None or file.suffix.lower() in SLIDE_EXTENSIONS or explicit:
            yield _probe((str(file),), file.name)
        else:
            yield Skipped(str(file), "not an image file")
    for paths in slide_series.values():
        yield _probe(tuple(sorted(paths)), _dicom_name(paths))
    if radiology:
        yield from _radiology(radiology)


def _is_whole_slide(file: Path, series: dict[str, list[str]]) -> bool:
    """File a whole-slide DICOM instance under its series; False for every other object."""
    try:
        header = pydicom.dcmread(
            file, stop_before_pixels=True, specific_tags=["SOPClassUID", "SeriesInstanceUID"]
        )
        if str(header.SOPClassUID) != WSI_SOP_CLASS:
            return False
        series[str(header.SeriesInstanceUID)].append(str(file))
    except Exception:
        return False  # the radiology reader gives the reason a damaged file fails
    return True


def _radiology(files: list[str]) -> Iterator[Outcome]:
    """Radiology series, with the radiology reader's skipped and failed files in our terms."""
    for outcome in discover_series(files):
        if isinstance(outcome, SeriesFound):
            yield outcome
        elif isinstance(outcome, RadiologyFailed):
            yield Failed(outcome.path, outcome.reason)
        else:
            yield Skipped(outcome.path, outcome.reason)


def _dicom_name(paths: list[str]) -> str:
    folder = Path(paths[0]).parent.name
    return folder if len(paths) > 1 else Path(paths[0]).name


def _probe(paths: tuple[str, ...], name: str) -> Outcome:
    """Open the image and decode one tile of its smallest level, or say why not."""
    try:
        source = open_source(list(paths))
        smallest = len(source.info.levels) - 1
        level = source.info.levels[smallest]
        source.read_region(
            smallest,
            Rect(0, 0, min(level.tile_width, level.width), min(level.tile_height, level.height)),
        )
        info = source.info
        source.close()
    except SamsynError as error:
        return Failed(paths[0] if len(paths) == 1 else str(Path(paths[0]).parent), error.message)
    except Exception as error:  # a reader library failing in a way it does not document
        return Failed(paths[0], f"cannot be read: {type(error).__name__}: {error}")
    return Found(paths, name, info)
