"""Annotations at scale (PERFORMANCE.md section 4): 100,000 polygons on one slide.

Measures, on SQLite (the embedded default) and PostgreSQL (where it runs): reading and
checking 100,000 QuPath GeoJSON features, storing them, a viewport query (one 1920 x 1080
screen at full resolution, through the spatial index) p50/p99, and the export of all of
them as QuPath GeoJSON. Anchors: HistomicsUI takes ~20 s to show whole-slide nuclei;
targets: bbox query under 50 ms p99, import under 30 s.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import load_average, table

SLIDE_SIDE = 100_000
SCREEN = (1920, 1080)


@dataclass(frozen=True)
class Settings:
    features: int
    queries: int


FULL = Settings(100_000, 300)
QUICK = Settings(5_000, 50)


@dataclass(frozen=True)
class Figures:
    database: str
    import_s: float
    imported: int
    query_p50_ms: float
    query_p99_ms: float
    route_p50_ms: float
    route_p99_ms: float
    per_view: float
    export_s: float
    export_mb: float
    listing_s: float


CLASSES = (("Tumor", [200, 0, 0]), ("Stroma", [150, 200, 150]), ("Immune cells", [160, 90, 160]))


def qupath_document(count: int, side: int = SLIDE_SIDE, radius: float = 8) -> dict[str, Any]:
    """Nucleus-sized hexagonal QuPath detections of three classes spread over a square
    slide of `side` pixels."""
    generator = random.Random(11)
    half, high = radius / 2, radius * 0.87
    features = []
    for index in range(count):
        x = generator.uniform(radius + 2, side - radius - 2)
        y = generator.uniform(radius + 2, side - radius - 2)
        ring = [
            [x + radius, y],
            [x + half, y + high],
            [x - half, y + high],
            [x - radius, y],
            [x - half, y - high],
            [x + half, y - high],
        ]
        name, colour = CLASSES[index % len(CLASSES)]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {
                    "objectType": "detection",
                    "classification": {"name": name, "color": colour},
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def run(settings: Settings, workdir: Path) -> list[Figures]:
    from tests.conftest import POSTGRES_URL, postgres_available

    document = json.dumps(qupath_document(settings.features)).encode()
    urls = [("SQLite", f"sqlite:///{workdir / 'annotations.db'}")]
    if postgres_available():
        urls.append(("PostgreSQL", POSTGRES_URL))
    return [_one(name, url, document, settings, workdir) for name, url in urls]


def _one(name: str, url: str, document: bytes, settings: Settings, workdir: Path) -> Figures:
    """What a user gets, through samsyn's routes: the import of a QuPath file, viewport
    queries (and the store's own query time beside them), the whole listing the browser
    loads, and the QuPath export."""
    from app.services import services
    from tests.conftest import login

    application, ids, url = _world(name, url, workdir)
    client = login(application.test_client())
    base = f"/api/images/{ids['image']}/annotations"
    started = time.perf_counter()
    answer = client.post(f"{base}/import", data=document, content_type="application/json")
    import_s = time.perf_counter() - started
    assert answer.status_code == 201, answer.get_json()
    imported = int(answer.get_json()["imported"])
    timings, found = _queries(services(application).db, ids, settings.queries)
    routes = _route_queries(client, base, settings.queries)
    started = time.perf_counter()
    listing = client.get(base)
    listing_s = time.perf_counter() - started
    assert listing.status_code == 200
    started = time.perf_counter()
    exported = client.get(f"{base}.geojson")
    export_s = time.perf_counter() - started
    assert exported.status_code == 200
    services(application).close()
    _drop(url)
    timings.sort()
    return Figures(
        name,
        import_s,
        imported,
        statistics.median(timings) * 1000,
        timings[int(len(timings) * 0.99) - 1] * 1000,
        statistics.median(routes) * 1000,
        routes[int(len(routes) * 0.99) - 1] * 1000,
        statistics.mean(found),
        export_s,
        len(exported.data) / 1e6,
        listing_s,
    )


def _route_queries(client: Any, base: str, count: int) -> list[float]:
    """GET ...?bbox= for random screens: policy, log folding, query and JSON included."""
    generator = random.Random(6)
    timings = []
    for _ in range(count):
        x0 = generator.uniform(0, SLIDE_SIDE - SCREEN[0])
        y0 = generator.uniform(0, SLIDE_SIDE - SCREEN[1])
        started = time.perf_counter()
        answer = client.get(f"{base}?bbox={x0},{y0},{x0 + SCREEN[0]},{y0 + SCREEN[1]}")
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200
    return sorted(timings)


def _queries(database: Any, ids: dict[str, str], count: int) -> tuple[list[float], list[int]]:
    from annotations import store

    generator = random.Random(5)
    timings, found = [], []
    for _ in range(count):
        x0 = generator.uniform(0, SLIDE_SIDE - SCREEN[0])
        y0 = generator.uniform(0, SLIDE_SIDE - SCREEN[1])
        with database.session() as session:
            started = time.perf_counter()
            rows = store.in_view(
                session, ids["image"], ids["user"], (x0, y0, x0 + SCREEN[0], y0 + SCREEN[1])
            )
            timings.append(time.perf_counter() - started)
            found.append(len(rows))
    return timings, found


def _world(name: str, url: str, workdir: Path) -> tuple[Any, dict[str, str], str]:
    """A migrated database with an organisation, a pathologist, a patient and one slide in
    a case (PostgreSQL: in a schema of its own, dropped afterwards)."""
    from sqlalchemy import create_engine, select, text

    from app.models import Image, User
    from tests.conftest import import_one, make_app
    from tiles.synthetic import tissue, write_pyramid

    if name == "PostgreSQL":
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS bench_annotations CASCADE"))
            connection.execute(text("CREATE SCHEMA bench_annotations"))
        engine.dispose()
        url = f"{url}?options=-csearch_path%3Dbench_annotations"
    folder = workdir / f"annotations-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    slide = folder / "slide.tif"
    write_pyramid(slide, tissue(1024, 1024, seed=3), tile=256, mpp=0.25, downsamples=(1, 4))
    application = make_app(folder, url)
    image = import_one(application, slide)
    from app.services import services

    with services(application).db.session() as session:
        row = session.get(Image, image)
        # The shapes lie on a 100,000 px square: the slide's record says so (its tiles are
        # never asked for here).
        row.width = row.height = SLIDE_SIDE
        user = session.scalar(select(User.id))
        ids = {"image": image, "case": str(row.case_id), "user": str(user), "org": str(row.org_id)}
    return application, ids, url


def _drop(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url.split("?")[0])
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS bench_annotations CASCADE"))
    engine.dispose()


def format_report(results: list[Figures]) -> str:
    rows = [
        [
            f.database,
            f"{f.imported:,}",
            f"{f.import_s:.1f}",
            f"{f.query_p50_ms:.1f}",
            f"{f.query_p99_ms:.1f}",
            f"{f.route_p50_ms:.1f}",
            f"{f.route_p99_ms:.1f}",
            f"{f.per_view:.0f}",
            f"{f.listing_s:.1f}",
            f"{f.export_s:.1f} ({f.export_mb:.0f} MB)",
        ]
        for f in results
    ]
    header = [
        "database",
        "imported",
        "import s",
        "store bbox p50 ms",
        "p99 ms",
        "route bbox p50 ms",
        "p99 ms",
        "shapes/view",
        "all as JSON s",
        "export s",
    ]
    verdicts = [
        f"target bbox query p99 < 50 ms ({f.database}): "
        f"{'met' if f.query_p99_ms < 50 else 'NOT met'} in the store, "
        f"{'met' if f.route_p99_ms < 50 else 'NOT met'} through the route"
        for f in results
    ] + [
        f"target import < 30 s ({f.database}, POST .../annotations/import): "
        f"{'met' if f.import_s < 30 else 'NOT met'} ({f.import_s:.1f} s); anchor: HistomicsUI "
        "~20 s to show whole-slide nuclei"
        for f in results
    ]
    return "\n".join(
        [
            "== Annotations at scale (PERFORMANCE.md section 4) ==",
            f"shapes  : QuPath detections (hexagonal nuclei) on a {SLIDE_SIDE:,} px square slide;"
            f" viewport {SCREEN[0]} x {SCREEN[1]} px at full resolution",
            f"load    : 1-min load average {load_average():.1f}",
            table(header, rows),
            *verdicts,
        ]
    )
