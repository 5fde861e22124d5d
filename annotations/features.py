"""Annotations as the REST routes and the live channel exchange them: a GeoJSON Feature in
level-0 pixel coordinates, with samsyn's properties beside the geometry.

A posted Feature names its `kind` (otherwise read from the geometry type), an ellipse its
`shape` (centre, radii, rotation), its class (`classification` as a name or as QuPath's
`{"name", "color"}`), a `label`, the `frame` of a series and the `layer` ("shared" or
"draft"). What comes back adds the author, organisation, version, times and measurements.
Nothing here knows Flask or a database: the web layer hands in the image's facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from annotations.formats.geojson import kind_of
from annotations.geometry import Bounds, Checked, InvalidGeometry, check_shape
from annotations.measure import PixelSize, measurements, region_statistics
from samsyn.errors import BadRequest
from samsyn.text import storable

LABEL_LIMIT = 2_000
CLASS_LIMIT = 255


@dataclass(frozen=True)
class Canvas:
    """The image a mark is drawn on: its size, frames and the physical size of a pixel."""

    bounds: Bounds
    frames: int
    series: bool
    pixel: PixelSize | None


@dataclass(frozen=True)
class Posted:
    """A Feature as a client sent it, checked: shape, class, label, frame, layer, lock."""

    shape: Checked
    classification: str | None
    label: str | None
    frame: int | None
    layer: str
    locked: bool


def posted(feature: object, canvas: Canvas, default_layer: str = "shared") -> Posted:
    """Read and check a posted Feature against the image it is drawn on.

    BadRequest (InvalidGeometry for the shape) with the reason in a sentence."""
    if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
        raise BadRequest("Send a GeoJSON Feature.")
    properties = feature.get("properties")
    properties = {} if properties is None else properties
    if not isinstance(properties, dict):
        raise BadRequest("The feature's properties must be a JSON object.")
    geometry = feature.get("geometry")
    kind = properties.get("kind")
    if kind is None and isinstance(geometry, dict):
        kind = kind_of(geometry)
    if not isinstance(kind, str):
        raise InvalidGeometry("The feature needs a geometry of a kind samsyn keeps.")
    shape = check_shape(kind, geometry, canvas.bounds, properties.get("shape"))
    label = _text(properties.get("label", properties.get("name")), "label", LABEL_LIMIT)
    if kind == "text" and not label:
        raise BadRequest("A text mark needs its text in the label.")
    return Posted(
        shape=shape,
        classification=class_name(properties.get("classification")),
        label=label,
        frame=frame_of(properties.get("frame"), canvas),
        layer=_layer(properties.get("layer", default_layer)),
        locked=_flag(properties.get("isLocked", properties.get("locked", False)), "isLocked"),
    )


def class_name(value: object) -> str | None:
    """The class a feature names: a plain name, or QuPath's {"name", "color"}."""
    if isinstance(value, dict):
        value = value.get("name")
    return _text(value, "class name", CLASS_LIMIT)


def frame_of(value: object, canvas: Canvas) -> int | None:
    """The 0-based frame of a series a mark lies on; None on a slide."""
    if not canvas.series:
        if value not in (None, 0):
            raise BadRequest("A slide has no frames: leave out the frame.")
        return None
    if value is None:
        if canvas.frames == 1:
            return 0
        raise BadRequest("A mark on a series names the frame it lies on.")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < canvas.frames:
        raise BadRequest(f"The frame must be a whole number from 0 to {canvas.frames - 1}.")
    return value


def measured(
    shape: Checked, canvas: Canvas, values: Any | None = None, unit: str = ""
) -> dict[str, Any]:
    """Length, area and perimeter in µm (slides) or mm (series); on a series, with the frame's
    modality values at hand, the mean, min, max and standard deviation inside the shape."""
    result: dict[str, Any] = {
        name: _rounded(value) for name, value in measurements(shape, canvas.pixel).items()
    }
    if values is not None and shape.geometry.geom_type in ("Polygon", "MultiPolygon"):
        statistics = region_statistics(shape.geometry, values)
        if statistics is not None:
            result.update({name: _rounded(value) for name, value in statistics.items()})
            result["unit"] = unit
    return result


def _rounded(value: float) -> float:
    """Six significant digits: what a reader can use, without float noise in the JSON."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 6 - int(math.floor(math.log10(abs(value)))) - 1
    return round(value, max(digits, 0))


def _text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"The {what} must be text.")
    if len(value) > limit:
        raise BadRequest(f"The {what} is longer than {limit} characters.")
    if not storable(value, multiline=True):
        raise BadRequest(f"The {what} contains characters that cannot be stored.")
    return value.strip() or None


def _layer(value: object) -> str:
    if value not in ("shared", "draft"):
        raise BadRequest('The layer is "shared" or "draft".')
    return str(value)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} is true or false.")
    return value
