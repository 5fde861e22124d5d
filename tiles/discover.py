"""Finding the images in files and folders given to `samsyn import`.

All the arguments are taken together: folders are walked recursively, every file counts
once (by its real path) and DICOM files are gathered from all of them before anything is
decided, then grouped by study and series. All instances of one whole-slide image become
one slide, and radiology objects (CT, MR, US, ...) go to `tiles.radiology.discover_series`,
which groups and orders them into series. So a series or slide comes out the same whether
its files are given one by one, as a folder, or mixed. Other files are recognised by their
content and each is an outcome of its own, in the order given. Every file ends up in
exactly one outcome: found, skipped (not an image) or failed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pydicom

from samsyn.errors import SamsynError, Unreadable
from tiles.outcomes import Failed, Skipped
from tiles.pyramid import Rect
from tiles.radiology import SeriesFound, discover_series
from tiles.radiology.instance import check_pixel_data, looks_like_dicom
from tiles.sources import open_source, sniff
from tiles.sources.base import SlideInfo

__all__ = ["Failed", "Found", "Outcome", "SeriesFound", "Skipped", "discover"]

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


Outcome = Found | SeriesFound | Skipped | Failed


@dataclass(frozen=True)
class _File:
    """A file to classify, and whether it was named itself (not only met in a folder)."""

    path: str
    named: bool


def discover(*paths: str) -> Iterator[Outcome]:
    """Every image in the given files and folders, each opened once to prove it can be read.

    Outcomes of missing paths, empty folders and non-DICOM files come in the order given;
    the DICOM slides and series follow, once every argument has been looked at.
    """
    dicom: list[str] = []
    for entry in _gather(paths):
        if isinstance(entry, Failed):
            yield entry
            continue
        family = _family(entry.path)
        if family == "dicom":
            dicom.append(entry.path)
        else:
            yield _other(entry, family)
    yield from _dicom(dicom)


def _gather(paths: Sequence[str]) -> list[_File | Failed]:
    """The files below the given paths, each once by its real path, where first met, or a
    Failed for a path that holds none; a file named anywhere counts as named."""
    order: list[str | Failed] = []
    files: dict[str, _File] = {}
    for path in paths:
        found = _files_of(path)
        if isinstance(found, Failed):
            order.append(found)
            continue
        named = Path(path).is_file()
        for file in found:
            real = os.path.realpath(file)
            if real not in files:
                order.append(real)
                files[real] = _File(file, named)
            elif named:
                files[real] = replace(files[real], named=True)
    return [entry if isinstance(entry, Failed) else files[entry] for entry in order]


def _files_of(path: str) -> list[str] | Failed:
    """The file itself, or the files below a folder; Failed when there are none."""
    target = Path(path)
    if target.is_file():
        return [path]
    if not target.exists():
        return Failed(path, "no such file or folder")
    if not target.is_dir():
        return Failed(path, "not a regular file or folder")
    files = [str(file) for file in _walk(target)]
    return files or Failed(path, "the folder holds no files")


def _family(path: str) -> str | None:
    """The file's family by content; a bare DICOM data set (no preamble) counts as dicom."""
    family = sniff(path)
    if family is None and looks_like_dicom(path):
        return "dicom"
    return family


def _walk(folder: Path) -> list[Path]:
    """Files below `folder`, leaving out the data folders that belong to a MIRAX slide."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not (Path(root) / f"{d}.mrxs").exists() and not d.startswith(".")
        )
        found.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
    return found


def _other(file: _File, family: str | None) -> Outcome:
    """A non-DICOM file: probed when it looks like an image or was named, else skipped."""
    if family is not None or Path(file.path).suffix.lower() in SLIDE_EXTENSIONS or file.named:
        return _probe((file.path,), Path(file.path).name)
    return Skipped(file.path, "not an image file")


def _dicom(files: list[str]) -> Iterator[Outcome]:
    """Whole-slide instances grouped by study and series into slides; every other DICOM
    file to the radiology reader, which groups by study and series the same way."""
    slides: dict[tuple[str, str], list[str]] = defaultdict(list)
    radiology: list[str] = []
    for file in files:
        series = _whole_slide_series(file)
        if series is None:
            radiology.append(file)
        else:
            slides[series].append(file)
    for instances in slides.values():
        yield from _slide(instances)
    if radiology:
        yield from discover_series(radiology)


def _whole_slide_series(file: str) -> tuple[str, str] | None:
    """(study, series) UIDs of a whole-slide DICOM instance; None for every other object."""
    try:
        header = pydicom.dcmread(
            file,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"],
        )
        if str(header.SOPClassUID) != WSI_SOP_CLASS:
            return None
        return str(header.get("StudyInstanceUID", "")), str(header.SeriesInstanceUID)
    except Exception:
        return None  # the radiology reader gives the reason a damaged file fails


def _slide(instances: list[str]) -> Iterator[Outcome]:
    """One slide of the instances of one series. An instance whose pixel data ends early
    fails on its own (the reader would show what is there as if it were whole)."""
    whole: list[str] = []
    for file in sorted(instances):
        try:
            check_pixel_data(file)
        except Unreadable as error:
            yield Failed(file, error.message)
            continue
        whole.append(file)
    if whole:
        yield _probe(tuple(whole), _dicom_name(whole))


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
