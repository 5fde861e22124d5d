"""Annotation shapes: what a reviewer draws, checked and made whole before it is stored.

Coordinates are level-0 image pixels (x right, y down), as everywhere in samsyn. A shape is
kept as GeoJSON geometry plus, for the kinds GeoJSON has no word for (rectangle, ellipse,
freehand brush, text label), a `Shape` description beside it: an ellipse stays an ellipse
(centre, radii, rotation) and is written as a polygon only where a format has no ellipse.

Everything here is pure: shapely in, shapely out, and `InvalidGeometry` with the reason
when a shape cannot be stored (the web layer answers it as the contract's 400).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import shape as geojson_shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid

from samsyn.errors import BadRequest

KINDS = (
    "point",
    "multipoint",
    "line",
    "polyline",
    "rectangle",
    "ellipse",
    "polygon",
    "multipolygon",
    "freehand",
    "text",
)
GEOMETRY_TYPES = {
    "point": ("Point",),
    "text": ("Point",),
    "multipoint": ("MultiPoint",),
    "line": ("LineString",),
    "polyline": ("LineString",),
    "rectangle": ("Polygon",),
    "ellipse": ("Polygon",),
    "polygon": ("Polygon",),
    "freehand": ("Polygon", "MultiPolygon"),
    "multipolygon": ("MultiPolygon", "Polygon"),
}
MAX_VERTICES = 100_000
MAX_GEOMETRY_BYTES = 4 * 1024 * 1024
# No vertex of sane JSON takes more than this many bytes (two long numbers and brackets).
SMALL_VERTEX_BYTES = 128
ELLIPSE_VERTICES = 128
POLYGONAL = ("Polygon", "MultiPolygon")
FREEHAND_TOLERANCE = 0.5  # pixels: a brush stroke keeps its outline within half a pixel


class InvalidGeometry(BadRequest):
    """A shape that cannot be stored, with the reason in a sentence."""

    code = "invalid_geometry"


@dataclass(frozen=True)
class Bounds:
    """The image (or frame) a shape must lie on: its level-0 size in pixels."""

    width: float
    height: float


@dataclass(frozen=True)
class Ellipse:
    """An ellipse as drawn: centre, radii along its own axes, rotation in degrees."""

    cx: float
    cy: float
    rx: float
    ry: float
    rotation: float = 0.0

    def polygon(self, vertices: int = ELLIPSE_VERTICES) -> shapely.Polygon:
        """The ellipse as a ring of `vertices` points, for formats without ellipses."""
        turn = math.radians(self.rotation)
        ring = []
        for step in range(vertices):
            angle = 2 * math.pi * step / vertices
            x, y = self.rx * math.cos(angle), self.ry * math.sin(angle)
            ring.append(
                (
                    self.cx + x * math.cos(turn) - y * math.sin(turn),
                    self.cy + x * math.sin(turn) + y * math.cos(turn),
                )
            )
        return shapely.Polygon(ring)


@dataclass(frozen=True)
class Checked:
    """A shape ready to store: its kind, its geometry, its ellipse if it is one, its box."""

    kind: str
    geometry: BaseGeometry
    ellipse: Ellipse | None = None
    # The GeoJSON as it came in, when the check kept it as it was (an import of 100,000
    # features need not write every one out again).
    source: dict[str, Any] | None = None

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.geometry.bounds
        return float(minx), float(miny), float(maxx), float(maxy)

    def geojson(self) -> dict[str, Any]:
        if self.source is not None:
            return self.source
        return dict(shapely.geometry.mapping(self.geometry))


def check_shape(kind: str, geometry: object, bounds: Bounds, ellipse: object = None) -> Checked:
    """Validate a drawn or imported shape against the image it is drawn on.

    Refused with the reason: unknown kind, a geometry that is not GeoJSON or not of the
    kind's type, empty, NaN or infinite coordinates, more than MAX_VERTICES vertices or
    MAX_GEOMETRY_BYTES of JSON, lying outside the image, zero length or zero area. A ring
    that crosses itself is repaired when the repair is still an area; otherwise refused.
    A freehand outline is simplified to within half a pixel on the way in.
    """
    if kind not in KINDS:
        raise InvalidGeometry(f"The shape kind must be one of {', '.join(KINDS)}.")
    if kind == "ellipse" and ellipse is not None:
        drawn = _ellipse(ellipse)
        return _checked_ellipse(drawn, bounds)
    parsed = _parse(geometry)
    if parsed.geom_type not in GEOMETRY_TYPES[kind]:
        expected = " or ".join(GEOMETRY_TYPES[kind])
        raise InvalidGeometry(f"A {kind} is a GeoJSON {expected}, not a {parsed.geom_type}.")
    whole = _whole(parsed)
    if kind == "freehand":
        whole = _whole(whole.simplify(FREEHAND_TOLERANCE, preserve_topology=True))
    _on_image(whole, bounds)
    _not_degenerate(kind, whole)
    kept = whole is parsed and _plain(geometry, parsed)  # type: ignore[arg-type]
    source = {"type": geometry["type"], "coordinates": geometry["coordinates"]} if kept else None  # type: ignore[index]
    return Checked(kind, whole, source=source)


def _plain(geometry: dict[str, Any], parsed: BaseGeometry) -> bool:
    """Is the GeoJSON already as it is stored: 2-D coordinates and closed rings?"""
    if parsed.has_z:
        return False
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind in ("Point", "LineString", "MultiPoint"):
        return True
    if kind not in ("Polygon", "MultiPolygon"):
        return False
    polygons: list[Any] = [coordinates] if kind == "Polygon" else coordinates
    return all(list(ring[0]) == list(ring[-1]) for rings in polygons for ring in rings)


def _parse(geometry: object) -> BaseGeometry:
    """GeoJSON geometry to shapely, refusing what is not sound JSON geometry."""
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
        raise InvalidGeometry("The geometry must be a GeoJSON object with a type.")
    try:
        parsed = geojson_shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise InvalidGeometry(f"The geometry cannot be read: {error}.") from error
    except shapely.errors.GEOSException as error:
        raise InvalidGeometry(f"The geometry cannot be read: {error}.") from error
    if parsed.is_empty:
        raise InvalidGeometry("The geometry is empty.")
    vertices = shapely.get_num_coordinates(parsed)
    if vertices > MAX_VERTICES:
        raise InvalidGeometry(f"The shape has {vertices} vertices; at most {MAX_VERTICES}.")
    if vertices * SMALL_VERTEX_BYTES > MAX_GEOMETRY_BYTES:
        # Only a shape with many vertices can reach the cap: the others are not measured.
        size = len(json.dumps(geometry, allow_nan=True))
        if size > MAX_GEOMETRY_BYTES:
            raise InvalidGeometry(
                f"The geometry is {size} bytes of JSON; at most {MAX_GEOMETRY_BYTES} are stored."
            )
    if not _finite(parsed):
        raise InvalidGeometry("The coordinates must be finite numbers.")
    return parsed


def _finite(geometry: BaseGeometry) -> bool:
    """Every coordinate a finite number of sane size (NaN and infinity compare false)."""
    coordinates = shapely.get_coordinates(geometry)
    return bool(coordinates.size) and bool((abs(coordinates) < 1e12).all())


def _whole(geometry: BaseGeometry) -> BaseGeometry:
    """A valid geometry: a self-crossing ring repaired into the area it encloses, as long
    as the repair is still an area (a figure-eight becomes two lobes)."""
    if geometry.is_valid:
        return geometry
    reason = explain_validity(geometry)
    if geometry.geom_type not in POLYGONAL:
        if geometry.length == 0:
            raise InvalidGeometry("The line has no length: its points coincide.")
        raise InvalidGeometry(f"The shape is not valid: {reason}.")
    repaired = make_valid(geometry)
    areas = _areas_of(repaired)
    if areas is None or areas.is_empty:
        raise InvalidGeometry(f"The outline cannot be repaired into an area ({reason}).")
    return areas


def _areas_of(geometry: BaseGeometry) -> BaseGeometry | None:
    """The polygonal part of a repaired geometry (a repair may leave stray lines)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        polygons = [part for part in geometry.geoms if part.geom_type in POLYGONAL]
        if polygons:
            return shapely.union_all(polygons)
    return None


def _on_image(geometry: BaseGeometry, bounds: Bounds) -> None:
    minx, miny, maxx, maxy = geometry.bounds
    if minx < 0 or miny < 0 or maxx > bounds.width or maxy > bounds.height:
        raise InvalidGeometry(
            f"The shape reaches outside the image ({bounds.width:g} x {bounds.height:g} px)."
        )


def _not_degenerate(kind: str, geometry: BaseGeometry) -> None:
    if geometry.geom_type in ("LineString", "MultiLineString") and geometry.length == 0:
        raise InvalidGeometry(f"The {kind} has no length.")
    if geometry.geom_type in ("Polygon", "MultiPolygon") and geometry.area == 0:
        raise InvalidGeometry(f"The {kind} has no area.")


def _ellipse(value: object) -> Ellipse:
    """An ellipse from {"center": [x, y], "radii": [rx, ry], "rotation"?: degrees}."""
    if not isinstance(value, dict):
        raise InvalidGeometry('An ellipse is {"center": [x, y], "radii": [rx, ry]}.')
    try:
        cx, cy = (_number(v) for v in value["center"])
        rx, ry = (_number(v) for v in value["radii"])
        rotation = _number(value.get("rotation", 0.0))
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidGeometry('An ellipse is {"center": [x, y], "radii": [rx, ry]}.') from error
    if rx <= 0 or ry <= 0:
        raise InvalidGeometry("An ellipse needs two radii greater than zero.")
    return Ellipse(cx, cy, rx, ry, rotation % 360)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > 1e12:
        raise ValueError("not a finite number")
    return number


def _checked_ellipse(ellipse: Ellipse, bounds: Bounds) -> Checked:
    polygon = ellipse.polygon()
    _on_image(polygon, bounds)
    return Checked("ellipse", polygon, ellipse)


def ellipse_json(ellipse: Ellipse) -> dict[str, Any]:
    return {
        "center": [ellipse.cx, ellipse.cy],
        "radii": [ellipse.rx, ellipse.ry],
        "rotation": ellipse.rotation,
    }
