"""Annotation file formats: GeoJSON as QuPath writes and reads it."""
