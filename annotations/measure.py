"""Measurements of annotation shapes in the units of the tissue: µm and µm² on slides (from
the scanner's MPP, per axis), mm and mm² on radiology series (from PixelSpacing), and on
series the statistics of the modality values (HU for CT) inside a shape.

The statistics use the same values the `value` route returns: pixel (column, row) covers
[column, column + 1) x [row, row + 1), and a pixel belongs to a shape when its centre lies
inside it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.affinity import scale
from shapely.geometry.base import BaseGeometry

from annotations.geometry import Checked, Ellipse


@dataclass(frozen=True)
class PixelSize:
    """The physical size of one level-0 pixel along x and y, and its unit ("um" or "mm")."""

    x: float
    y: float
    unit: str


def measurements(shape: Checked, pixel: PixelSize | None) -> dict[str, float]:
    """Length, area and perimeter of a shape in physical units (pixels without a size)."""
    unit = pixel.unit if pixel else "px"
    side = _square(pixel)
    if side is not None and shape.ellipse is None:
        return _scaled(shape.geometry, side, unit)
    physical = _physical(shape.geometry, pixel)
    result: dict[str, float] = {}
    if physical.geom_type in ("LineString", "MultiLineString"):
        result[f"length_{unit}"] = physical.length
    elif physical.geom_type in ("Polygon", "MultiPolygon"):
        result[f"area_{unit}2"] = _area(shape, physical, pixel)
        result[f"perimeter_{unit}"] = _perimeter(shape, physical, pixel)
    elif physical.geom_type == "MultiPoint":
        result["count"] = float(len(physical.geoms))
    return result


def _physical(geometry: BaseGeometry, pixel: PixelSize | None) -> BaseGeometry:
    if pixel is None:
        return geometry
    return scale(geometry, xfact=pixel.x, yfact=pixel.y, origin=(0, 0))


def _square(pixel: PixelSize | None) -> float | None:
    """The side of a square pixel, or None when pixels are not square (or unknown)."""
    if pixel is None:
        return 1.0
    return pixel.x if pixel.x == pixel.y else None


def _scaled(geometry: BaseGeometry, side: float, unit: str) -> dict[str, float]:
    """On square pixels lengths scale by the side and areas by its square: no new shape."""
    kind = geometry.geom_type
    if kind in ("LineString", "MultiLineString"):
        return {f"length_{unit}": geometry.length * side}
    if kind in ("Polygon", "MultiPolygon"):
        return {
            f"area_{unit}2": geometry.area * side * side,
            f"perimeter_{unit}": geometry.length * side,
        }
    if kind == "MultiPoint":
        return {"count": float(len(geometry.geoms))}
    return {}


def _area(shape: Checked, physical: BaseGeometry, pixel: PixelSize | None) -> float:
    """An ellipse's area exactly (any rotation scales by sx * sy), else the polygon's."""
    if shape.ellipse is not None:
        sx, sy = (pixel.x, pixel.y) if pixel else (1.0, 1.0)
        return math.pi * shape.ellipse.rx * shape.ellipse.ry * sx * sy
    return float(physical.area)


def _perimeter(shape: Checked, physical: BaseGeometry, pixel: PixelSize | None) -> float:
    """An axis-aligned ellipse (or a rotated one on square pixels) by Ramanujan's formula,
    else the outline's length."""
    ellipse = shape.ellipse
    sx, sy = (pixel.x, pixel.y) if pixel else (1.0, 1.0)
    if ellipse is not None and (ellipse.rotation % 180 == 0 or sx == sy):
        return _ramanujan(ellipse, sx, sy)
    if ellipse is not None and ellipse.rotation % 180 == 90:
        return _ramanujan(Ellipse(ellipse.cx, ellipse.cy, ellipse.ry, ellipse.rx), sx, sy)
    return float(physical.length)


def _ramanujan(ellipse: Ellipse, sx: float, sy: float) -> float:
    a, b = ellipse.rx * sx, ellipse.ry * sy
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def region_statistics(geometry: BaseGeometry, values: np.ndarray) -> dict[str, float] | None:
    """Mean, min, max and standard deviation of `values` (rows x columns) over the pixels
    whose centre lies inside the shape; None when no pixel centre is inside."""
    inside = _inside(geometry, values.shape[1], values.shape[0])
    if inside is None:
        return None
    rows, columns, mask = inside
    selected = values[rows, columns][mask].astype(np.float64)
    if selected.size == 0:
        return None
    return {
        "mean": float(selected.mean()),
        "min": float(selected.min()),
        "max": float(selected.max()),
        "std": float(selected.std()),
        "pixels": float(selected.size),
    }


def _inside(
    geometry: BaseGeometry, columns: int, rows: int
) -> tuple[slice, slice, np.ndarray] | None:
    minx, miny, maxx, maxy = geometry.bounds
    first_column, first_row = max(math.floor(minx), 0), max(math.floor(miny), 0)
    last_column, last_row = min(math.ceil(maxx), columns), min(math.ceil(maxy), rows)
    if first_column >= last_column or first_row >= last_row:
        return None
    xs = np.arange(first_column, last_column) + 0.5
    ys = np.arange(first_row, last_row) + 0.5
    grid_x, grid_y = np.meshgrid(xs, ys)
    mask = shapely.contains_xy(geometry, grid_x, grid_y)
    return slice(first_row, last_row), slice(first_column, last_column), mask


def counts_per_class(marks: Iterable[tuple[str | None, BaseGeometry]]) -> dict[str, int]:
    """How many points each class holds (a multipoint counts each of its points): a mitosis
    count. Marks without a class count under ""."""
    tally: Counter[str] = Counter()
    for name, geometry in marks:
        if geometry.geom_type == "Point":
            tally[name or ""] += 1
        elif geometry.geom_type == "MultiPoint":
            tally[name or ""] += len(geometry.geoms)
    return dict(tally)
