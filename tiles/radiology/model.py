"""The records a series is made of, and their JSON form.

Import reads every file once and describes it with these frozen dataclasses; the web app
stores their JSON form (plain dicts, lists, strings and numbers) in its database, and
rendering rebuilds them from there without parsing a DICOM header again.

JSON shape of one file (``metadata["files"][i]``)::

    {"path", "size", "transfer_syntax", "encoding": "native" | "encapsulated" | "pydicom",
     "rows", "columns", "samples_per_pixel", "planar_configuration", "bits_allocated",
     "bits_stored", "pixel_representation", "photometric_interpretation", "big_endian",
     "swap_ow", "presentation_lut_shape", "modality", "sop_instance_uid", "number_of_frames",
     "modality_lut": Lut | null, "voi_luts": [Lut], "palette": Palette | null}

and of one frame (``metadata["frames"][k]``, in display order)::

    {"file": i, "frame": index inside the file,
     "offset", "length"               (native data: the frame's bytes in the file)
     | "fragments": [[offset, length]] (encapsulated data: the frame's fragment values)
     | nothing                         (encoding "pydicom": decoded through pydicom),
     "position": [x, y, z] | null, "orientation": [6 floats] | null, "location": mm | null,
     "instance_number", "temporal_index", "unit": "HU" | "",
     "rescale": {"slope", "intercept", "type"}, "windows": [{"center", "width", "explanation"}],
     "voi_lut_function": "LINEAR" | "LINEAR_EXACT" | "SIGMOID"}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiles.radiology.values import point

Span = tuple[int, int]

NATIVE = "native"
ENCAPSULATED = "encapsulated"
VIA_PYDICOM = "pydicom"


@dataclass(frozen=True)
class Lut:
    """A lookup table: input value `first` maps to data[0], later inputs to later entries.

    Inputs below `first` take the first entry and inputs past the end the last one
    (PS3.3 C.11.1.1.1); `bits` is the entry depth given by the LUT Descriptor.
    """

    first: int
    bits: int
    data: tuple[int, ...]
    explanation: str = ""


@dataclass(frozen=True)
class Palette:
    """The red, green and blue Palette Color Lookup Tables of a PALETTE COLOR image."""

    first: int
    bits: int
    red: tuple[int, ...]
    green: tuple[int, ...]
    blue: tuple[int, ...]


@dataclass(frozen=True)
class Window:
    """A VOI window: centre and width in modality units, with the file's explanation."""

    center: float
    width: float
    explanation: str = ""


@dataclass(frozen=True)
class Rescale:
    """Rescale slope and intercept from stored values to modality values (HU for CT)."""

    slope: float = 1.0
    intercept: float = 0.0
    type: str = ""


@dataclass(frozen=True)
class FileRecord:
    """One DICOM file of a series: where it is and how its pixel data is encoded."""

    path: str
    size: int
    transfer_syntax: str
    encoding: str
    rows: int
    columns: int
    samples_per_pixel: int
    planar_configuration: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    big_endian: bool = False
    swap_ow: bool = False
    presentation_lut_shape: str = ""
    modality: str = ""
    sop_instance_uid: str = ""
    number_of_frames: int = 1
    modality_lut: Lut | None = None
    voi_luts: tuple[Lut, ...] = ()
    palette: Palette | None = None

    @property
    def is_colour(self) -> bool:
        return self.samples_per_pixel > 1 or self.photometric_interpretation == "PALETTE COLOR"


@dataclass(frozen=True)
class FrameRecord:
    """One frame: which file holds it, where its bytes are, where it lies, how to show it."""

    file: int
    frame: int
    spans: tuple[Span, ...] = ()
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    location: float | None = None
    instance_number: int | None = None
    temporal_index: int | None = None
    unit: str = ""
    rescale: Rescale = Rescale()
    windows: tuple[Window, ...] = ()
    voi_lut_function: str = "LINEAR"


def lut_to_json(lut: Lut | None) -> dict[str, Any] | None:
    if lut is None:
        return None
    return {
        "first": lut.first,
        "bits": lut.bits,
        "data": list(lut.data),
        "explanation": lut.explanation,
    }


def lut_from_json(data: dict[str, Any] | None) -> Lut | None:
    if data is None:
        return None
    return Lut(
        int(data["first"]), int(data["bits"]), tuple(data["data"]), data.get("explanation", "")
    )


def palette_to_json(palette: Palette | None) -> dict[str, Any] | None:
    if palette is None:
        return None
    return {
        "first": palette.first,
        "bits": palette.bits,
        "red": list(palette.red),
        "green": list(palette.green),
        "blue": list(palette.blue),
    }


def palette_from_json(data: dict[str, Any] | None) -> Palette | None:
    if data is None:
        return None
    return Palette(
        int(data["first"]),
        int(data["bits"]),
        tuple(data["red"]),
        tuple(data["green"]),
        tuple(data["blue"]),
    )


_FILE_SCALARS = (
    "path",
    "size",
    "transfer_syntax",
    "encoding",
    "rows",
    "columns",
    "samples_per_pixel",
    "planar_configuration",
    "bits_allocated",
    "bits_stored",
    "pixel_representation",
    "photometric_interpretation",
    "big_endian",
    "swap_ow",
    "presentation_lut_shape",
    "modality",
    "sop_instance_uid",
    "number_of_frames",
)


def file_to_json(record: FileRecord) -> dict[str, Any]:
    """The file record as plain JSON values."""
    data: dict[str, Any] = {name: getattr(record, name) for name in _FILE_SCALARS}
    data["modality_lut"] = lut_to_json(record.modality_lut)
    data["voi_luts"] = [lut_to_json(lut) for lut in record.voi_luts]
    data["palette"] = palette_to_json(record.palette)
    return data


def file_from_json(data: dict[str, Any]) -> FileRecord:
    """The file record back from its JSON form."""
    scalars = {name: data[name] for name in _FILE_SCALARS}
    return FileRecord(
        **scalars,
        modality_lut=lut_from_json(data.get("modality_lut")),
        voi_luts=tuple(lut for lut in map(lut_from_json, data.get("voi_luts", [])) if lut),
        palette=palette_from_json(data.get("palette")),
    )


def frame_to_json(record: FrameRecord, encoding: str) -> dict[str, Any]:
    """The frame record as plain JSON values; its bytes as offset/length or fragments."""
    data: dict[str, Any] = {"file": record.file, "frame": record.frame}
    if encoding == NATIVE and record.spans:
        data["offset"], data["length"] = record.spans[0]
    elif encoding == ENCAPSULATED:
        data["fragments"] = [list(span) for span in record.spans]
    data.update(
        position=list(record.position) if record.position else None,
        orientation=list(record.orientation) if record.orientation else None,
        location=record.location,
        instance_number=record.instance_number,
        temporal_index=record.temporal_index,
        unit=record.unit,
        rescale={
            "slope": record.rescale.slope,
            "intercept": record.rescale.intercept,
            "type": record.rescale.type,
        },
        windows=[
            {"center": w.center, "width": w.width, "explanation": w.explanation}
            for w in record.windows
        ],
        voi_lut_function=record.voi_lut_function,
    )
    return data


def frame_from_json(data: dict[str, Any]) -> FrameRecord:
    """The frame record back from its JSON form."""
    if "offset" in data:
        spans: tuple[Span, ...] = ((int(data["offset"]), int(data["length"])),)
    else:
        spans = tuple((int(o), int(n)) for o, n in data.get("fragments", []))
    rescale = data.get("rescale") or {}
    return FrameRecord(
        file=int(data["file"]),
        frame=int(data["frame"]),
        spans=spans,
        position=point(data.get("position")),
        orientation=tuple(data["orientation"]) if data.get("orientation") else None,
        location=data.get("location"),
        instance_number=data.get("instance_number"),
        temporal_index=data.get("temporal_index"),
        unit=data.get("unit", ""),
        rescale=Rescale(
            float(rescale.get("slope", 1.0)),
            float(rescale.get("intercept", 0.0)),
            rescale.get("type", "") or "",
        ),
        windows=tuple(
            Window(float(w["center"]), float(w["width"]), w.get("explanation", ""))
            for w in data.get("windows", [])
        ),
        voi_lut_function=data.get("voi_lut_function", "LINEAR"),
    )
