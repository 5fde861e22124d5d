"""The annotation routes of the contract through Flask's test client: drawing, measuring,
versions and conflicts, drafts, who may read and write what, classes, QuPath export and
import, the access log, and hostile input.

Organisation A (conftest's Testregion) owns a case with a 2048 x 1536 slide at 0.25 µm/px
and a CT series; organisation B's pathologist sees it only through a share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydicom.pixels import apply_modality_lut
from sqlalchemy import select

from app.directory import add_org, add_unit, add_user
from app.importer import import_paths
from app.models import AccessEntry, Image, new_id
from app.services import services
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT, database, import_one, login, make_app
from tiles.radiology.synthetic import make_ct_series

PASSWORD = "lösenord för test"
B_ORG, B_UNIT = "Region Östergötland", "Klinisk patologi Linköping"


@dataclass
class World:
    app: Flask
    a: FlaskClient
    a2: FlaskClient
    b: FlaskClient
    admin: FlaskClient
    student: FlaskClient
    slide: str
    series: str
    case: str
    ct_files: list[Path]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path) -> World:
    folder = tmp_path_factory.mktemp("annotations")
    application = make_app(folder)
    slide = import_one(application, synthetic_slide)
    ct_files = make_ct_series(folder / "ct", slices=3, size=64, spacing_mm=1.0)
    lines = [
        line
        for line, _ok in import_paths(
            application, [str(folder / "ct")], (TEST_ORG, TEST_PATIENT, TEST_CASE)
        )
    ]
    series = lines[0].split()[1]
    with database(application).session() as session:
        add_org(session, B_ORG, "SE2321000032", "region")
        add_unit(session, B_UNIT, B_ORG, "SE2321000032-PAT")
        add_user(session, "b.patolog", B_ORG, "pathologist", PASSWORD, B_UNIT, name="Berit Patolog")
        add_user(session, "a.patolog2", TEST_ORG, "pathologist", PASSWORD, name="Anna Andra")
        add_user(session, "a.admin", TEST_ORG, "admin", PASSWORD, name="Adam Admin")
        add_user(session, "a.student", TEST_ORG, "student", PASSWORD, name="Siv Student")
        case = session.get(Image, slide).case_id  # type: ignore[union-attr]
    return World(
        application,
        login(application.test_client()),
        login(application.test_client(), "a.patolog2", PASSWORD),
        login(application.test_client(), "b.patolog", PASSWORD),
        login(application.test_client(), "a.admin", PASSWORD),
        login(application.test_client(), "a.student", PASSWORD),
        slide,
        series,
        str(case),
        ct_files,
    )


def square(x: float, y: float, side: float) -> dict[str, Any]:
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def draw(client: FlaskClient, image: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/images/{image}/annotations", json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def listed(client: FlaskClient, image: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/images/{image}/annotations{query}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["type"] == "FeatureCollection"
    return list(response.get_json()["features"])


def entries(application: Flask, action: str) -> list[AccessEntry]:
    services(application).folder.flush(everything=True)
    with database(application).session() as session:
        return list(session.scalars(select(AccessEntry).where(AccessEntry.action == action)))


def share_with_b(world: World) -> str:
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    response = world.a.post(
        f"/api/cases/{world.case}/shares",
        json={"org": B_ORG, "until": until, "purpose": "second_opinion"},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def unshare(world: World, share: str) -> None:
    assert world.a.delete(f"/api/cases/{world.case}/shares/{share}").status_code == 200


def is_error(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.get_json())
    body = response.get_json()
    assert {"error", "message"} <= set(body) and body["message"]
    if code:
        assert body["error"] == code, body


# --- drawing and measuring -----------------------------------------------------------------


def test_a_polygon_is_stored_measured_and_listed(world: World) -> None:
    made = draw(world.a, world.slide, feature(square(100, 100, 400), classification="Tumör"))
    assert made["version"] == 1 and made["seq"] >= 1
    found = next(f for f in listed(world.a, world.slide) if f["id"] == made["id"])
    properties = found["properties"]
    # 400 px at 0.25 µm/px is 100 µm: the square is 10,000 µm² with a 400 µm perimeter.
    assert properties["measurements"]["area_um2"] == pytest.approx(10_000)
    assert properties["measurements"]["perimeter_um"] == pytest.approx(400)
    assert properties["classification"] == {"name": "Tumör", "color": "#c83232"}
    assert properties["author"] and properties["author_name"] and properties["org"] == TEST_ORG
    assert properties["version"] == 1 and properties["frame"] is None
    assert properties["created"].endswith("+00:00") and properties["layer"] == "shared"


def test_every_kind_of_shape_is_kept(world: World) -> None:
    shapes = [
        feature({"type": "Point", "coordinates": [10, 10]}, classification="Mitos"),
        feature({"type": "MultiPoint", "coordinates": [[10, 10], [20, 20], [30, 5]]}),
        feature({"type": "LineString", "coordinates": [[0, 0], [400, 0]]}),
        feature({"type": "LineString", "coordinates": [[0, 0], [300, 0], [300, 400]]}),
        feature(square(10, 10, 40), kind="rectangle"),
        feature(
            {"type": "Polygon", "coordinates": [[[0, 0]]]},
            kind="ellipse",
            shape={"center": [500, 500], "radii": [200, 100], "rotation": 30},
        ),
        feature(
            {
                "type": "Polygon",
                "coordinates": [
                    [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]],
                    [[25, 25], [75, 25], [75, 75], [25, 75], [25, 25]],
                ],
            }
        ),
        feature(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [square(0, 0, 10)["coordinates"][0]],
                    [square(50, 50, 10)["coordinates"][0]],
                ],
            }
        ),
        feature(square(200, 200, 50), kind="freehand"),
        feature({"type": "Point", "coordinates": [40, 40]}, kind="text", label="Se här"),
    ]
    made = [draw(world.a, world.slide, body) for body in shapes]
    by_id = {f["id"]: f["properties"] for f in listed(world.a, world.slide)}
    kinds = [by_id[m["id"]]["kind"] for m in made]
    assert kinds == [
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
    ]
    measurements = [by_id[m["id"]]["measurements"] for m in made]
    assert measurements[1]["count"] == 3
    assert measurements[2]["length_um"] == pytest.approx(100)  # 400 px x 0.25 µm
    assert measurements[3]["length_um"] == pytest.approx(175)
    # the ellipse keeps its own area (π·a·b), not its 128-gon's
    assert measurements[5]["area_um2"] == pytest.approx(np.pi * 50 * 25, rel=1e-5)
    assert by_id[made[5]["id"]]["shape"] == {
        "center": [500, 500],
        "radii": [200, 100],
        "rotation": 30,
    }
    assert measurements[6]["area_um2"] == pytest.approx((100 * 100 - 50 * 50) / 16)
    assert by_id[made[9]["id"]]["label"] == "Se här"


def test_a_region_on_a_ct_frame_gets_its_hu_statistics(world: World) -> None:
    """Mean, min, max and std of the HU inside a polygon, against pydicom's own decoding."""
    ring = [[10, 12], [50, 8], [44, 50], [14, 40], [10, 12]]
    made = draw(
        world.a,
        world.series,
        feature({"type": "Polygon", "coordinates": [ring]}, frame=1, classification="Lesion"),
    )
    found = next(f for f in listed(world.a, world.series, "?frame=1") if f["id"] == made["id"])
    numbers = found["properties"]["measurements"]
    dataset = pydicom.dcmread(world.ct_files[1])
    hu = apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64)
    import shapely

    ys, xs = np.mgrid[0:64, 0:64]
    inside = shapely.contains_xy(shapely.Polygon(ring), xs + 0.5, ys + 0.5)
    assert numbers["mean"] == pytest.approx(hu[inside].mean(), rel=1e-5)
    assert numbers["min"] == pytest.approx(hu[inside].min())
    assert numbers["max"] == pytest.approx(hu[inside].max())
    assert numbers["std"] == pytest.approx(hu[inside].std(), rel=1e-4)
    assert numbers["unit"] == "HU"
    spacing = [float(v) for v in dataset.PixelSpacing]
    area_px = shapely.Polygon(ring).area
    assert numbers["area_mm2"] == pytest.approx(area_px * spacing[0] * spacing[1], rel=1e-5)
    on_frame_zero = listed(world.a, world.series, "?frame=0")
    assert made["id"] not in {f["id"] for f in on_frame_zero}
    assert all(f["properties"]["frame"] == 0 for f in on_frame_zero)


def test_a_series_mark_names_a_frame_that_exists(world: World) -> None:
    body = feature(square(1, 1, 5))
    is_error(world.a.post(f"/api/images/{world.series}/annotations", json=body), 400)
    body = feature(square(1, 1, 5), frame=3)
    is_error(world.a.post(f"/api/images/{world.series}/annotations", json=body), 400)
    body = feature(square(1, 1, 5), frame=1)
    is_error(world.a.post(f"/api/images/{world.slide}/annotations", json=body), 400)


def test_viewport_query_returns_only_what_is_in_view(world: World) -> None:
    far = draw(world.a, world.slide, feature(square(1900, 1400, 20)))
    near = draw(world.a, world.slide, feature(square(5, 1400, 20)))
    ids = {f["id"] for f in listed(world.a, world.slide, "?bbox=1800,1300,2048,1536")}
    assert far["id"] in ids and near["id"] not in ids
    is_error(world.a.get(f"/api/images/{world.slide}/annotations?bbox=1,2,3"), 400)
    is_error(world.a.get(f"/api/images/{world.slide}/annotations?bbox=9,9,1,1"), 400)
    is_error(world.a.get(f"/api/images/{world.slide}/annotations?frame=-1"), 400)


# --- versions, conflicts, deletion, revert --------------------------------------------------


def test_a_stale_change_gets_409_with_the_current_feature(world: World) -> None:
    made = draw(world.a, world.slide, feature(square(600, 600, 50), label="först"))
    url = f"/api/annotations/{made['id']}"
    first = world.a.patch(url, json={"properties": {"label": "andra"}}, headers={"If-Match": "1"})
    assert first.status_code == 200 and first.get_json()["properties"]["version"] == 2
    assert first.headers["ETag"] == '"2"'
    again = world.a.patch(url, json={"properties": {"label": "tredje"}}, headers={"If-Match": "1"})
    is_error(again, 409, "conflict")
    assert again.get_json()["current"]["properties"]["label"] == "andra"
    assert again.get_json()["current"]["properties"]["version"] == 2
    is_error(world.a.patch(url, json={"properties": {"label": "x"}}), 428)
    is_error(
        world.a.patch(url, json={"properties": {"label": "x"}}, headers={"If-Match": "två"}), 400
    )
    moved = world.a.patch(url, json={"geometry": square(700, 700, 50)}, headers={"If-Match": '"2"'})
    assert moved.status_code == 200
    assert moved.get_json()["properties"]["label"] == "andra"
    assert moved.get_json()["geometry"]["coordinates"][0][0] == [700.0, 700.0]


def test_deletion_is_soft_and_revert_brings_it_back(world: World) -> None:
    made = draw(world.a, world.slide, feature(square(800, 800, 30)))
    url = f"/api/annotations/{made['id']}"
    is_error(world.a.delete(url), 428)
    gone = world.a.delete(url, headers={"If-Match": "1"})
    assert gone.status_code == 200 and gone.get_json()["version"] == 2
    assert made["id"] not in {f["id"] for f in listed(world.a, world.slide)}
    is_error(world.a.get(url), 404)
    history = world.a.get(f"{url}/history").get_json()
    assert [v["op"] for v in history] == ["create", "delete"]
    back = world.a.post(f"{url}/revert", json={"version": 1}, headers={"If-Match": "2"})
    assert back.status_code == 200 and back.get_json()["properties"]["version"] == 3
    assert made["id"] in {f["id"] for f in listed(world.a, world.slide)}


# --- who may read and write what -----------------------------------------------------------


def test_another_organisation_sees_nothing_without_a_share(world: World) -> None:
    made = draw(world.a, world.slide, feature(square(900, 100, 30)))
    is_error(world.b.get(f"/api/images/{world.slide}/annotations"), 404)
    is_error(
        world.b.post(f"/api/images/{world.slide}/annotations", json=feature(square(1, 1, 9))), 404
    )
    is_error(world.b.get(f"/api/annotations/{made['id']}"), 404)
    is_error(
        world.b.patch(f"/api/annotations/{made['id']}", json={}, headers={"If-Match": "1"}), 404
    )
    is_error(world.b.get(f"/api/images/{world.slide}/annotations.geojson"), 404)


def test_with_a_share_the_reviewer_reads_and_marks_but_changes_only_their_own(world: World) -> None:
    mine = draw(world.a, world.slide, feature(square(950, 100, 30)))
    share = share_with_b(world)
    try:
        assert mine["id"] in {f["id"] for f in listed(world.b, world.slide)}
        theirs = draw(world.b, world.slide, feature(square(1000, 100, 30), classification="Tumör"))
        assert theirs["feature"]["properties"]["org"] == B_ORG
        is_error(
            world.b.patch(f"/api/annotations/{mine['id']}", json={}, headers={"If-Match": "1"}),
            403,
        )
        is_error(world.a.delete(f"/api/annotations/{theirs['id']}", headers={"If-Match": "1"}), 403)
        is_error(world.a2.delete(f"/api/annotations/{mine['id']}", headers={"If-Match": "1"}), 403)
        ok = world.b.patch(
            f"/api/annotations/{theirs['id']}",
            json={"properties": {"label": "B:s"}},
            headers={"If-Match": "1"},
        )
        assert ok.status_code == 200
    finally:
        unshare(world, share)
    # the share revoked: at once nothing, also of their own marks
    is_error(world.b.get(f"/api/images/{world.slide}/annotations"), 404)
    is_error(
        world.b.patch(f"/api/annotations/{theirs['id']}", json={}, headers={"If-Match": "2"}), 404
    )


def test_a_draft_is_seen_by_its_author_alone_until_published(world: World) -> None:
    draft = draw(world.a, world.slide, feature(square(1100, 100, 30), layer="draft"))
    assert draft["id"] in {f["id"] for f in listed(world.a, world.slide)}
    assert draft["id"] not in {f["id"] for f in listed(world.a2, world.slide)}
    is_error(world.a2.get(f"/api/annotations/{draft['id']}"), 404)
    published = world.a.patch(
        f"/api/annotations/{draft['id']}",
        json={"properties": {"layer": "shared"}},
        headers={"If-Match": "1"},
    )
    assert published.status_code == 200 and published.get_json()["properties"]["layer"] == "shared"
    assert draft["id"] in {f["id"] for f in listed(world.a2, world.slide)}
    version = published.get_json()["properties"]["version"]
    back = world.a.patch(
        f"/api/annotations/{draft['id']}",
        json={"properties": {"layer": "draft"}},
        headers={"If-Match": str(version)},
    )
    is_error(back, 400)


def test_administrators_and_students_never_write_on_a_care_case(world: World) -> None:
    body = feature(square(5, 5, 10))
    is_error(world.admin.post(f"/api/images/{world.slide}/annotations", json=body), 403)
    is_error(world.student.post(f"/api/images/{world.slide}/annotations", json=body), 404)
    is_error(world.student.get(f"/api/images/{world.slide}/annotations"), 404)


# --- classes --------------------------------------------------------------------------------


def test_classes_default_and_are_managed_by_administrators(world: World) -> None:
    classes = world.a.get("/api/classes").get_json()
    names = [c["name"] for c in classes]
    assert {"Tumör", "Stroma", "Nekros", "Mitos", "Lesion", "Lymfkörtel"} <= set(names)
    assert next(c for c in classes if c["name"] == "Tumör")["code"] == "108369006"
    is_error(world.a.post("/api/classes", json={"name": "Granulom", "color": "#112233"}), 403)
    added = world.admin.post(
        "/api/classes", json={"name": "Granulom", "color": "#112233", "code": "45647009"}
    )
    assert added.status_code == 201, added.get_json()
    assert "Granulom" in [c["name"] for c in world.a.get("/api/classes").get_json()]
    draw(world.a, world.slide, feature(square(1200, 100, 20), classification="Granulom"))
    for bad in (
        {"name": "X", "color": "red"},
        {"name": "", "color": "#112233"},
        {"name": "\ud800", "color": "#112233"},
        {"name": "Y", "color": "#112233", "code": "abc"},
        {"name": ["Z"], "color": "#112233"},
    ):
        is_error(world.admin.post("/api/classes", json=bad), 400)
    assert world.admin.delete("/api/classes/Granulom").status_code == 200
    assert "Granulom" not in [c["name"] for c in world.a.get("/api/classes").get_json()]
    is_error(world.admin.delete("/api/classes/Granulom"), 404)
    is_error(
        world.a.post(
            f"/api/images/{world.slide}/annotations",
            json=feature(square(1, 1, 5), classification="Granulom"),
        ),
        400,
        "unknown_class",
    )
    is_error(world.a.get(f"/api/classes?org={B_ORG}"), 404)
    assert world.b.get("/api/classes").status_code == 200  # B's own list, its own defaults


def test_an_unknown_class_is_refused_on_the_rest_routes(world: World) -> None:
    body = feature(square(3, 3, 5), classification={"name": "Hittepå", "color": [1, 2, 3]})
    is_error(
        world.a.post(f"/api/images/{world.slide}/annotations", json=body), 400, "unknown_class"
    )


# --- QuPath export and import ---------------------------------------------------------------


def test_export_and_import_round_trip_keeps_counts_classes_holes_and_areas(world: World) -> None:
    exported = world.a.get(f"/api/images/{world.slide}/annotations.geojson")
    assert exported.status_code == 200 and exported.mimetype == "application/geo+json"
    assert "attachment" in exported.headers["Content-Disposition"]
    document = exported.get_json()
    assert document["type"] == "FeatureCollection" and document["features"]
    for item in document["features"]:
        assert item["properties"]["objectType"] in ("annotation", "detection")
        assert item["geometry"]["type"] != "Ellipse"
    before = listed(world.a, world.slide)
    imported = world.a.post(f"/api/images/{world.slide}/annotations/import", json=document)
    assert imported.status_code == 201, imported.get_json()
    report = imported.get_json()
    assert report["imported"] == len(document["features"]) and report["refused"] == 0
    after = listed(world.a, world.slide)
    assert len(after) == len(before) + len(document["features"])
    new = {f["id"]: f for f in after}
    for entry in report["features"]:
        copy = new[entry["id"]]["properties"]
        original = document["features"][entry["index"]]
        name = (original["properties"].get("classification") or {}).get("name")
        assert (copy["classification"] or {}).get("name") == name
        area = next(
            (
                f["properties"]["measurements"].get("area_um2")
                for f in before
                if f["id"] == original["id"]
            ),
            None,
        )
        if area:
            assert copy["measurements"]["area_um2"] == pytest.approx(area, rel=1e-3)
    holes = [
        f
        for f in after
        if f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"]) > 1
    ]
    assert len(holes) >= 2  # the original and its copy


def test_import_reports_each_feature_and_keeps_unknown_classes(world: World) -> None:
    document = [
        {
            "type": "Feature",
            "geometry": square(10, 1000, 20),
            "properties": {
                "objectType": "detection",
                "classification": {"name": "Lymfocyt", "color": [0, 0, 255]},
            },
        },
        {"type": "Feature", "geometry": square(5000, 5000, 20), "properties": {}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        "not a feature",
        {"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}},
    ]
    response = world.a.post(f"/api/images/{world.slide}/annotations/import", json=document)
    assert response.status_code == 201
    report = response.get_json()
    assert report["imported"] == 1 and report["refused"] == 4
    assert [entry["index"] for entry in report["features"]] == [0, 1, 2, 3, 4]
    assert all("refused" in entry and entry["refused"] for entry in report["features"][1:])
    assert "outside" in report["features"][1]["refused"]
    kept = world.a.get(f"/api/annotations/{report['features'][0]['id']}").get_json()
    assert kept["properties"]["classification"] == {"name": "Lymfocyt", "color": "#0000ff"}
    assert kept["properties"]["objectType"] == "detection"
    nothing = world.a.post(f"/api/images/{world.slide}/annotations/import", json={"type": "Nope"})
    assert nothing.status_code == 200 and nothing.get_json()["imported"] == 0


def scanned_slide(world: World) -> str:
    """A slide record as large as the scans the QuPath files were drawn on (200,000 px
    square at 0.25 µm/px; its tiles are never asked for), in the test case."""
    with database(world.app).session() as session:
        first = session.get(Image, world.slide)
        assert first is not None
        image = Image(
            name="scan.svs",
            kind="slide",
            format="svs",
            vendor="aperio",
            reader="tifffile",
            files=[],
            source_key=new_id(),
            width=200_000,
            height=200_000,
            levels=[],
            tile_width=256,
            tile_height=256,
            mpp_x=0.25,
            mpp_y=0.25,
            associated=[],
            size_bytes=0,
            org_id=first.org_id,
            case_id=first.case_id,
        )
        session.add(image)
        session.flush()
        return image.id


def test_every_real_qupath_export_imports_whole(world: World, sample_data: Path) -> None:
    """Every feature of every real QuPath file is taken, with its class and its holes."""
    import json

    from annotations.formats import geojson

    files = sorted((sample_data / "annotations" / "qupath").rglob("*json"))
    assert len(files) >= 16
    slide = scanned_slide(world)
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        read = geojson.read(document)
        response = world.a.post(f"/api/images/{slide}/annotations/import", json=document)
        assert response.status_code == 201, (path.name, response.get_json())
        report = response.get_json()
        assert (report["imported"], report["refused"]) == (len(read), 0), (path.name, report)
        named = {f.classification for f in read if isinstance(f, geojson.Feature)} - {None}
        stored = {
            (f["properties"]["classification"] or {}).get("name") for f in listed(world.a, slide)
        }
        assert named <= stored, path.name


# --- the access log -------------------------------------------------------------------------


def test_annotate_edit_delete_export_and_import_are_logged(world: World) -> None:
    made = draw(world.a, world.slide, feature(square(1300, 100, 20)))
    world.a.patch(
        f"/api/annotations/{made['id']}",
        json={"properties": {"label": "y"}},
        headers={"If-Match": "1"},
    )
    world.a.delete(f"/api/annotations/{made['id']}", headers={"If-Match": "2"})
    world.a.get(f"/api/images/{world.slide}/annotations.geojson")
    world.a.post(
        f"/api/images/{world.slide}/annotations/import", json=[feature(square(1400, 100, 9))]
    )
    world.admin.post(f"/api/images/{world.slide}/annotations", json=feature(square(1, 1, 9)))
    listed(world.a, world.slide)
    for action in ("annotate", "edit", "delete", "export", "import", "view_annotations"):
        found = [e for e in entries(world.app, action) if e.outcome == "allowed"]
        assert found, action
        assert all(e.basis and e.patient_id for e in found), action
    annotated = [
        e
        for e in entries(world.app, "annotate")
        if (e.detail or {}).get("annotation") == made["id"]
    ]
    assert len(annotated) == 1 and annotated[0].resource == f"image:{world.slide}"
    denied = [e for e in entries(world.app, "annotate") if e.outcome == "denied"]
    assert any(e.username == "a.admin" for e in denied)  # the administrator's refused mark


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        "polygon",
        {"type": "Feature"},
        {"type": "Feature", "geometry": None},
        {"type": "Feature", "geometry": {"type": "Polygon"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "0,0"}},
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
        },
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float("nan"), 1]}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e300, 1]}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-5, 1]}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"kind": "hexagon"}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"kind": "line"}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"label": "\ud800"}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"label": 5}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"label": "x" * 5000}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"layer": "everyone"}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"isLocked": "yes"}},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": []},
        {"type": "Feature", "geometry": square(0, 0, 10), "properties": {"classification": 7}},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [1, 1]},
            "properties": {"kind": "text"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]},
            "properties": {"kind": "ellipse", "shape": {"center": [10, 10], "radii": [-1, 5]}},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]},
            "properties": {"kind": "ellipse", "shape": {"center": [10, 10], "radii": [500, 5]}},
        },
    ],
)
def test_hostile_features_get_a_clear_error_and_nothing_is_stored(world: World, body: Any) -> None:
    before = len(listed(world.a2, world.slide))
    response = world.a2.post(f"/api/images/{world.slide}/annotations", json=body)
    is_error(response, 400)
    assert len(listed(world.a2, world.slide)) == before


def test_a_self_crossing_ring_is_repaired_into_its_area(world: World) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]]}
    made = draw(world.a2, world.slide, feature(bowtie))
    assert made["feature"]["geometry"]["type"] == "MultiPolygon"
    assert made["feature"]["properties"]["measurements"]["area_um2"] == pytest.approx(5000 / 16)


def test_huge_geometries_are_refused(world: World) -> None:
    before = len(listed(world.a2, world.slide))
    ring = [[float(i % 2000), float((i * 7) % 1500)] for i in range(200_000)]
    ring.append(ring[0])
    response = world.a2.post(
        f"/api/images/{world.slide}/annotations",
        json=feature({"type": "Polygon", "coordinates": [ring]}),
    )
    assert response.status_code in (400, 413)
    assert {"error", "message"} <= set(response.get_json())
    # nothing of it stored, and the server goes on answering
    assert len(listed(world.a2, world.slide)) == before


def test_ids_of_another_organisation_and_unknown_ids_are_404(world: World) -> None:
    for url in (
        "/api/images/ffffffffffffffff/annotations",
        "/api/images/" + "x" * 40 + "/annotations",
        "/api/annotations/ffffffffffffffff",
        "/api/annotations/" + "y" * 300,
    ):
        is_error(world.a.get(url), 404)
    is_error(
        world.a.patch("/api/annotations/ffffffffffffffff", json={}, headers={"If-Match": "1"}), 404
    )


# --- a real CT, and two writers at once on both databases ------------------------------------


def test_a_roi_on_a_real_ct_gets_the_hu_pydicom_computes(world: World, sample_data: Path) -> None:
    """The mean HU inside a polygon on frame 0 of a real Siemens CT, against pydicom's own
    decoding of the file that frame comes from."""
    import shapely

    folder = sample_data / "dicom" / "series" / "ct-siemens-tilted-4slices"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    lines = [
        line
        for line, _ok in import_paths(
            world.app, [str(folder)], (TEST_ORG, TEST_PATIENT, TEST_CASE), accept_mismatch=True
        )
    ]
    image = lines[0].split()[1]
    series = services(world.app).series.get(image)
    frame = series.frames[0]
    dataset = pydicom.dcmread(series.files[frame.file].path)
    hu = apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64)
    rows, columns = hu.shape
    ring = [
        [columns * 0.3, rows * 0.3],
        [columns * 0.7, rows * 0.35],
        [columns * 0.6, rows * 0.7],
        [columns * 0.3, rows * 0.3],
    ]
    made = draw(world.a, image, feature({"type": "Polygon", "coordinates": [ring]}, frame=0))
    numbers = made["feature"]["properties"]["measurements"]
    ys, xs = np.mgrid[0:rows, 0:columns]
    inside = shapely.contains_xy(shapely.Polygon(ring), xs + 0.5, ys + 0.5)
    assert numbers["mean"] == pytest.approx(hu[inside].mean(), rel=1e-5, abs=1e-3)
    assert numbers["std"] == pytest.approx(hu[inside].std(), rel=1e-4, abs=1e-3)
    assert (numbers["min"], numbers["max"]) == (hu[inside].min(), hu[inside].max())
    assert numbers["pixels"] == inside.sum() and numbers["unit"] == "HU"
    row_mm, column_mm = (float(v) for v in dataset.PixelSpacing)
    expected_area = shapely.Polygon(ring).area * row_mm * column_mm
    assert numbers["area_mm2"] == pytest.approx(expected_area, rel=1e-5)


def test_two_writers_at_once_one_wins_one_gets_409(db_app: Flask, synthetic_slide: Path) -> None:
    """Two pathologists change the same annotation at the same moment, on SQLite and on
    PostgreSQL: one change is stored, the other answers 409 with it."""
    import threading

    slide = import_one(db_app, synthetic_slide)
    owner = login(db_app.test_client())
    made = draw(owner, slide, feature(square(10, 10, 100)))
    # the same author in two windows: both send version 1
    first, second = login(db_app.test_client()), login(db_app.test_client())
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def change(client: FlaskClient, label: str) -> None:
        barrier.wait()
        response = client.patch(
            f"/api/annotations/{made['id']}",
            json={"properties": {"label": label}},
            headers={"If-Match": "1"},
        )
        answers.append(response.status_code)

    threads = [
        threading.Thread(target=change, args=(client, label))
        for client, label in ((first, "ett"), (second, "två"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]
    final = owner.get(f"/api/annotations/{made['id']}").get_json()
    assert final["properties"]["version"] == 2 and final["properties"]["label"] in ("ett", "två")
