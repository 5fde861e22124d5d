"""Shapes and measurements against hand-computed values, and hostile geometry refused with
its reason."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
import shapely
from pydicom.pixels import apply_modality_lut

from annotations.geometry import Bounds, InvalidGeometry, check_shape
from annotations.measure import PixelSize, counts_per_class, measurements, region_statistics

SLIDE = Bounds(100_000, 80_000)
QUARTER_MICRON = PixelSize(0.25, 0.25, "um")


def polygon(*ring: tuple[float, float]) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in (*ring, ring[0])]]}


def square(x: float, y: float, side: float) -> dict[str, object]:
    return polygon((x, y), (x + side, y), (x + side, y + side), (x, y + side))


def test_a_millimetre_square_on_a_quarter_micron_slide() -> None:
    """1 mm at 0.25 µm/px is 4,000 px; its area 1 mm² = 1,000,000 µm², perimeter 4 mm."""
    shape = check_shape("rectangle", square(1000, 1000, 4000), SLIDE)
    measured = measurements(shape, QUARTER_MICRON)
    assert measured["area_um2"] == pytest.approx(1_000_000)
    assert measured["perimeter_um"] == pytest.approx(4000)


def test_pixels_of_different_width_and_height() -> None:
    """100 x 100 px at 0.5 x 0.25 µm/px: 50 x 25 µm = 1,250 µm², perimeter 150 µm."""
    shape = check_shape("rectangle", square(0, 0, 100), SLIDE)
    measured = measurements(shape, PixelSize(0.5, 0.25, "um"))
    assert measured["area_um2"] == pytest.approx(1250)
    assert measured["perimeter_um"] == pytest.approx(150)


def test_an_ellipse_stays_an_ellipse_and_is_measured_exactly() -> None:
    shape = check_shape(
        "ellipse", None, SLIDE, {"center": [5000, 5000], "radii": [400, 200], "rotation": 30}
    )
    assert shape.ellipse is not None and shape.ellipse.rotation == 30
    measured = measurements(shape, QUARTER_MICRON)
    assert measured["area_um2"] == pytest.approx(math.pi * 100 * 50)
    # the polygon written for formats without ellipses is within 0.1 % of the true area
    assert shape.geometry.area * 0.0625 == pytest.approx(math.pi * 100 * 50, rel=1e-3)


def test_a_circle_perimeter_is_two_pi_r() -> None:
    shape = check_shape("ellipse", None, SLIDE, {"center": [500, 500], "radii": [100, 100]})
    assert measurements(shape, QUARTER_MICRON)["perimeter_um"] == pytest.approx(2 * math.pi * 25)


def test_lengths_of_lines_and_polylines_in_mm_on_a_series() -> None:
    frame = Bounds(512, 512)
    spacing = PixelSize(0.7, 0.7, "mm")
    line = check_shape("line", {"type": "LineString", "coordinates": [[0, 0], [30, 40]]}, frame)
    assert measurements(line, spacing)["length_mm"] == pytest.approx(35)
    bent = {"type": "LineString", "coordinates": [[0, 0], [10, 0], [10, 10]]}
    assert measurements(check_shape("polyline", bent, frame), spacing)[
        "length_mm"
    ] == pytest.approx(14)


def test_a_polygon_with_a_hole() -> None:
    outer = [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]
    hole = [[25, 25], [75, 25], [75, 75], [25, 75], [25, 25]]
    shape = check_shape("polygon", {"type": "Polygon", "coordinates": [outer, hole]}, SLIDE)
    assert measurements(shape, None)["area_px2"] == pytest.approx(10_000 - 2_500)


def test_a_self_crossing_ring_is_repaired_into_its_two_lobes() -> None:
    bowtie = polygon((0, 0), (100, 100), (100, 0), (0, 100))
    shape = check_shape("polygon", bowtie, SLIDE)
    assert shape.geometry.is_valid and shape.geometry.area == pytest.approx(5000)


def test_freehand_strokes_are_simplified_on_the_way_in() -> None:
    ring = [(float(x), 0.0) for x in range(0, 1001)] + [(1000.0, 500.0), (0.0, 500.0)]
    shape = check_shape("freehand", polygon(*ring), SLIDE)
    assert shapely.get_num_coordinates(shape.geometry) < 10
    assert shape.geometry.area == pytest.approx(500_000)


def test_points_are_counted_per_class() -> None:
    marks = [
        ("mitos", check_shape("point", {"type": "Point", "coordinates": [10, 10]}, SLIDE).geometry),
        (
            "mitos",
            check_shape(
                "multipoint", {"type": "MultiPoint", "coordinates": [[1, 1], [2, 2]]}, SLIDE
            ).geometry,
        ),
        (None, check_shape("point", {"type": "Point", "coordinates": [5, 5]}, SLIDE).geometry),
    ]
    assert counts_per_class(marks) == {"mitos": 3, "": 1}


HOSTILE = [
    ("polygon", "not geometry", "GeoJSON object"),
    ("polygon", {"type": "Polygon"}, "cannot be read"),
    ("polygon", {"type": "Polygon", "coordinates": "x"}, "cannot be read"),
    ("polygon", {"type": "Polygon", "coordinates": []}, "empty"),
    ("polygon", polygon((0, 0), (float("nan"), 0), (10, 10)), "finite"),
    ("polygon", polygon((0, 0), (float("inf"), 0), (10, 10)), "finite"),
    ("polygon", polygon((0, 0), (1e300, 0), (10, 10)), "finite"),
    ("polygon", square(-10, 0, 100), "outside the image"),
    ("polygon", square(99_990, 0, 100), "outside the image"),
    ("polygon", polygon((0, 0), (10, 0), (20, 0)), "area"),
    ("line", {"type": "LineString", "coordinates": [[5, 5], [5, 5]]}, "length"),
    ("point", square(0, 0, 10), "Point"),
    ("spline", square(0, 0, 10), "kind"),
    ("polygon", {"type": "GeometryCollection", "geometries": []}, ""),
]


@pytest.mark.parametrize(("kind", "geometry", "reason"), HOSTILE)
def test_hostile_geometry_is_refused_with_its_reason(
    kind: str, geometry: object, reason: str
) -> None:
    with pytest.raises(InvalidGeometry) as refused:
        check_shape(kind, geometry, SLIDE)
    assert reason in refused.value.message
    assert refused.value.status == 400 and refused.value.code == "invalid_geometry"


def test_too_many_vertices_are_refused() -> None:
    ring = [(float(i % 1000), float(i // 1000)) for i in range(100_001)]
    with pytest.raises(InvalidGeometry, match="vertices"):
        check_shape("polygon", {"type": "Polygon", "coordinates": [ring]}, SLIDE)


def test_ten_megabytes_of_coordinates_are_refused() -> None:
    ring = [[123456.123456789, 654321.987654321]] * 90_000
    with pytest.raises(InvalidGeometry, match="vertices"):
        check_shape("polygon", {"type": "Polygon", "coordinates": [ring, ring, ring]}, SLIDE)


def test_a_shape_under_the_vertex_cap_is_still_held_to_the_byte_cap() -> None:
    ring = [[-123456789.12345678, -987654321.12345678]] * 99_999
    with pytest.raises(InvalidGeometry, match="bytes"):
        check_shape("polygon", {"type": "Polygon", "coordinates": [ring]}, SLIDE)


@pytest.mark.parametrize(
    "ellipse",
    [
        {"center": [1, 1]},
        {"center": [10, 10], "radii": [0, 5]},
        {"center": ["a", 1], "radii": [1, 1]},
        {"center": [10, 10], "radii": [True, 5]},
        {"center": [50, 50], "radii": [100, 10]},
        "round",
    ],
)
def test_bad_ellipses_are_refused(ellipse: object) -> None:
    with pytest.raises(InvalidGeometry):
        check_shape("ellipse", None, SLIDE, ellipse)


def test_region_statistics_of_a_known_square() -> None:
    values = np.arange(100, dtype=np.float32).reshape(10, 10)  # value = 10 * row + column
    shape = check_shape("rectangle", square(2, 3, 2), Bounds(10, 10))  # pixels (2..3, 3..4)
    stats = region_statistics(shape.geometry, values)
    assert stats is not None
    assert stats["pixels"] == 4
    assert stats["mean"] == pytest.approx((32 + 33 + 42 + 43) / 4)
    assert (stats["min"], stats["max"]) == (32, 43)
    assert stats["std"] == pytest.approx(np.std([32, 33, 42, 43]))


def test_a_shape_holding_no_pixel_centre_has_no_statistics() -> None:
    shape = check_shape("rectangle", square(2.6, 2.6, 0.3), Bounds(10, 10))
    assert region_statistics(shape.geometry, np.zeros((10, 10))) is None


def test_roi_hu_mean_equals_pydicom_on_a_real_ct(sample_data: Path) -> None:
    """The HU inside an ellipse on a real CT slice: samsyn's series values (the `value`
    route's) against pydicom's modality LUT, pixel by pixel."""
    from tiles.radiology import Series, SeriesFound, discover_series

    folder = sample_data / "dicom" / "series" / "ct-siemens-tilted-4slices"
    found = next(o for o in discover_series([str(folder)]) if isinstance(o, SeriesFound))
    series = Series(found.metadata)
    frame = series.frames[1]
    dataset = pydicom.dcmread(series.files[frame.file].path)
    hounsfield = apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64)
    rows, columns = hounsfield.shape
    shape = check_shape(
        "ellipse",
        None,
        Bounds(columns, rows),
        {"center": [columns / 2, rows / 2], "radii": [columns / 6, rows / 8], "rotation": 20},
    )
    ours = region_statistics(shape.geometry, series.modality(1))
    assert ours is not None
    inside = [
        hounsfield[r, c]
        for r in range(rows)
        for c in range(columns)
        if shape.geometry.contains(shapely.Point(c + 0.5, r + 0.5))
    ]
    assert ours["pixels"] == len(inside)
    assert ours["mean"] == pytest.approx(float(np.mean(inside)), abs=1e-3)
    assert ours["std"] == pytest.approx(float(np.std(inside)), abs=1e-3)
    assert (ours["min"], ours["max"]) == (min(inside), max(inside))
