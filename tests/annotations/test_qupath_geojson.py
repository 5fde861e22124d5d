"""QuPath GeoJSON: every real QuPath export of the shared samples reads, a round trip keeps
counts, classes, holes and areas, and hostile documents are refused per feature."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape as to_shape

from annotations.formats import geojson
from annotations.geometry import Bounds, check_shape

ANYWHERE = Bounds(10_000_000, 10_000_000)


def qupath_files(sample_data: Path) -> list[Path]:
    folder = sample_data / "annotations" / "qupath"
    return sorted([*folder.rglob("*.json"), *folder.rglob("*.geojson")])


def read_file(path: Path) -> list[geojson.Feature | geojson.Refused]:
    return geojson.read(json.loads(path.read_text(encoding="utf-8")))


def test_every_real_qupath_export_reads_whole(sample_data: Path) -> None:
    files = qupath_files(sample_data)
    assert len(files) == 16
    for path in files:
        outcomes = read_file(path)
        refused = [o for o in outcomes if isinstance(o, geojson.Refused)]
        assert outcomes and not refused, (path.name, refused[:3])
        for feature in outcomes:
            assert isinstance(feature, geojson.Feature)
            check_shape(feature.kind, feature.geometry, ANYWHERE)


def test_the_files_details_survive_reading(sample_data: Path) -> None:
    folder = sample_data / "annotations" / "qupath"
    cells = [f for f in read_file(folder / "coscia-lmd" / "Single_cells.geojson")]
    assert len(cells) == 131
    assert (
        sum(1 for f in cells if isinstance(f, geojson.Feature) and f.object_type == "cell") == 121
    )
    assert any(isinstance(f, geojson.Feature) and f.locked for f in cells)
    assert any(
        isinstance(f, geojson.Feature)
        and "Area µm^2" in f.measurements
        or isinstance(f, geojson.Feature)
        and f.measurements
        for f in cells
    )
    classified = read_file(folder / "wsidicom-tools" / "qupath-polygon-cell-classified.json")
    names = {f.classification for f in classified if isinstance(f, geojson.Feature)}
    assert names == {"Cell", "Nucleus"}
    assert all(
        isinstance(f, geojson.Feature) and f.color and f.color.startswith("#") for f in classified
    )
    bare = read_file(folder / "qupath-core" / "polygon.geojson")
    assert (
        len(bare) == 1 and isinstance(bare[0], geojson.Feature) and bare[0].kind == "multipolygon"
    )
    area = to_shape(bare[0].geometry).area
    assert area == pytest.approx(5.47e7, rel=0.01)


def test_a_round_trip_keeps_counts_classes_holes_and_areas(sample_data: Path) -> None:
    for path in qupath_files(sample_data):
        features = [f for f in read_file(path) if isinstance(f, geojson.Feature)]
        shapes = [check_shape(f.kind, f.geometry, ANYWHERE) for f in features]
        written = geojson.write(
            geojson.Exported(
                id=f"a{index}",
                shape=shape,
                classification=feature.classification,
                color=feature.color,
                name=feature.name,
                locked=feature.locked,
                object_type=feature.object_type,
                measurements=feature.measurements,
            )
            for index, (feature, shape) in enumerate(zip(features, shapes, strict=True))
        )
        again = [
            f
            for f in geojson.read(json.loads(json.dumps(written)))
            if isinstance(f, geojson.Feature)
        ]
        assert len(again) == len(features), path.name
        for before, after, shape in zip(features, again, shapes, strict=True):
            assert after.classification == before.classification
            assert after.kind == before.kind
            old, new = to_shape(before.geometry), to_shape(after.geometry)
            if old.area:
                assert new.area == pytest.approx(shape.geometry.area, rel=1e-3)
                assert new.area == pytest.approx(old.area, rel=1e-3)
            holes = sum(
                len(p.interiors) for p in getattr(new, "geoms", [new]) if hasattr(p, "interiors")
            )
            old_holes = sum(
                len(p.interiors) for p in getattr(old, "geoms", [old]) if hasattr(p, "interiors")
            )
            assert holes == old_holes


def test_export_is_what_qupath_reads() -> None:
    shape = check_shape("ellipse", None, ANYWHERE, {"center": [100, 100], "radii": [50, 20]})
    written = geojson.write(
        [
            geojson.Exported(
                "e1", shape, classification="Tumör", color="#c83232", name="T1", locked=True
            )
        ]
    )
    (feature,) = written["features"]
    assert written["type"] == "FeatureCollection"
    assert feature["geometry"]["type"] == "Polygon"  # no ellipse in GeoJSON
    assert feature["properties"] == {
        "objectType": "annotation",
        "classification": {"name": "Tumör", "color": [200, 50, 50]},
        "name": "T1",
        "isLocked": True,
    }


def test_qupath_0_2_signed_colours_and_measurement_lists() -> None:
    document = [
        {
            "type": "Feature",
            "id": "PathAnnotationObject",
            "geometry": {"type": "Point", "coordinates": [5, 6]},
            "properties": {
                "classification": {"name": "Mitos", "colorRGB": -8397766},
                "measurements": [{"name": "Diameter", "value": 4.5}, {"name": "bad", "value": "x"}],
            },
        }
    ]
    (feature,) = geojson.read(document)
    assert isinstance(feature, geojson.Feature)
    assert feature.color == "#7fdc3a"  # -8397766 & 0xFFFFFF = 0x7FDC3A
    assert feature.classification == "Mitos"
    assert feature.measurements == {"Diameter": 4.5}


HOSTILE_DOCUMENTS = [None, 3, "text", {"type": "FeatureCollection"}, {"type": "Nonsense"}, {}]


@pytest.mark.parametrize("document", HOSTILE_DOCUMENTS)
def test_a_document_that_is_not_geojson_is_refused_in_one_report(document: object) -> None:
    (refusal,) = geojson.read(document)
    assert isinstance(refusal, geojson.Refused)


def test_bad_features_are_refused_one_by_one() -> None:
    good = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [1, 1]},
        "properties": {},
    }
    document = {
        "type": "FeatureCollection",
        "features": [
            good,
            "not a feature",
            {"type": "Feature"},
            {"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}},
            {"type": "Feature", "geometry": {"type": 7}},
            {
                **good,
                "properties": {"classification": {"name": "\ud800"}, "name": 5, "isLocked": "yes"},
            },
        ],
    }
    outcomes = geojson.read(document)
    assert [type(o).__name__ for o in outcomes] == [
        "Feature",
        "Refused",
        "Refused",
        "Refused",
        "Refused",
        "Feature",
    ]
    last = outcomes[-1]
    assert isinstance(last, geojson.Feature)
    assert last.classification is None and last.name is None and last.locked is False
    assert [o.index for o in outcomes] == list(range(6))


def test_a_hundred_thousand_features_read_and_check_in_well_under_thirty_seconds() -> None:
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x, y], [x + 8, y], [x + 8, y + 6], [x + 1, y + 7], [x, y]]],
            },
            "properties": {
                "objectType": "detection",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
            },
        }
        for x, y in ((10 * (i % 1000), 10 * (i // 1000)) for i in range(100_000))
    ]
    started = time.perf_counter()
    outcomes = geojson.read({"type": "FeatureCollection", "features": features})
    shapes = [
        check_shape(f.kind, f.geometry, ANYWHERE)
        for f in outcomes
        if isinstance(f, geojson.Feature)
    ]
    seconds = time.perf_counter() - started
    assert len(shapes) == 100_000
    assert seconds < 30, seconds
    assert shapely.get_num_coordinates(shapes[0].geometry) == 5
