"""Slice order and geometry warnings of a series.

Slices are ordered by where they lie along the slice normal, the cross product of the
row and column directions of ImageOrientationPatient: location = position . normal
(the approach of dcm2niix and of DICOM PS3.3 C.7.6.2.1.1). Instance Number orders frames
only when positions are missing. Geometry problems are reported as warnings; the series
stays viewable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from tiles.radiology.model import FrameRecord

POSITION_TOLERANCE_MM = 0.01
ORIENTATION_TOLERANCE = 1e-3
TILT_TOLERANCE_DEGREES = 0.5
GAP_FACTOR = 1.5
IRREGULAR_FRACTION = 0.05


@dataclass(frozen=True)
class Arrangement:
    """Frames in display order (with their location along the normal) and what looks wrong."""

    frames: tuple[FrameRecord, ...]
    warnings: tuple[str, ...]
    spacing_mm: float | None


def slice_normal(orientation: Sequence[float]) -> np.ndarray | None:
    """The unit normal of a slice: row direction x column direction; None if degenerate."""
    normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float))
    length = float(np.linalg.norm(normal))
    return normal / length if length > 1e-6 else None


def arrange(
    frames: Sequence[FrameRecord], paths: Sequence[str], gantry_tilt: float = 0.0
) -> Arrangement:
    """Order the frames of one series and describe gaps, duplicates, spacing and tilt."""
    normal = _common_normal(frames)
    if normal is None:
        ordered = sorted(frames, key=lambda f: _fallback_key(f, paths))
        notes = [] if all(f.position is None for f in frames) else [_NO_POSITIONS]
        return Arrangement(tuple(ordered), tuple(notes + _tilt_note(gantry_tilt)), None)
    located = [replace(f, location=_location(f, normal)) for f in frames]
    ordered = sorted(located, key=lambda f: _location_key(f, paths))
    warnings = _orientation_warnings(frames) + _tilt_warnings(ordered, normal, gantry_tilt)
    spacing, spacing_warnings = _spacing(ordered)
    ordered, repeats = _volumes(ordered)
    return Arrangement(tuple(ordered), tuple(repeats + spacing_warnings + warnings), spacing)


_NO_POSITIONS = "some frames have no position: ordered by instance number"


def _common_normal(frames: Sequence[FrameRecord]) -> np.ndarray | None:
    """The normal of the first frame, when every frame has a position and an orientation."""
    orientation = frames[0].orientation if frames else None
    if orientation is None or any(f.position is None or f.orientation is None for f in frames):
        return None
    return slice_normal(orientation)


def _location(frame: FrameRecord, normal: np.ndarray) -> float:
    """Where the frame lies along the normal, in mm."""
    return float(np.dot(np.asarray(frame.position, dtype=float), normal))


def _fallback_key(frame: FrameRecord, paths: Sequence[str]) -> tuple[int, int, str, int]:
    number = frame.instance_number
    return (number is None, number or 0, paths[frame.file], frame.frame)


def _location_key(frame: FrameRecord, paths: Sequence[str]) -> tuple[float, int, int, str, int]:
    return (
        round(frame.location or 0.0, 3),
        frame.temporal_index or 0,
        frame.instance_number or 0,
        paths[frame.file],
        frame.frame,
    )


def _orientation_warnings(frames: Sequence[FrameRecord]) -> list[str]:
    first = np.asarray(frames[0].orientation, dtype=float)
    same = (
        np.allclose(np.asarray(f.orientation, dtype=float), first, atol=ORIENTATION_TOLERANCE)
        for f in frames
    )
    if all(same):
        return []
    return ["mixed orientations: the frames are not all parallel (a localizer among the slices?)"]


def _distinct_locations(frames: Sequence[FrameRecord]) -> list[float]:
    distinct: list[float] = []
    for frame in frames:
        location = frame.location or 0.0
        if not distinct or location - distinct[-1] > POSITION_TOLERANCE_MM:
            distinct.append(location)
    return distinct


def _volumes(frames: list[FrameRecord]) -> tuple[list[FrameRecord], list[str]]:
    """Frames sharing positions: when every position holds the same number of frames they
    are several volumes (time points, echoes) and are shown one volume after the other;
    otherwise they are duplicates, kept next to each other and reported."""
    groups: list[list[FrameRecord]] = []
    for frame in frames:
        if (
            groups
            and (frame.location or 0.0) - (groups[-1][0].location or 0.0) <= POSITION_TOLERANCE_MM
        ):
            groups[-1].append(frame)
        else:
            groups.append([frame])
    counts = {len(group) for group in groups}
    if counts == {1}:
        return frames, []
    if len(groups) > 1 and len(counts) == 1:
        repeats = counts.pop()
        volumes = [group[volume] for volume in range(repeats) for group in groups]
        note = (
            f"several volumes: {len(groups)} slice positions with {repeats} frames each "
            "(time points, echoes or repeats), shown one volume after the other"
        )
        return volumes, [note]
    shared = len(frames) - len(groups)
    return frames, [
        f"duplicate positions: {shared} frame(s) share their slice position with another frame"
    ]


def _spacing(frames: Sequence[FrameRecord]) -> tuple[float | None, list[str]]:
    """The usual distance between neighbouring slices, and warnings for gaps or irregularity."""
    steps = np.diff(_distinct_locations(frames))
    if len(steps) == 0:
        return None, []
    median = float(np.median(steps))
    usual = float(np.percentile(steps, 25))  # robust to gaps even when few steps are known
    largest, smallest = float(steps.max()), float(steps.min())
    if largest > GAP_FACTOR * usual:
        missing = int(sum(round(step / usual) - 1 for step in steps if step > GAP_FACTOR * usual))
        return median, [
            f"gap: about {max(missing, 1)} slice(s) missing, a step of {largest:.2f} mm "
            f"where {usual:.2f} mm is usual"
        ]
    if largest - smallest > IRREGULAR_FRACTION * median + POSITION_TOLERANCE_MM:
        return median, [
            f"irregular spacing: slice steps vary from {smallest:.2f} to {largest:.2f} mm"
        ]
    return median, []


def _tilt_warnings(
    frames: Sequence[FrameRecord], normal: np.ndarray, gantry_tilt: float
) -> list[str]:
    """A tilt stated in the header, or slices stacked along a direction off their normal."""
    notes = _tilt_note(gantry_tilt)
    first, last = np.asarray(frames[0].position), np.asarray(frames[-1].position)
    direction = last - first
    length = float(np.linalg.norm(direction))
    if notes or length < POSITION_TOLERANCE_MM:
        return notes
    cosine = min(abs(float(np.dot(direction, normal))) / length, 1.0)
    angle = math.degrees(math.acos(cosine))
    if angle > TILT_TOLERANCE_DEGREES:
        notes.append(
            f"tilted gantry: the slices are stacked {angle:.1f} degrees off their normal "
            "(gantry tilt or a sheared volume); distances across slices are skewed"
        )
    return notes


def _tilt_note(gantry_tilt: float) -> list[str]:
    if abs(gantry_tilt) <= 0.01:
        return []
    return [f"tilted gantry: Gantry/Detector Tilt is {gantry_tilt:g} degrees"]
