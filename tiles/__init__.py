"""Image sources and tile rendering for samsyn. A plain library: no Flask, no database."""

from tiles.sources import open_source
from tiles.sources.base import SlideInfo, Source

__all__ = ["SlideInfo", "Source", "open_source"]
