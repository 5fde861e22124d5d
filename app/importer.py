"""Import: discover images in the given paths and register them, one line per outcome."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from flask import Flask

from app.extensions import db
from app.registry import register
from tiles.discover import Failed, Found, Skipped, discover


def import_paths(app: Flask, paths: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """(line, ok) for every object found: `imported <id> <kind> <path>`, `failed <path>: why`."""
    with app.app_context():
        for path in paths:
            for outcome in discover(path):
                yield _report(outcome)


def _report(outcome: Found | Skipped | Failed) -> tuple[str, bool]:
    if isinstance(outcome, Failed):
        return f"failed {outcome.path}: {_one_line(outcome.reason)}", False
    if isinstance(outcome, Skipped):
        return f"skipped {outcome.path}: {outcome.reason}", True
    image, new = register(db, outcome)
    where = outcome.paths[0] if len(outcome.paths) == 1 else _folder(outcome.paths)
    note = "" if new else " (already registered)"
    return f"imported {image.id} {image.kind} {where}{note}", True


def _folder(paths: tuple[str, ...]) -> str:
    return str(Path(paths[0]).parent)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
