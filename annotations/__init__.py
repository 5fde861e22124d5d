"""The annotation domain of samsyn, free of Flask and of any database session: shapes and
their validation (`geometry`), measurements in µm or mm and region statistics (`measure`),
and file formats (`formats`: QuPath GeoJSON)."""
