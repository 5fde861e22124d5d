"""Demo data for `make run`: synthetic slides made here, plus the shared sample folder if present.

Running it again keeps what is there: files are made once and imports are idempotent.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.importer import import_paths
from tiles.synthetic import tissue, write_pyramid

SYNTHETIC_SLIDES = (
    ("synthetic-he-biopsy.tif", 8192, 6144, 11),
    ("synthetic-he-resection.tif", 12288, 9216, 23),
)


def load_demo(app: Flask, shared_data: str | None) -> None:
    """Make the synthetic slides if missing and register them and the shared samples."""
    folder = Path(app.config["DATA_DIR"]) / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for name, width, height, seed in SYNTHETIC_SLIDES:
        path = folder / name
        if not path.exists():
            print(f"making demo slide {name} ({width} x {height})", flush=True)
            partial = path.with_suffix(".partial")
            write_pyramid(partial, tissue(width, height, seed), tile=256, mpp=0.25)
            partial.rename(path)
    paths = [str(folder)]
    if shared_data and (Path(shared_data) / "wsi").is_dir():
        paths.append(str(Path(shared_data) / "wsi"))
    for line, _ok in import_paths(app, paths):
        print(line, flush=True)
