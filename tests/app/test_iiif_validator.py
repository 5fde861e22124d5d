"""The IIIF community's own validator (PyPI `iiif-validator`) against a real `samsyn serve`.

TESTING.md: generate the standard 1000 x 1000 test image (10 x 10 squares of 100 px, the
square at column x, row y coloured `ValidationInfo().colorInfo[x][y]`) as a tiled TIFF,
import it, start the server, and run every validator test for version 3.0 up to
compliance level 2. One pytest test per validator test; it passes when the validator
reports no exception.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import random
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stdout

import numpy as np
import pytest
import tifffile

from tests.conftest import REPO, TEST_PASSWORD, TEST_USER, free_port, import_one, make_app, wait_for

LEVEL = 2
VERSION = "3.0"


def _validator():
    """The validator modules, or a skip naming what is missing (it needs Debian's libmagic1)."""
    try:
        import magic  # noqa: F401  (python-magic loads libmagic at import)
    except ImportError as error:  # pragma: no cover - depends on the machine
        pytest.skip(f"iiif-validator needs libmagic (Debian package libmagic1): {error}")
    try:
        with redirect_stdout(io.StringIO()):
            from iiif_validator import validator
    except ImportError as error:  # pragma: no cover
        pytest.skip(f"iiif-validator is not installed: {error}")
    return validator


def _test_names() -> list[str]:
    try:
        validator = _validator()
    except pytest.skip.Exception:
        return ["validator-unavailable"]
    tests = validator.TestSuite(validator.ValidationInfo()).list_tests(VERSION)
    return sorted(name for name, data in tests.items() if data["level"] <= LEVEL)


def squares_image() -> np.ndarray:
    """The validator's test image: column x, row y of 100 px squares in colorInfo[x][y]."""
    validator = _validator()
    colours = validator.ValidationInfo().colorInfo
    pixels = np.empty((1000, 1000, 3), dtype=np.uint8)
    for x in range(10):
        for y in range(10):
            pixels[y * 100 : (y + 1) * 100, x * 100 : (x + 1) * 100] = colours[x][y]
    return pixels


def log_in(base: str) -> urllib.request.OpenerDirector:
    """An opener holding the session cookie of the test pathologist (the validator fetches
    with plain `urllib.request.urlopen`, so this opener is installed globally)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    body = json.dumps({"username": TEST_USER, "password": TEST_PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/session",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 200
    return opener


@pytest.fixture(scope="module")
def iiif_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(host:port, identifier) of a `samsyn serve` process holding the squares image, with
    a logged-in session installed as urllib's default opener."""
    _validator()
    folder = tmp_path_factory.mktemp("iiif-validator")
    image = folder / "squares.tif"
    tifffile.imwrite(image, squares_image(), tile=(256, 256), compression="zlib", photometric="rgb")
    data_dir = folder / "data"
    identifier = import_one(make_app(data_dir), image)
    port = free_port()
    env = {**os.environ, "SAMSYN_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--threads", "8"]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}/iiif/3/{identifier}/info.json")
        urllib.request.install_opener(log_in(f"http://127.0.0.1:{port}"))
        yield f"127.0.0.1:{port}", identifier
    finally:
        urllib.request.install_opener(None)  # type: ignore[arg-type]
        process.terminate()
        process.wait(timeout=20)


def test_the_test_image_is_the_validators() -> None:
    """The generated picture really is what the validator expects (guards the fixture)."""
    validator = _validator()
    pixels = squares_image()
    colours = validator.ValidationInfo().colorInfo
    assert tuple(pixels[250, 730]) == colours[7][2]
    assert tuple(pixels[999, 0]) == colours[0][9]
    assert len({tuple(c) for row in colours for c in row}) == 100


@pytest.mark.parametrize("name", _test_names())
def test_iiif_validator(name: str, iiif_server: tuple[str, str]) -> None:
    validator = _validator()
    server, identifier = iiif_server
    random.seed(f"samsyn-{name}")  # the validator draws random squares, sizes and strings
    suite = validator.TestSuite(validator.ValidationInfo())
    result = validator.ImageAPI(identifier, server, prefix="iiif/3", version=VERSION, debug=False)
    try:
        suite.run_test(name, result)
    except Exception as error:  # the validator only catches its own ValidatorError
        pytest.fail(
            f"validator test {name} crashed: {type(error).__name__}: {error}; urls {result.urls}"
        )
    assert result.exception is None, (
        f"validator test {name} failed: {result.exception} "
        f"(url {getattr(result.exception, 'url', None)}, "
        f"status {getattr(result.exception, 'status', None)})"
    )
