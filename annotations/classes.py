"""Annotation classes: the department's list of what a mark means (tumour, mitosis, lesion).

Each organisation keeps its own list, managed by its administrators. A new organisation
starts from the defaults below, one set for pathology and one for radiology, with SNOMED CT
codes where a concept exists (the code names the finding, not a procedure). Names are in
Swedish, as the departments write them; QuPath's own class names arrive on import and are
kept as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLOR = re.compile(r"^#[0-9a-f]{6}$")
SNOMED_CODE = re.compile(r"^[1-9][0-9]{5,17}$")
NAME_LIMIT = 80


@dataclass(frozen=True)
class AnnotationClass:
    """One class: its name, its colour (#rrggbb) and optionally its SNOMED CT concept id."""

    name: str
    color: str
    code: str | None = None


PATHOLOGY = (
    AnnotationClass("Tumör", "#c83232", "108369006"),
    AnnotationClass("Stroma", "#96c896"),
    AnnotationClass("Immunceller", "#a05aa0"),
    AnnotationClass("Nekros", "#323232", "6574001"),
    AnnotationClass("Mitos", "#ff8c00"),
    AnnotationClass("Inflammation", "#4682b4", "409774005"),
    AnnotationClass("Kärl", "#b41e3c", "59820001"),
    AnnotationClass("Annat", "#ffc800"),
)
RADIOLOGY = (
    AnnotationClass("Lesion", "#e6194b", "52988006"),
    AnnotationClass("Lymfkörtel", "#3cb44b", "59441001"),
    AnnotationClass("Cysta", "#4363d8", "367643001"),
    AnnotationClass("Metastas", "#f58231", "14799000"),
    AnnotationClass("Referens", "#911eb4"),
)
DEFAULTS = PATHOLOGY + RADIOLOGY


def normal_color(value: object) -> str | None:
    """#rrggbb in lower case, or None when `value` is not such a colour."""
    if not isinstance(value, str):
        return None
    lowered = value.strip().lower()
    return lowered if COLOR.match(lowered) else None


def valid_code(value: object) -> bool:
    """A SNOMED CT concept id: 6 to 18 digits, not starting with 0."""
    return isinstance(value, str) and bool(SNOMED_CODE.match(value))
