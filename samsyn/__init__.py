"""samsyn: a collaborative second-opinion viewer for pathology slides and radiology images."""

__version__ = "0.1.0"
