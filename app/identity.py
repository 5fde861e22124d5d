"""How a patient's identity is shown: masked for skyddad identitet, absent from teaching.

Every identifying field is listed here once; the routes that show patients or image
headers take their masking from these lists and functions, nowhere else.
"""

from __future__ import annotations

from typing import Any

from app.models import Patient
from samsyn import personnummer

MASKED_NAME = "Skyddad identitet"
# Values of a radiology series' header that identify the patient or the examination:
# none of them is shown in teaching (DOMAIN.md rule 9).
IDENTIFYING_SERIES_FIELDS = (
    "patient_name",
    "patient_id",
    "personnummer",
    "patient_birth_date",
    "accession_number",
    "study_date",
    "series_date",
    "acquisition_date",
    "content_date",
    "study_time",
    "institution",
    "institution_address",
    "referring_physician",
    "performing_physician",
    "operators",
    "study_id",
    "other_patient_ids",
)
# Of those, what skyddad identitet hides from staff who may otherwise see the patient.
PROTECTED_SERIES_FIELDS = ("patient_name", "institution_address")


def patient_json(patient: Patient | None) -> dict[str, Any] | None:
    """A patient as shown to staff: a protected identity has its name masked."""
    if patient is None:
        return None
    number = personnummer.IdentityNumber(patient.personnummer, int(patient.personnummer[6:8]) > 60)
    return {
        "id": patient.id,
        "personnummer": number.display(),
        "name": MASKED_NAME if patient.protected_identity else patient.name,
        "protected_identity": patient.protected_identity,
    }


def masked_header(details: dict[str, Any], purpose: str, protected: bool) -> dict[str, Any]:
    """A series header as this viewer may see it: nothing identifying in teaching, the
    name masked for a protected identity."""
    shown = dict(details)
    if purpose == "teaching":
        for name in IDENTIFYING_SERIES_FIELDS:
            if name in shown:
                shown[name] = None
    elif protected:
        for name in PROTECTED_SERIES_FIELDS:
            if shown.get(name):
                shown[name] = MASKED_NAME
    return shown
