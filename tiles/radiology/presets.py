"""Window presets for CT, as (center, width) in HU.

Values from Radiopaedia, "Windowing (CT)" (https://radiopaedia.org/articles/windowing-ct,
typical window width and level values), which gives for the head: brain W:80 L:40,
subdural W:130-300 L:50-100, stroke W:8 L:32 or W:40 L:40; chest: lungs W:1500 L:-600,
mediastinum W:350 L:50; abdomen: soft tissues W:400 L:50, liver W:150 L:30; spine:
bone W:1800 L:400. Subdural takes the middle of Radiopaedia's ranges (75/215). Liver
follows Radiopaedia (30/150); some viewers use 60/160 instead.
"""

from __future__ import annotations

WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
}
