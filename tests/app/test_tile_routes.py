"""The tile routes of CONTRACT.md section 2 through Flask's test client: Deep Zoom, IIIF,
the image list and description, associated images, caching headers and errors."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import tifffile
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.directory import add_org, add_unit, add_user
from tests.conftest import TEST_PASSWORD, database, import_one, login, make_app
from tiles import open_source
from tiles.synthetic import tissue

MAX_AGE = re.compile(r"^private, max-age=(\d+)$")

# Making an application (migrations, users with hashed passwords) takes seconds, so the
# read-only tests below share one per module, built exactly like conftest's `app`, `client`.


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path
) -> tuple[Flask, FlaskClient, str]:
    application = make_app(tmp_path_factory.mktemp("routes"))
    image_id = import_one(application, synthetic_slide)
    return application, login(application.test_client()), image_id


@pytest.fixture()
def app(shared: tuple[Flask, FlaskClient, str]) -> Flask:  # noqa: F811 - module-wide
    return shared[0]


@pytest.fixture()
def client(shared: tuple[Flask, FlaskClient, str]) -> FlaskClient:  # noqa: F811 - module-wide
    return shared[1]


@pytest.fixture()
def slide(shared: tuple[Flask, FlaskClient, str]) -> str:
    """The 2048 x 1536 synthetic slide (256 px JPEG tiles, levels 1x and 4x, 0.25 um/px)."""
    return shared[2]


@pytest.fixture(scope="module")
def stranger(shared: tuple[Flask, FlaskClient, str]) -> FlaskClient:
    """A pathologist of another region, logged in."""
    application = shared[0]
    with application.app_context(), database(application).session() as session:
        add_org(session, "Annanregion", "SE0000000099", "region")
        add_unit(session, "Annanpatologi", "Annanregion", "SE0000000099-P1")
        add_user(session, "stranger", "Annanregion", "pathologist", TEST_PASSWORD, "Annanpatologi")
    return login(application.test_client(), "stranger", TEST_PASSWORD)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def assert_json_error(response, status: int, *secrets: str) -> dict:
    assert response.status_code == status, (
        response.status_code,
        response.content_type,
        response.data[:120],
    )
    assert response.is_json, response.content_type
    body = response.get_json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["message"], str)
    text = response.get_data(as_text=True)
    for forbidden in ("Traceback", 'File "', "/tmp/", ".py", *secrets):
        assert forbidden not in text, (forbidden, text)
    return body


# --- Deep Zoom ------------------------------------------------------------------------------


def test_dzi_descriptor_with_the_conftest_fixtures(tmp_path: Path, synthetic_slide: Path) -> None:
    """Once with a fresh application, as conftest's `app` and `client` make it."""
    application = make_app(tmp_path)
    slide = import_one(application, synthetic_slide)
    client = login(application.test_client())
    response = client.get(f"/dzi/{slide}.dzi")
    assert response.status_code == 200
    assert "xml" in response.content_type
    root = ET.fromstring(response.data)
    assert root.tag == "{http://schemas.microsoft.com/deepzoom/2008}Image"
    assert (
        root.get("TileSize") == "256"
        and root.get("Overlap") == "0"
        and root.get("Format") == "jpeg"
    )
    size = root.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert size is not None and (size.get("Width"), size.get("Height")) == ("2048", "1536")


def test_dzi_tile_with_caching_headers(
    client: FlaskClient, slide: str, synthetic_slide: Path
) -> None:
    response = client.get(f"/dzi/{slide}_files/11/3_2.jpeg")  # a stored 1x tile
    assert response.status_code == 200
    assert response.content_type == "image/jpeg"
    etag = response.headers["ETag"]
    assert re.fullmatch(r'"[^"\s]+"', etag), etag  # a strong entity tag
    match = MAX_AGE.match(response.headers["Cache-Control"])
    assert match and int(match.group(1)) > 0, response.headers["Cache-Control"]
    assert decode(response.data).shape == (256, 256, 3)
    assert response.data == open_source([str(synthetic_slide)]).stored_tile(
        0, 3, 2
    )  # passed through
    again = client.get(f"/dzi/{slide}_files/11/3_2.jpeg")
    assert again.headers["ETag"] == etag and again.data == response.data
    other = client.get(f"/dzi/{slide}_files/11/3_1.jpeg")
    assert other.status_code == 200 and other.headers["ETag"] != etag
    rendered = client.get(f"/dzi/{slide}_files/10/1_1.png")  # 2x: not stored, rendered
    assert rendered.status_code == 200 and rendered.content_type == "image/png"
    assert decode(rendered.data).shape == (256, 256, 3)
    assert MAX_AGE.match(rendered.headers["Cache-Control"]) and rendered.headers["ETag"]
    edge = client.get(
        f"/dzi/{slide}_files/9/1_1.jpeg"
    )  # 512 x 384 at 4x: the edge tiles are smaller
    assert decode(edge.data).shape == (128, 256, 3)


def test_if_none_match_gives_304(client: FlaskClient, slide: str) -> None:
    for url in (
        f"/dzi/{slide}_files/11/0_0.jpeg",
        f"/dzi/{slide}_files/8/0_0.jpeg",
        f"/iiif/3/{slide}/full/300,/0/default.jpg",
    ):
        first = client.get(url)
        assert first.status_code == 200
        etag = first.headers["ETag"]
        cached = client.get(url, headers={"If-None-Match": etag})
        assert cached.status_code == 304, url
        assert cached.data == b"" and cached.headers["ETag"] == etag
        assert MAX_AGE.match(cached.headers["Cache-Control"])
        listed = client.get(url, headers={"If-None-Match": f'"somethingelse", {etag}'})
        assert listed.status_code == 304
        stale = client.get(url, headers={"If-None-Match": '"somethingelse"'})
        assert stale.status_code == 200 and stale.data == first.data


@pytest.mark.parametrize(
    "path",
    [
        "12/0_0.jpeg",  # level 11 is the last (2048 px)
        "99/0_0.jpeg",
        "11/8_0.jpeg",  # 8 columns: 0-7
        "11/0_6.jpeg",  # 6 rows: 0-5
        "0/1_0.jpeg",  # level 0 is 1 x 1
        "11/100000000_0.jpeg",
        "-1/0_0.jpeg",
        "11/0_0.gif",
        "11/0_0.jpegx",
        "11/0_0",
        "11/a_b.jpeg",
    ],
)
def test_dzi_tile_off_the_grid_is_404_json(client: FlaskClient, slide: str, path: str) -> None:
    assert_json_error(client.get(f"/dzi/{slide}_files/{path}"), 404)


# --- unknown and hostile ids ----------------------------------------------------------------

HOSTILE_IDS = [
    "0123456789abcdef",
    "does-not-exist",
    "..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "..",
    "%00",
    "x" * 3000,
    "' OR '1'='1",
    "%C3%A5%C3%A4%C3%B6",
]
ID_URLS = [
    "/dzi/{id}.dzi",
    "/dzi/{id}_files/0/0_0.jpeg",
    "/iiif/3/{id}/info.json",
    "/iiif/3/{id}/full/max/0/default.jpg",
    "/iiif/3/{id}/0,0,256,256/256,/0/default.jpg",
    "/api/images/{id}",
    "/api/images/{id}/associated/thumbnail.jpg",
]


@pytest.mark.parametrize("url", ID_URLS)
def test_unknown_and_hostile_ids_are_404_json(client: FlaskClient, slide: str, url: str) -> None:
    for hostile in HOSTILE_IDS:
        response = client.get(url.format(id=hostile))
        assert_json_error(response, 404, "root:", "passwd:")
    response = client.get(url.replace("{id}", "../../etc/passwd"))
    assert_json_error(response, 404, "root:")


def test_a_real_id_with_traversal_appended_is_404(client: FlaskClient, slide: str) -> None:
    for url in (f"/dzi/{slide}%2F..%2F..%2Fsamsyn.db.dzi", f"/iiif/3/{slide}%2F..%2Fx/info.json"):
        assert_json_error(client.get(url), 404)


# --- IIIF -----------------------------------------------------------------------------------


def test_iiif_info_json(app: Flask, client: FlaskClient, slide: str) -> None:
    response = client.get(f"/iiif/3/{slide}/info.json")
    assert response.status_code == 200 and response.is_json
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    info = response.get_json()
    assert info["id"] == f"{app.config['PUBLIC_URL']}/iiif/3/{slide}"
    assert info["type"] == "ImageService3" and info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"] in ("level1", "level2")
    assert (info["width"], info["height"]) == (2048, 1536)
    assert info["tiles"] == [
        {"width": 256, "height": 256, "scaleFactors": [1, 4]}
    ]  # stored levels only
    assert {"width": 512, "height": 384} in info["sizes"]
    assert info["maxWidth"] > 0 and info["maxArea"] > 0
    ld = client.get(f"/iiif/3/{slide}/info.json", headers={"Accept": "application/ld+json"})
    assert ld.headers["Content-Type"].startswith("application/ld+json")
    base = client.get(f"/iiif/3/{slide}")
    assert base.status_code == 303 and base.headers["Location"].endswith(
        f"/iiif/3/{slide}/info.json"
    )


def test_iiif_images(client: FlaskClient, slide: str, synthetic_slide: Path) -> None:
    full = client.get(f"/iiif/3/{slide}/full/max/0/default.png")
    assert full.status_code == 200 and full.content_type == "image/png"
    assert full.headers.get("Access-Control-Allow-Origin") == "*"
    assert full.headers["ETag"] and MAX_AGE.match(full.headers["Cache-Control"])
    whole = decode(full.data)
    assert whole.shape == (1536, 2048, 3)
    with tifffile.TiffFile(synthetic_slide) as tiff:
        reference = tiff.series[0].asarray()
    assert np.abs(whole.astype(int) - reference).mean() <= 3
    region = decode(client.get(f"/iiif/3/{slide}/100,200,300,150/max/90/default.png").data)
    assert region.shape == (300, 150, 3)
    assert np.abs(region.astype(int) - np.rot90(reference[200:350, 100:400], k=-1)).mean() <= 3
    grey = Image.open(io.BytesIO(client.get(f"/iiif/3/{slide}/square/!200,200/0/gray.jpg").data))
    assert grey.mode == "L" and grey.size == (200, 200)
    tile = client.get(f"/iiif/3/{slide}/768,512,256,256/256,/0/default.jpg")
    assert tile.data == open_source([str(synthetic_slide)]).stored_tile(0, 3, 2)  # passed through
    scaled = client.get(f"/iiif/3/{slide}/1024,1024,1024,512/256,/0/default.jpg")  # 4x edge tile
    assert decode(scaled.data).shape == (128, 256, 3)
    webp = client.get(f"/iiif/3/{slide}/0,0,512,512/256,/0/default.webp")
    assert webp.status_code == 200 and webp.content_type == "image/webp"


@pytest.mark.parametrize(
    "request_path",
    [
        "full/^9000,/0/default.jpg",  # beyond maxWidth
        "full/^,9000/0/default.jpg",  # beyond maxHeight
        "full/^5000,5000/0/default.jpg",  # beyond maxArea
        "full/^pct:1000/0/default.jpg",
        "full/3000,/0/default.jpg",  # upscaling without ^
        "full/0,/0/default.jpg",
        "0,0,0,10/max/0/default.jpg",
        "5000,5000,10,10/max/0/default.jpg",  # outside the image
        "nonsense/max/0/default.jpg",
        "full/nonsense/0/default.jpg",
        "full/max/45/default.jpg",
        "full/max/-90/default.jpg",
        "full/max/0/grey.jpg",
        "full/max/0/native.jpg",
        "full/max/0/default.gif",
        "full/max/0/default.tif",
    ],
)
def test_iiif_bad_requests_are_400_json(client: FlaskClient, slide: str, request_path: str) -> None:
    assert_json_error(client.get(f"/iiif/3/{slide}/{request_path}"), 400)


# --- image list and description -------------------------------------------------------------


def test_image_list_and_description(client: FlaskClient, slide: str) -> None:
    listing = client.get("/api/images")
    assert listing.status_code == 200
    images = listing.get_json()
    assert isinstance(images, list)
    (entry,) = [image for image in images if image["id"] == slide]
    for field in ("id", "name", "kind", "width", "height"):
        assert field in entry
    assert (entry["kind"], entry["width"], entry["height"], entry["name"]) == (
        "slide",
        2048,
        1536,
        "synthetic.tif",
    )
    response = client.get(f"/api/images/{slide}")
    assert response.status_code == 200
    image = response.get_json()
    assert image["id"] == slide and image["kind"] == "slide"
    assert (image["width"], image["height"]) == (2048, 1536)
    assert image["levels"] == [
        {"width": 2048, "height": 1536, "downsample": 1.0},
        {"width": 512, "height": 384, "downsample": 4.0},
    ]
    assert image["tile_size"] == [256, 256]
    assert image["mpp"] == pytest.approx([0.25, 0.25])
    assert image["pixel_spacing_mm"] is None
    assert isinstance(image["vendor"], str) and image["vendor"]
    assert image["frames"] == 1
    assert image["associated"] == ["thumbnail"]
    for path_like in ("files", "path", "source_key"):
        assert path_like not in image
    assert "/tmp/" not in response.get_data(as_text=True) and "/tmp/" not in listing.get_data(
        as_text=True
    )


def test_photograph_is_listed_without_mpp(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    path = tmp_path / "specimen.png"
    Image.fromarray(tissue(700, 500, seed=2)).save(path)
    image_id = import_one(app, path)
    image = client.get(f"/api/images/{image_id}").get_json()
    assert image["mpp"] is None and (image["width"], image["height"]) == (700, 500)
    assert [level["width"] for level in image["levels"]] == [700, 350, 175]  # halved to <= 256 px
    tile = client.get(f"/dzi/{image_id}_files/10/2_1.png")
    assert tile.status_code == 200 and decode(tile.data).shape == (500 - 256, 700 - 512, 3)


# --- associated images ----------------------------------------------------------------------


def test_associated_images(client: FlaskClient, slide: str) -> None:
    for fmt, media in (("jpg", "image/jpeg"), ("png", "image/png")):
        response = client.get(f"/api/images/{slide}/associated/thumbnail.{fmt}")
        assert response.status_code == 200 and response.content_type == media
        picture = decode(response.data)
        assert max(picture.shape[:2]) <= 2048 and picture.shape[1] / picture.shape[
            0
        ] == pytest.approx(4 / 3, rel=0.02)
        assert response.headers["ETag"] and MAX_AGE.match(response.headers["Cache-Control"])
    for name in ("label", "macro"):
        assert_json_error(client.get(f"/api/images/{slide}/associated/{name}.jpg"), 404)
    assert_json_error(client.get(f"/api/images/{slide}/associated/secret.jpg"), 404)
    assert_json_error(client.get(f"/api/images/{slide}/associated/thumbnail.gif"), 404)


def test_svs_label_and_macro(app: Flask, client: FlaskClient, sample_data: Path) -> None:
    path = sample_data / "wsi" / "aperio" / "CMU-1-Small-Region.svs"
    if not path.is_file():
        pytest.skip("the Aperio sample is not in the shared data")
    image_id = import_one(app, path)
    assert client.get(f"/api/images/{image_id}").get_json()["associated"] == [
        "thumbnail",
        "label",
        "macro",
    ]
    sizes = {"label": (387, 463), "macro": (1280, 431), "thumbnail": (574, 768)}
    for name, size in sizes.items():
        response = client.get(f"/api/images/{image_id}/associated/{name}.png")
        assert response.status_code == 200, name
        assert Image.open(io.BytesIO(response.data)).size == size


# --- who may fetch tiles --------------------------------------------------------------------

TILE_URLS = [
    "/dzi/{id}.dzi",
    "/dzi/{id}_files/11/0_0.jpeg",
    "/dzi/{id}_files/8/0_0.png",
    "/iiif/3/{id}/info.json",
    "/iiif/3/{id}/full/max/0/default.jpg",
    "/iiif/3/{id}/0,0,256,256/256,/0/default.jpg",
    "/iiif/3/{id}/full/!200,200/0/default.png",
    "/api/images/{id}",
    "/api/images/{id}/associated/thumbnail.jpg",
]


@pytest.mark.parametrize("url", TILE_URLS)
def test_tiles_need_a_login(app: Flask, slide: str, url: str) -> None:
    """CONTRACT.md: 401 when not logged in - for every picture of an image, IIIF included."""
    response = app.test_client().get(url.format(id=slide))
    assert_json_error(response, 401)


@pytest.mark.parametrize("url", TILE_URLS)
def test_tiles_of_another_organisation_are_404(stranger: FlaskClient, slide: str, url: str) -> None:
    """A pathologist of another region may not see (or learn of) this image."""
    assert_json_error(stranger.get(url.format(id=slide)), 404)
