"""GeoJSON as QuPath writes and reads it.

QuPath exports a FeatureCollection, a bare array of Features, a single Feature or (its own
test resources) a bare geometry. Version 0.2 writes `"id": "PathAnnotationObject"`, a
`classification.colorRGB` as a signed integer and `measurements` as a list; 0.4 and later
write `objectType` ("annotation", "detection", "cell"), `classification.color` as
[r, g, b] and `measurements` as a name → number map. Rectangles, ellipses and brush
strokes arrive as plain polygons. Reading reports every feature: what it took, or why not.
Writing produces what QuPath 0.4+ opens (ellipses written as polygons).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from annotations.geometry import Checked

OBJECT_TYPES = ("annotation", "detection", "cell", "tile", "tma_core")
NAME_LIMIT = 255


@dataclass(frozen=True)
class Feature:
    """One annotation read from a file, before its geometry is checked against the image."""

    index: int
    kind: str
    geometry: dict[str, Any]
    classification: str | None = None
    color: str | None = None
    name: str | None = None
    locked: bool = False
    object_type: str = "annotation"
    measurements: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """A feature of the file that is not imported, and why (in a sentence)."""

    index: int
    reason: str


def read(document: object) -> list[Feature | Refused]:
    """Every feature of a QuPath GeoJSON document, in file order."""
    items = _items(document)
    if items is None:
        return [Refused(0, "The file is not GeoJSON: no FeatureCollection, Feature or geometry.")]
    return [_feature(index, item) for index, item in enumerate(items)]


def _items(document: object) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        return None
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        return features if isinstance(features, list) else None
    if kind == "Feature":
        return [document]
    if isinstance(kind, str) and "coordinates" in document:
        return [{"type": "Feature", "geometry": document, "properties": {}}]
    return None


def _feature(index: int, item: object) -> Feature | Refused:
    if not isinstance(item, dict) or item.get("type") != "Feature":
        return Refused(index, "It is not a GeoJSON Feature.")
    geometry = item.get("geometry")
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
        return Refused(index, "It has no geometry.")
    kind = kind_of(geometry)
    if kind is None:
        return Refused(index, f"A {geometry['type']} is not a shape samsyn keeps.")
    properties = item.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    name, color = _classification(properties.get("classification"))
    return Feature(
        index=index,
        kind=kind,
        geometry=geometry,
        classification=name,
        color=color or _rgb_hex(properties.get("color")),
        name=_text(properties.get("name")),
        locked=properties.get("isLocked") is True,
        object_type=_object_type(properties.get("objectType")),
        measurements=_measurements(properties.get("measurements")),
    )


def kind_of(geometry: dict[str, Any]) -> str | None:
    """The samsyn shape kind a GeoJSON geometry is read as."""
    kind = geometry.get("type")
    if kind == "LineString":
        coordinates = geometry.get("coordinates")
        return "line" if isinstance(coordinates, list) and len(coordinates) == 2 else "polyline"
    return {
        "Point": "point",
        "MultiPoint": "multipoint",
        "Polygon": "polygon",
        "MultiPolygon": "multipolygon",
    }.get(str(kind))


def _classification(value: object) -> tuple[str | None, str | None]:
    """(class name, #rrggbb) from QuPath 0.4's `color` or 0.2's signed `colorRGB`."""
    if not isinstance(value, dict):
        return None, None
    name = _text(value.get("name"))
    color = _rgb_hex(value.get("color"))
    if color is None and isinstance(value.get("colorRGB"), int):
        packed = int(value["colorRGB"]) & 0xFFFFFF
        color = f"#{packed:06x}"
    return name, color


def _rgb_hex(value: object) -> str | None:
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return "#{:02x}{:02x}{:02x}".format(*value)
    return None


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    cleaned = "".join(char for char in value if ord(char) >= 32 and ord(char) != 127).strip()
    return cleaned[:NAME_LIMIT] or None


def _object_type(value: object) -> str:
    return value if isinstance(value, str) and value in OBJECT_TYPES else "annotation"


def _measurements(value: object) -> dict[str, float]:
    """QuPath's measurements: a name → number map (0.4+) or a list of {name, value} (0.2)."""
    pairs: Iterable[tuple[object, object]] = ()
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = ((m.get("name"), m.get("value")) for m in value if isinstance(m, dict))
    kept = {}
    for name, number in pairs:
        label = _text(name)
        if label and _finite_number(number):
            kept[label] = float(number)  # type: ignore[arg-type]
    return kept


def _finite_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass(frozen=True)
class Exported:
    """What an export needs of a stored annotation."""

    id: str
    shape: Checked
    classification: str | None = None
    color: str | None = None
    name: str | None = None
    locked: bool = False
    object_type: str = "annotation"
    measurements: dict[str, float] = field(default_factory=dict)


def write(features: Iterable[Exported]) -> dict[str, Any]:
    """A FeatureCollection QuPath opens: objectType, classification {name, color}, isLocked,
    name, measurements; ellipses as polygons."""
    return {"type": "FeatureCollection", "features": [_written(feature) for feature in features]}


def _written(feature: Exported) -> dict[str, Any]:
    geometry = feature.shape.geojson()
    properties: dict[str, Any] = {"objectType": feature.object_type}
    if feature.classification:
        properties["classification"] = {
            "name": feature.classification,
            "color": _rgb(feature.color),
        }
    if feature.name:
        properties["name"] = feature.name
    if feature.locked:
        properties["isLocked"] = True
    if feature.measurements:
        properties["measurements"] = dict(feature.measurements)
    return {"type": "Feature", "id": feature.id, "geometry": geometry, "properties": properties}


def _rgb(color: str | None) -> list[int]:
    """#rrggbb as QuPath's [r, g, b]; QuPath's default grey when there is none."""
    if color and len(color) == 7 and color.startswith("#"):
        try:
            return [int(color[i : i + 2], 16) for i in (1, 3, 5)]
        except ValueError:
            pass
    return [160, 160, 160]
