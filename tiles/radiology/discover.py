"""Finding radiology series in the files and folders given to `samsyn import`.

Folders are walked recursively; DICOM files are recognised by content, not by name, and
grouped by StudyInstanceUID + SeriesInstanceUID. Every file ends up in exactly one
outcome: part of a found series, skipped (not a radiology image: other files, reports,
whole-slide images) or failed (it should be an image but cannot be read).

Files of one series with different sizes (rows x columns x samples) are split: each size
becomes a series of its own, and both carry a "mixed sizes" warning. Splitting keeps a
mostly good series viewable where failing it whole would lose it.

Each series found is proven readable by decoding one frame of every kind of encoding in it
(and, where that fails, one frame of each file of that kind); its metadata is the JSON the
web app stores, from which `Series` renders without reading a DICOM header again.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from samsyn.errors import Unreadable
from tiles.outcomes import Failed, Skipped
from tiles.radiology import codecs
from tiles.radiology.geometry import arrange
from tiles.radiology.instance import Instance, NotRadiology, looks_like_dicom, read_instance
from tiles.radiology.model import FileRecord, FrameRecord, file_to_json, frame_to_json
from tiles.radiology.values import one_line

METADATA_VERSION = 1
ONE_FRAME = "one frame: the series holds a single image"
NO_SERIES_UID = "no Series Instance UID: the file forms a series of its own"


@dataclass(frozen=True)
class SeriesFound:
    """A readable series: its files, a display name and the metadata the app stores."""

    paths: tuple[str, ...]
    name: str
    metadata: dict[str, Any]
    kind: str = "series"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self.metadata["warnings"])


Outcome = SeriesFound | Skipped | Failed


def discover_series(paths: list[str]) -> Iterator[Outcome]:
    """Every radiology series in the given files and folders, and what became of the rest."""
    files: list[str] = []
    for path in paths:
        target = Path(path)
        if not target.exists():
            yield Failed(path, "no such file or folder")
        elif target.is_dir():
            found = _walk(target)
            files.extend(found)
            if not found:
                yield Failed(path, "the folder holds no files")
        else:
            files.append(str(target))
    instances: list[Instance] = []
    for file in _unique(files):
        outcome = _read(file)
        if isinstance(outcome, Instance):
            instances.append(outcome)
        else:
            yield outcome
    for group in _by_series(instances):
        yield from _series(group)


def _walk(folder: Path) -> list[str]:
    """Files below `folder`, hidden files and folders left out."""
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(str(Path(root) / name) for name in sorted(names) if not name.startswith("."))
    return found


def _unique(files: Iterable[str]) -> list[str]:
    """Each file once, even when given both directly and inside a folder."""
    seen: dict[str, str] = {}
    for file in files:
        seen.setdefault(os.path.realpath(file), file)
    return list(seen.values())


def _read(file: str) -> Instance | Skipped | Failed:
    if not looks_like_dicom(file):
        return Skipped(file, "not a DICOM file")
    try:
        return read_instance(file)
    except NotRadiology as reason:
        return Skipped(file, str(reason))
    except Unreadable as error:
        return Failed(file, error.message)
    except Exception as error:  # pydicom failing in a way it does not document
        return Failed(file, f"cannot be read: {type(error).__name__}: {one_line(error)}")


def _by_series(instances: list[Instance]) -> list[list[Instance]]:
    """Instances grouped by study and series UID; a file without a series UID stands alone."""
    groups: dict[tuple[str, str], list[Instance]] = defaultdict(list)
    for instance in instances:
        series = instance.series_uid or f"file:{instance.file.path}"
        groups[(instance.study_uid, series)].append(instance)
    return [sorted(group, key=lambda i: i.file.path) for group in groups.values()]


def _size(record: FileRecord) -> tuple[int, int, int]:
    return (record.rows, record.columns, record.samples_per_pixel)


def _size_text(size: tuple[int, int, int]) -> str:
    rows, columns, samples = size
    return f"{columns}x{rows}" + (" RGB" if samples == 3 else "")


def _series(group: list[Instance]) -> Iterator[Outcome]:
    """One series per size present in the group, each proven readable before it is found."""
    sizes: dict[tuple[int, int, int], list[Instance]] = defaultdict(list)
    for instance in group:
        sizes[_size(instance.file)].append(instance)
    notes = []
    if len(sizes) > 1:
        listed = ", ".join(_size_text(size) for size in sizes)
        notes.append(
            f"mixed sizes: files of {listed} pixels share one series UID; "
            "each size was imported as a series of its own"
        )
    for size, members in sizes.items():
        kept, failed = _probe(members)
        yield from failed
        if kept:
            yield _found(kept, notes, _size_text(size) if len(sizes) > 1 else "")


def _probe(instances: list[Instance]) -> tuple[list[Instance], list[Failed]]:
    """Decode every frame of every file once: a file that fails is left out of the series
    and reported, so no series is registered with a frame that cannot be shown."""
    kept: list[Instance] = []
    failed: list[Failed] = []
    for instance in instances:
        reason = _decode_error(instance)
        if reason is None:
            kept.append(instance)
        else:
            failed.append(Failed(instance.file.path, reason))
    return sorted(kept, key=lambda i: i.file.path), failed


def _encoding_kind(record: FileRecord) -> tuple[Any, ...]:
    return (
        record.transfer_syntax,
        record.bits_allocated,
        record.bits_stored,
        record.pixel_representation,
        record.photometric_interpretation,
        record.planar_configuration,
    )


def _decode_error(instance: Instance) -> str | None:
    try:
        for frame in instance.frames:
            codecs.decode(instance.file, frame)
    except Unreadable as error:
        return error.message
    except Exception as error:
        return f"cannot be decoded: {type(error).__name__}: {one_line(error)}"
    return None


def _found(instances: list[Instance], notes: list[str], size: str) -> SeriesFound:
    """The series of these instances: frames ordered, warnings gathered, metadata made."""
    files = [instance.file for instance in instances]
    paths = [record.path for record in files]
    frames = [
        replace(frame, file=index)
        for index, instance in enumerate(instances)
        for frame in instance.frames
    ]
    tilt = max((instance.gantry_tilt for instance in instances), key=abs)
    arrangement = arrange(frames, paths, tilt)
    warnings = _warnings(instances, notes, list(arrangement.warnings), len(frames))
    first = instances[arrangement.frames[0].file]
    metadata = _metadata(first, files, list(arrangement.frames), warnings)
    metadata["measured_spacing_mm"] = arrangement.spacing_mm
    return SeriesFound(tuple(paths), _name(first, paths, size), metadata)


def _warnings(
    instances: list[Instance], notes: list[str], geometry: list[str], frames: int
) -> list[str]:
    found = list(notes) + geometry
    if frames == 1:
        found.append(ONE_FRAME)
    if not instances[0].series_uid:
        found.append(NO_SERIES_UID)
    for instance in instances:
        found.extend(note for note in instance.notes if note not in found)
    return found


def _metadata(
    first: Instance, files: list[FileRecord], frames: list[FrameRecord], warnings: list[str]
) -> dict[str, Any]:
    """The JSON the app stores: descriptive values, pixel format, files and frames."""
    record, frame = first.file, frames[0]
    return {
        "version": METADATA_VERSION,
        **first.description,
        **first.measures,
        "rows": record.rows,
        "columns": record.columns,
        "number_of_frames": len(frames),
        "orientation": list(frame.orientation) if frame.orientation else None,
        "photometric_interpretation": record.photometric_interpretation,
        "samples_per_pixel": record.samples_per_pixel,
        "bits_allocated": record.bits_allocated,
        "bits_stored": record.bits_stored,
        "pixel_representation": record.pixel_representation,
        "presentation_lut_shape": record.presentation_lut_shape or None,
        "voi_lut_function": frame.voi_lut_function,
        "transfer_syntaxes": sorted({f.transfer_syntax for f in files}),
        "unit": frame.unit,
        "default_window": [frame.windows[0].center, frame.windows[0].width]
        if frame.windows
        else None,
        "warnings": warnings,
        "files": [file_to_json(f) for f in files],
        "frames": [frame_to_json(f, files[f.file].encoding) for f in frames],
    }


def _name(first: Instance, paths: list[str], size: str) -> str:
    description = first.description
    name = description["series_description"]
    if not name and description["series_number"] is not None:
        name = f"{description['modality'] or 'DICOM'} series {description['series_number']}"
    if not name:
        name = Path(paths[0]).parent.name if len(paths) > 1 else Path(paths[0]).name
    return f"{name} ({size})" if size else name
