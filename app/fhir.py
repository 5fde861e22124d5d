"""Referrals in HL7 FHIR R4: a remiss is a ServiceRequest with a Task for its state, its
svar a DiagnosticReport (preliminary, final, amended), with the Swedish identifier
systems of DOMAIN.md. Every resource is built as plain JSON and checked by the
`fhir.resources` R4B models (R4B keeps R4's shape for these resources) before it leaves;
an incoming ServiceRequest is checked by the same models before it is read.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Addendum, Case, Image, Organisation, Patient, Referral, Report, Unit, User
from samsyn.errors import BadRequest, NotFound
from samsyn.personnummer import parse

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
HSA = "urn:oid:1.2.752.29.4.19"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
SECOND_OPINION = {"system": SNOMED, "code": "11429006", "display": "Consultation"}

PRIORITY_TO_FHIR = {"acute": "stat", "urgent": "urgent", "routine": "routine"}
PRIORITY_FROM_FHIR = {"stat": "acute", "asap": "urgent", "urgent": "urgent", "routine": "routine"}
REQUEST_STATUS = {
    "draft": "draft",
    "sent": "active",
    "accepted": "active",
    "in_review": "active",
    "answered": "completed",
    "closed": "completed",
    "declined": "revoked",
    "withdrawn": "revoked",
}
TASK_STATUS = {
    "draft": "draft",
    "sent": "requested",
    "accepted": "accepted",
    "in_review": "in-progress",
    "answered": "completed",
    "closed": "completed",
    "declined": "rejected",
    "withdrawn": "cancelled",
}


def identity_system(personnummer: str) -> str:
    """Day 61 to 91 is a samordningsnummer."""
    return SAMORDNINGSNUMMER if int(personnummer[6:8]) > 60 else PERSONNUMMER


def hsa_reference(hsa_id: str | None, display: str | None) -> dict[str, Any]:
    reference: dict[str, Any] = {}
    if hsa_id:
        reference["identifier"] = {"system": HSA, "value": hsa_id}
    if display:
        reference["display"] = display
    return reference


def patient_resource(patient: Patient) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient.id,
        "identifier": [
            {"system": identity_system(patient.personnummer), "value": patient.personnummer}
        ],
    }
    if patient.protected_identity:  # skyddad identitet: no name leaves samsyn
        resource["meta"] = {"security": [{"code": "R", "display": "restricted"}]}
    else:
        resource["name"] = [{"text": patient.name}]
    return resource


def moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def referral_bundle(session: Session, referral: Referral, base: str) -> dict[str, Any]:
    """The referral, its state and its report as one FHIR R4 Bundle, validated."""
    case = session.get(Case, referral.case_id)
    patient = session.get(Patient, case.patient_id) if case and case.patient_id else None
    requester = session.get(User, referral.requester_id)
    requester_unit = (
        session.get(Unit, referral.requester_unit_id) if referral.requester_unit_id else None
    )
    to_unit = session.get(Unit, referral.to_unit_id) if referral.to_unit_id else None
    to_user = session.get(User, referral.to_user_id) if referral.to_user_id else None
    to_org = session.get(Organisation, referral.to_org_id)
    subject = {"reference": f"Patient/{patient.id}"} if patient else {"display": "teaching case"}
    performer = (
        hsa_reference(to_user.hsa_id, to_user.name)
        if to_user
        else hsa_reference(to_unit.hsa_id, to_unit.name)
        if to_unit
        else hsa_reference(to_org.hsa_id if to_org else None, to_org.name if to_org else None)
    )
    images = session.execute(select(Image.id, Image.name).where(Image.id.in_(referral.images)))
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": referral.id,
        "identifier": [{"system": f"{base}/referrals", "value": referral.id}],
        "status": REQUEST_STATUS[referral.status],
        "intent": "order",
        "priority": PRIORITY_TO_FHIR[referral.priority],
        "code": {"coding": [SECOND_OPINION], "text": "Second opinion"},
        "subject": subject,
        "authoredOn": moment(referral.created),
        "requester": hsa_reference(
            requester.hsa_id if requester else None, requester.name if requester else None
        ),
        "performer": [performer],
        "reasonCode": [{"text": referral.question}],
        "supportingInfo": [
            {"identifier": {"system": f"{base}/images", "value": image_id}, "display": name}
            for image_id, name in images
        ],
    }
    if requester_unit is not None:
        request["locationReference"] = [hsa_reference(requester_unit.hsa_id, requester_unit.name)]
    if referral.history:
        request["note"] = [{"text": referral.history}]
    if referral.due:
        request["occurrenceDateTime"] = moment(referral.due)
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"{referral.id}-task",
        "status": TASK_STATUS[referral.status],
        "businessStatus": {"text": referral.status},
        "intent": "order",
        "priority": PRIORITY_TO_FHIR[referral.priority],
        "focus": {"reference": f"ServiceRequest/{referral.id}"},
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "authoredOn": moment(referral.created),
        "lastModified": moment(referral.updated),
        "requester": request["requester"],
        "owner": performer,
    }
    if patient:
        task["for"] = subject
    if referral.reason:
        task["statusReason"] = {"text": referral.reason}
    resources = [request, task]
    if patient:
        resources.insert(0, patient_resource(patient))
    report = session.scalar(select(Report).where(Report.referral_id == referral.id))
    if report is not None:
        resources.append(report_resource(session, referral, report, subject))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": moment(referral.updated),
        "entry": [
            {
                "fullUrl": f"{base}/fhir/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
            }
            for resource in resources
        ],
    }
    Bundle.model_validate(bundle)  # a bundle samsyn sends is always valid R4
    return bundle


def report_resource(
    session: Session, referral: Referral, report: Report, subject: dict[str, Any]
) -> dict[str, Any]:
    addenda = session.scalars(
        select(Addendum).where(Addendum.report_id == report.id).order_by(Addendum.signed)
    ).all()
    status = "preliminary" if report.signed is None else ("amended" if addenda else "final")
    signer = session.get(User, report.signed_by) if report.signed_by else None
    text = report.findings + "".join(
        f"\n\nTillägg {a.signed.isoformat()}:\n{a.text}" for a in addenda
    )
    slides = any(
        key == "slide"
        for (key,) in session.execute(select(Image.kind).where(Image.id.in_(referral.images)))
    )
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": f"{referral.id}-report",
        "status": status,
        "code": {
            "coding": [
                {"system": LOINC, "code": "60567-5", "display": "Comprehensive pathology report"}
                if slides
                else {"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}
            ]
        },
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "subject": subject,
        "conclusion": report.conclusion or None,
        "conclusionCode": [
            {"coding": [{"system": SNOMED, "code": c["code"], "display": c.get("display") or None}]}
            for c in report.codes
        ]
        or None,
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            }
        ],
    }
    if report.signed is not None:
        resource["issued"] = moment(report.signed)
        resource["resultsInterpreter"] = [
            hsa_reference(signer.hsa_id if signer else None, signer.name if signer else None)
        ]
    cleaned: dict[str, Any] = _clean(resource)
    return cleaned


def _clean(value: Any) -> Any:
    """JSON without empty members (FHIR allows no nulls and no empty strings)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_clean(v) for v in value if v not in (None, "", [], {})]
    return value


# --- reading a ServiceRequest ----------------------------------------------------------------


def read_service_request(session: Session, document: object, requester_org: str) -> dict[str, Any]:
    """An incoming FHIR ServiceRequest as the body of POST /api/referrals."""
    if not isinstance(document, dict) or document.get("resourceType") != "ServiceRequest":
        raise BadRequest('Send a FHIR ServiceRequest ({"resourceType": "ServiceRequest", ...}).')
    try:
        request = ServiceRequest.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise BadRequest(
            f"Not a valid FHIR R4 ServiceRequest: {where}: {first.get('msg')}."
        ) from error
    patient = _subject(session, document)
    data: dict[str, Any] = {
        "question": _question(document),
        "priority": PRIORITY_FROM_FHIR.get(str(document.get("priority", "routine")), "routine"),
    }
    notes = [
        n.get("text") for n in document.get("note") or [] if isinstance(n, dict) and n.get("text")
    ]
    if notes:
        data["history"] = "\n".join(str(n) for n in notes)
    if document.get("occurrenceDateTime"):
        data["due"] = str(document["occurrenceDateTime"])
    data.update(_performer(session, document))
    images = [
        str(info["identifier"]["value"])
        for info in document.get("supportingInfo") or []
        if isinstance(info, dict)
        and isinstance(info.get("identifier"), dict)
        and str(info["identifier"].get("system", "")).endswith("/images")
    ]
    data["images"] = images
    data["case"] = _case_of(session, patient, images, requester_org)
    data["draft"] = request.status == "draft"
    return data


def _subject(session: Session, document: dict[str, Any]) -> Patient:
    subject = document.get("subject") or {}
    identifier = subject.get("identifier") if isinstance(subject, dict) else None
    if not isinstance(identifier, dict) or identifier.get("system") not in (
        PERSONNUMMER,
        SAMORDNINGSNUMMER,
    ):
        raise BadRequest("subject.identifier is the patient's personnummer or samordningsnummer.")
    number = parse(str(identifier.get("value", "")))
    patient = session.scalar(select(Patient).where(Patient.personnummer == number.digits))
    if patient is None:
        raise NotFound("samsyn holds no images of that patient.")
    return patient


def _question(document: dict[str, Any]) -> str:
    for reason in document.get("reasonCode") or []:
        if isinstance(reason, dict) and reason.get("text"):
            return str(reason["text"])
    code = document.get("code") or {}
    if isinstance(code, dict) and code.get("text") and code.get("text") != "Second opinion":
        return str(code["text"])
    raise BadRequest("reasonCode[0].text is the clinical question.")


def _performer(session: Session, document: dict[str, Any]) -> dict[str, str]:
    for performer in document.get("performer") or []:
        identifier = performer.get("identifier") if isinstance(performer, dict) else None
        if not isinstance(identifier, dict) or identifier.get("system") != HSA:
            continue
        hsa_id = str(identifier.get("value", ""))
        user = session.scalar(select(User).where(User.hsa_id == hsa_id))
        if user is not None:
            return {"to_user": user.username}
        return {"to_unit": hsa_id}
    raise BadRequest("performer[0].identifier is the HSA-id of the receiving unit or specialist.")


def _case_of(session: Session, patient: Patient, images: list[str], org_id: str) -> str:
    """The case the referred images are in; else the patient's newest case of the
    requester's organisation."""
    if images:
        cases = set(session.scalars(select(Image.case_id).where(Image.id.in_(images))))
        if len(cases) != 1 or None in cases:
            raise BadRequest("supportingInfo names images of one case.")
        return str(cases.pop())
    case = session.scalar(
        select(Case)
        .where(Case.patient_id == patient.id, Case.org_id == org_id)
        .order_by(Case.created.desc())
    )
    if case is None:
        raise NotFound("Your organisation holds no case of that patient.")
    return case.id
