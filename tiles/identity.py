"""What an image file says about its patient, and whether that is the case's patient.

Read at import, so that an image filed under the wrong patient is caught before anyone
reads it as theirs (issue 8, "the right patient, always visible"):

- DICOM (radiology series and whole-slide images): PatientID and PatientName.
- TIFF slides (Aperio SVS, generic TIFF): `key = value` fields of the ImageDescription and
  vendor properties that name a patient (patient id, patient name); a label barcode only
  when it is a personnummer (otherwise it is a specimen or accession number).
- Hamamatsu NDPI: its reference/barcode tags, under the same barcode rule.
- OME-TIFF and photographs (JPEG, PNG) have no field for the patient: they name nobody.

A file that names nobody (empty values, anonymised dummies, DICOM PatientIdentityRemoved
YES without a personnummer) is never a mismatch: there is nothing to contradict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pydicom
import tifffile

from samsyn import personnummer
from tiles.discover import Found
from tiles.radiology import SeriesFound
from tiles.sources import sniff

# Values written in place of a patient by anonymisers and sample makers: they name nobody.
ANONYMOUS = frozenset(
    {
        "",
        "anonymized",
        "anonymised",
        "anonymous",
        "anon",
        "anonimo",
        "anónimo",
        "unknown",
        "none",
        "n/a",
        "na",
        "-",
        "removed",
        "deidentified",
        "de-identified",
    }
)
PATIENT_ID_KEYS = frozenset(
    {"patientid", "patient", "patientnumber", "personnummer", "pnr", "dicompatientid"}
)
PATIENT_NAME_KEYS = frozenset({"patientname", "patientsname", "dicompatientname"})
BARCODE_KEYS = frozenset(
    {"barcode", "slidebarcode", "labelbarcode", "reference", "pimdpufsbarcode"}
)
_XML_ATTRIBUTE = re.compile(r'Name="([A-Za-z0-9_]+)"[^>]*>([^<]*)<')


@dataclass(frozen=True)
class FileIdentity:
    """The patient an image file names: its id and name as written, and where they were
    read ("DICOM header", "Aperio ImageDescription", ...). Empty strings: not named."""

    patient_id: str = ""
    patient_name: str = ""
    source: str = ""

    @property
    def names_patient(self) -> bool:
        """Whether the file names anybody at all (anonymised dummies do not count)."""
        return bool(_meaningful(self.patient_id) or _meaningful(self.patient_name))


NOBODY = FileIdentity()


@dataclass(frozen=True)
class Mismatch:
    """A file that names another patient than the one it is imported for."""

    identity: FileIdentity

    def what_file_says(self, masked_name: str | None = None) -> str:
        """The file's id and name in one phrase; the name replaced by `masked_name` when the
        case's patient has skyddad identitet (the name might be theirs, misspelt)."""
        parts = []
        if _meaningful(self.identity.patient_id):
            parts.append(f"PatientID {self.identity.patient_id}")
        if _meaningful(self.identity.patient_name):
            parts.append(f"PatientName {masked_name or self.identity.patient_name}")
        return ", ".join(parts)


def compare(identity: FileIdentity, number: str, name: str) -> Mismatch | None:
    """A Mismatch when the file names someone other than the patient `number` / `name`.

    A PatientID that is a valid personnummer or samordningsnummer decides alone, by its
    12 digits. Otherwise the file matches when its id is the patient's number in an
    accepted form or its name is the patient's name (DICOM "Family^Given" and
    "Given Family" alike, case-insensitive). A file naming nobody is no mismatch.
    """
    if not identity.names_patient:
        return None
    digits = personnummer.parse(number).digits
    file_id = identity.patient_id.strip()
    if personnummer.is_valid(file_id):
        return None if personnummer.parse(file_id).digits == digits else Mismatch(identity)
    if _meaningful(file_id) and file_id in number_forms(digits):
        return None
    if _meaningful(identity.patient_name) and name_words(identity.patient_name) == name_words(name):
        return None
    return Mismatch(identity)


def number_forms(digits: str) -> set[str]:
    """Every accepted written form of the 12-digit number (DOMAIN.md "Identity numbers")."""
    short = digits[2:]
    return {
        digits,
        f"{digits[:8]}-{digits[8:]}",
        short,
        f"{short[:6]}-{short[6:]}",
        f"{short[:6]}+{short[6:]}",
    }


def name_words(name: str) -> tuple[str, ...]:
    """A name as its sorted lower-case words, so "Lind^Karin", "LIND, Karin" and
    "Karin Lind" are the same name."""
    return tuple(sorted(word for word in re.split(r"[\s^,]+", name.casefold()) if word))


def identity_of(found: Found | SeriesFound) -> FileIdentity:
    """What a discovered image says about its patient. A series is read from its first
    instance: every instance of one series belongs to one patient."""
    if isinstance(found, SeriesFound):
        return dicom_identity(found.paths[:1])
    return slide_identity(found.paths, found.info.properties)


def slide_identity(paths: Iterable[str], properties: Mapping[str, str]) -> FileIdentity:
    """A slide's patient: DICOM WSI header, else TIFF description and vendor properties."""
    files = list(paths)
    if not files:
        return NOBODY
    if sniff(files[0]) == "dicom":
        return dicom_identity(files)
    found = _from_fields(properties, "vendor properties")
    if found.names_patient or sniff(files[0]) != "tiff":
        return found
    return tiff_identity(files[0])


def dicom_identity(files: Iterable[str]) -> FileIdentity:
    """PatientID and PatientName of the first DICOM instance that names anybody."""
    for file in files:
        try:
            header = pydicom.dcmread(
                file,
                stop_before_pixels=True,
                specific_tags=["PatientID", "PatientName", "PatientIdentityRemoved"],
            )
        except Exception:
            continue  # an unreadable instance failed discovery already
        identity = FileIdentity(
            str(header.get("PatientID", "") or ""),
            str(header.get("PatientName", "") or ""),
            "DICOM header",
        )
        removed = str(header.get("PatientIdentityRemoved", "")).upper() == "YES"
        if removed and not personnummer.is_valid(identity.patient_id.strip()):
            continue
        if identity.names_patient:
            return identity
    return NOBODY


def tiff_identity(path: str) -> FileIdentity:
    """The patient named in a TIFF's ImageDescription (Aperio `|key = value` fields, XML
    attributes such as Philips' DICOM_PATIENT_ID) or in its NDPI tags."""
    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            description = str(page.description or "")
            ndpi = getattr(page, "ndpi_tags", None) if tiff.is_ndpi else None
    except Exception:
        return NOBODY
    fields = description_fields(description)
    if isinstance(ndpi, Mapping):
        fields.update({str(key): str(value) for key, value in ndpi.items()})
    return _from_fields(fields, "TIFF ImageDescription")


def description_fields(description: str) -> dict[str, str]:
    """`key = value` pairs of an Aperio-style description and `Name="..."` XML attributes."""
    fields = {name: value for name, value in _XML_ATTRIBUTE.findall(description)}
    for part in description.split("|")[1:]:
        key, equals, value = part.partition("=")
        if equals:
            fields[key.strip()] = value.strip()
    return fields


def _from_fields(fields: Mapping[str, str], source: str) -> FileIdentity:
    """The patient named by any of the fields, by the last part of their key."""
    patient_id = patient_name = ""
    for key, value in fields.items():
        word = re.sub(r"[^a-z]", "", key.rsplit(".", 1)[-1].casefold())
        text = str(value).strip()
        if word in PATIENT_ID_KEYS and _meaningful(text):
            patient_id = patient_id or text
        elif word in PATIENT_NAME_KEYS and _meaningful(text):
            patient_name = patient_name or text
        elif word in BARCODE_KEYS and personnummer.is_valid(text):
            patient_id = patient_id or text  # a label barcode that is a personnummer
    if not (patient_id or patient_name):
        return NOBODY
    return FileIdentity(patient_id, patient_name, source)


def _meaningful(value: str) -> bool:
    """Whether a value names somebody: not empty and not an anonymiser's dummy."""
    return value.strip().casefold() not in ANONYMOUS
