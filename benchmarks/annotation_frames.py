"""Panning and zooming a slide with 100,000 annotations in Chromium (PERFORMANCE.md section 4).

The default `samsyn serve` holds a synthetic slide whose case has 100,000 QuPath detections
imported through the import route. Debian's Chromium (headless, driven by Playwright)
opens the viewer as the case's pathologist; once every shape is loaded the page pans and
zooms the view on every animation frame for a few seconds and records the intervals
between frames (p50/p95). The same runs with the annotation layers switched off give the
viewer's own frame times beside them. Anchors: Annotorious slows at ~1,000 shapes,
HistomicsUI takes ~20 s to show whole-slide nuclei; target: p95 frame under 33 ms.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.annotation_store import qupath_document
from benchmarks.processes import HOST, BenchmarkError, free_port, running_server
from benchmarks.report import load_average, table
from benchmarks.samsyn_instance import (
    SESSION_COOKIE,
    environment,
    login_headers,
    prepare,
    serve_command,
)

TARGET_P95_MS = 33.0


@dataclass(frozen=True)
class Settings:
    side: int
    shapes: int
    seconds: float


FULL = Settings(8192, 100_000, 4.0)
QUICK = Settings(2048, 5_000, 1.5)


@dataclass(frozen=True)
class Run:
    motion: str
    shapes: str
    p50_ms: float
    p95_ms: float
    frames: int


def run(settings: Settings, workdir: Path) -> tuple[list[Run], dict[str, float]]:
    if shutil.which("chromium") is None:
        raise BenchmarkError("Debian's chromium is not installed (apt-get install chromium)")
    from tiles.synthetic import tissue, write_pyramid

    data_dir = workdir / "annotation-frames"
    data_dir.mkdir(parents=True, exist_ok=True)
    slide = data_dir / "slide.tif"
    write_pyramid(
        slide,
        tissue(settings.side, settings.side, seed=4),
        tile=256,
        mpp=0.25,
        downsamples=(1, 4, 16),
    )
    (image_id,) = prepare(data_dir, [slide])
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = serve_command(port, 1, 32)
    with running_server(command, environment(data_dir), data_dir / "serve.log", f"{base}/readyz"):
        headers = login_headers(base)
        started = time.perf_counter()
        report = _import(
            base, headers, image_id, qupath_document(settings.shapes, settings.side, radius=5)
        )
        imported_s = time.perf_counter() - started
        runs, shown_s = _browse(base, headers, image_id, settings)
    return runs, {"import_s": imported_s, "imported": float(report["imported"]), "shown_s": shown_s}


def _import(
    base: str, headers: dict[str, str], image_id: str, document: dict[str, Any]
) -> dict[str, Any]:
    me = urllib.request.Request(f"{base}/api/me", headers=headers)
    with urllib.request.urlopen(me, timeout=30) as reply:
        csrf = json.load(reply)["csrf_token"]
    request = urllib.request.Request(
        f"{base}/api/images/{image_id}/annotations/import",
        data=json.dumps(document).encode(),
        headers={**headers, "Content-Type": "application/json", "X-CSRF-Token": csrf},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as reply:
        return dict(json.load(reply))


MOTION = """async ([motion, seconds]) => {
  const viewport = samsyn.viewer.viewport;
  const intervals = [];
  let last = performance.now();
  const end = last + seconds * 1000;
  let step = 0;
  await new Promise((resolve) => {
    const tick = (now) => {
      intervals.push(now - last);
      last = now;
      step += 1;
      if (motion === "pan") {
        const angle = step / 30;
        const delta = new OpenSeadragon.Point(Math.cos(angle) * 0.004, Math.sin(angle) * 0.004);
        viewport.panBy(delta, true);
      } else {
        viewport.zoomBy(Math.floor(step / 60) % 2 ? 0.985 : 1.015, null, true);
      }
      if (now < end) requestAnimationFrame(tick);
      else resolve();
    };
    requestAnimationFrame(tick);
  });
  return intervals.slice(2);
}"""


HIDE_ALL = (
    "for (const l of samsyn.annotations.layer.layers())"
    " samsyn.annotations.layer.setShown(l.key, false)"
)
CLOSER = "samsyn.viewer.viewport.zoomTo(samsyn.viewer.viewport.getHomeZoom() * 2, null, true)"


def _browse(
    base: str, headers: dict[str, str], image_id: str, settings: Settings
) -> tuple[list[Run], float]:
    from playwright.sync_api import sync_playwright

    cookie = headers["Cookie"].split("=", 1)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        context = browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
        context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": base}])
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{base}/viewer/{image_id}")
        page.wait_for_function(
            f"window.samsyn && samsyn.annotations && samsyn.annotations.ready"
            f" && samsyn.annotations.layer.items.size >= {settings.shapes}",
            timeout=300_000,
            polling=250,
        )
        page.wait_for_timeout(300)
        shown_s = time.perf_counter() - started
        for motion in ("pan", "zoom"):  # once unmeasured: every tile on the path is cached
            _start(page, motion)
            page.evaluate(MOTION, [motion, settings.seconds])
        runs = []
        for shapes in ("with", "without"):
            if shapes == "without":
                page.evaluate(HIDE_ALL)
            for motion in ("pan", "zoom"):
                _start(page, motion)
                intervals = sorted(page.evaluate(MOTION, [motion, settings.seconds]))
                runs.append(
                    Run(
                        motion,
                        f"{settings.shapes:,}" if shapes == "with" else "hidden",
                        statistics.median(intervals),
                        intervals[int(len(intervals) * 0.95) - 1],
                        len(intervals),
                    )
                )
        browser.close()
    return runs, shown_s


def _start(page: Any, motion: str) -> None:
    """The view a motion starts from; a pan at twice the whole-slide zoom (about a quarter
    of the shapes in view), a zoom from the whole slide."""
    page.evaluate("samsyn.viewer.viewport.goHome(true)")
    if motion == "pan":
        page.evaluate(CLOSER)
    page.wait_for_timeout(400)


def format_report(result: tuple[list[Run], dict[str, float]], settings: Settings) -> str:
    runs, facts = result
    rows = [[r.motion, r.shapes, f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", str(r.frames)] for r in runs]
    with_shapes = [r for r in runs if r.shapes != "hidden"]
    verdicts = [
        f"target p95 frame < {TARGET_P95_MS:.0f} ms while {r.motion} with {r.shapes} shapes: "
        f"{'met' if r.p95_ms < TARGET_P95_MS else 'NOT met'} ({r.p95_ms:.1f} ms)"
        for r in with_shapes
    ]
    return "\n".join(
        [
            "== Annotations in the browser: frame times with many shapes (PERFORMANCE.md 4) ==",
            f"slide   : {settings.side:,} x {settings.side:,} px synthetic,"
            f" {settings.shapes:,} QuPath detections;"
            " Chromium 1600 x 900, headless",
            f"load    : 1-min load average {load_average():.1f}",
            f"import  : {facts['imported']:,.0f} features through POST .../annotations/import"
            f" in {facts['import_s']:.1f} s",
            f"shown   : viewer opened to every shape loaded and drawn in {facts['shown_s']:.1f} s"
            " (anchor: HistomicsUI ~20 s for whole-slide nuclei)",
            table(["motion", "shapes", "frame p50 ms", "frame p95 ms", "frames"], rows),
            *verdicts,
            "anchor: Annotorious slows at ~1,000 shapes",
        ]
    )
