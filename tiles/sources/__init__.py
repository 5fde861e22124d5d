"""Opening an image file: the format is recognised by its content, never its name."""

from __future__ import annotations

import os

import openslide
import tifffile

from samsyn.errors import Unreadable
from tiles.sources.base import SlideInfo, Source

__all__ = ["SlideInfo", "Source", "open_source", "sniff"]

TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def sniff(path: str) -> str | None:
    """The family of a file from its first bytes: tiff, dicom, jpeg, png, or None.

    The DICOM marker after the 128-byte preamble is looked at first: a preamble may hold a
    TIFF header (a dual-personality file), and such a file is read as the DICOM it is.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def open_source(paths: list[str]) -> Source:
    """Open one slide (one file, or the instances of one DICOM series) with the right reader."""
    from tiles.sources.dicom_wsi import DicomWsiSource
    from tiles.sources.openslide_source import OpenSlideSource
    from tiles.sources.photo import PhotoSource
    from tiles.sources.tiff import TiffSource

    for path in paths:
        if not os.path.isfile(path):
            raise Unreadable("the image file is missing")
    family = sniff(paths[0])
    if family == "dicom":
        return DicomWsiSource(paths)
    if len(paths) != 1:
        raise Unreadable("only DICOM slides span several files")
    if family == "tiff" and not _needs_openslide(paths[0]):
        return TiffSource(paths[0])
    if family in ("jpeg", "png"):
        return PhotoSource(paths[0])
    if openslide.OpenSlide.detect_format(paths[0]):
        return OpenSlideSource(paths[0])
    raise Unreadable("not a slide format samsyn can read")


def _needs_openslide(path: str) -> bool:
    """TIFF dialects whose pyramid only OpenSlide assembles correctly."""
    try:
        with tifffile.TiffFile(path) as tiff:
            return bool(tiff.is_philips or tiff.is_scn or tiff.is_bif)
    except Exception:
        return False
