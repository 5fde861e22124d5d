"""Demo data for `make run`: three regions and a private provider, units, a user of every
role, patients with published test personnummer, and cases on synthetic and sample slides.

Running it again keeps what is there: files are made once, imports are idempotent, and
the directory is created only into an empty database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import now_utc
from app.directory import add_org, add_patient, add_unit, add_user, attach, find_org, find_unit
from app.importer import import_paths
from app.models import Block, Case, Image, Organisation, Patient, Share
from app.services import services
from samsyn import personnummer
from tiles.identity import FileIdentity, compare, dicom_identity, slide_identity
from tiles.radiology.synthetic import make_ct_series
from tiles.synthetic import tissue, write_pyramid

PASSWORD = "samsyn-demo"
SYNTHETIC_SLIDES = (
    ("synthetic-he-biopsy.tif", 8192, 6144, 11),
    ("synthetic-he-resection.tif", 12288, 9216, 23),
    ("synthetic-he-lymph-node.tif", 6144, 4096, 37),
)
ORGANISATIONS = (
    ("Region Kalmar län", "SE9990000011", "region"),
    ("Region Östergötland", "SE9990000022", "region"),
    ("Region Jönköpings län", "SE9990000033", "region"),
    ("Sydpatologi AB", "SE9990000044", "private"),
)
UNITS = (
    ("Klinisk patologi Kalmar", "Region Kalmar län", "SE9990000011-P1"),
    ("Röntgenkliniken Kalmar", "Region Kalmar län", "SE9990000011-R1"),
    ("Kirurgkliniken Kalmar", "Region Kalmar län", "SE9990000011-K1"),
    ("Klinisk patologi Linköping", "Region Östergötland", "SE9990000022-P1"),
    ("Patologi Jönköping", "Region Jönköpings län", "SE9990000033-P1"),
    ("Sydpatologi laboratorium", "Sydpatologi AB", "SE9990000044-L1"),
)
PATIENTS = (
    ("640823-3234", "Karin Lind", "Region Kalmar län", False),
    ("811228-9874", "Johan Ek", "Region Kalmar län", True),
    ("880320-0016", "Sara Berg", "Region Jönköpings län", False),
    ("701063-2391", "Piotr Nowak", "Sydpatologi AB", False),
)
USERS = (
    ("anna.patolog", "Anna Holm", "pathologist", "Region Kalmar län", "Klinisk patologi Kalmar"),
    (
        "rasmus.radiolog",
        "Rasmus Öberg",
        "radiologist",
        "Region Kalmar län",
        "Röntgenkliniken Kalmar",
    ),
    ("klara.kliniker", "Klara Sand", "clinician", "Region Kalmar län", "Kirurgkliniken Kalmar"),
    (
        "olle.patolog",
        "Olle Strand",
        "pathologist",
        "Region Östergötland",
        "Klinisk patologi Linköping",
    ),
    ("jenny.patolog", "Jenny Falk", "pathologist", "Region Jönköpings län", "Patologi Jönköping"),
    ("sofia.patolog", "Sofia Lund", "pathologist", "Sydpatologi AB", "Sydpatologi laboratorium"),
    ("adam.admin", "Adam Nyberg", "admin", "Region Kalmar län", None),
    ("lena.logg", "Lena Dahl", "log_reviewer", "Region Kalmar län", None),
    ("tove.larare", "Tove Björk", "teacher", "Region Östergötland", "Klinisk patologi Linköping"),
    ("sam.student", "Sam Ali", "student", "Region Östergötland", None),
)
# case title, organisation, unit, patient (None: teaching), image file names
CASES = (
    (
        "Kolonbiopsi, second opinion",
        "Region Kalmar län",
        "Klinisk patologi Kalmar",
        "640823-3234",
        ("synthetic-he-biopsy.tif", "CMU-1-Small-Region.svs"),
    ),
    (
        "Resektat, tjocktarm",
        "Region Kalmar län",
        "Klinisk patologi Kalmar",
        "811228-9874",
        ("synthetic-he-resection.tif",),
    ),
    (
        "Lymfkörtel",
        "Region Jönköpings län",
        "Patologi Jönköping",
        "880320-0016",
        ("synthetic-he-lymph-node.tif", "test3-DAPI-2-387.ndpi", "OS-1-detail.ome.tif"),
    ),
    (
        "Immunfluorescens",
        "Sydpatologi AB",
        "Sydpatologi laboratorium",
        "701063-2391",
        ("BPAEC", "OS-2-vsi.ome.tif"),
    ),
    (
        "Undervisning: benvävnad",
        "Region Östergötland",
        "Klinisk patologi Linköping",
        None,
        ("jpeg.dicom", "jpeg2000.dicom", "raw.dicom"),
    ),
)
# Every radiology series goes to this case: a CT referred for a second opinion.
RADIOLOGY_CASE = (
    "DT buk, second opinion",
    "Region Kalmar län",
    "Röntgenkliniken Kalmar",
    "640823-3234",
)
# Sample series whose header names somebody else ("TOUTATIX", "dicom2nifti", ...) are no
# image of a demo patient: they go to this teaching case instead, so every care case holds
# only images that belong to its patient (or name nobody).
RADIOLOGY_TEACHING_CASE = (
    "Undervisning: radiologiska exempel",
    "Region Kalmar län",
    "Röntgenkliniken Kalmar",
    None,
)
SYNTHETIC_CT_SLICES = 120
# The synthetic CT is Karin Lind's: her personnummer and name are in its header.
SYNTHETIC_CT_PATIENT = ("19640823-3234", "Lind^Karin")


def load_demo(app: Flask, shared_data: str | None) -> None:
    """Make the synthetic slides, the directory and the cases if missing; print the logins."""
    folder = Path(app.config["DATA_DIR"]) / "demo"
    _make_slides(folder)
    paths = [str(folder)]
    for part in ("wsi", "dicom"):
        if shared_data and (Path(shared_data) / part).is_dir():
            paths.append(str(Path(shared_data) / part))
    for line, _ok in import_paths(app, paths):
        print(line, flush=True)
    with app.app_context(), services(app).db.session() as session:
        if session.scalar(select(Organisation).limit(1)) is None:
            _directory(session)
            _cases(session)
    for username, _name, role, org, _unit in USERS:
        print(f"login: {username} / {PASSWORD} ({role}, {org})")
    print(f"login: karin.patient / {PASSWORD} (patient, Region Kalmar län)")


def _make_slides(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ct = folder / "synthetic-ct"
    if not ct.exists():
        print(f"making demo CT series ({SYNTHETIC_CT_SLICES} slices)", flush=True)
        partial = folder / "synthetic-ct.partial"
        patient_id, patient_name = SYNTHETIC_CT_PATIENT
        make_ct_series(
            partial,
            slices=SYNTHETIC_CT_SLICES,
            patient_id=patient_id,
            patient_name=patient_name,
        )
        partial.rename(ct)
    for name, width, height, seed in SYNTHETIC_SLIDES:
        path = folder / name
        if not path.exists():
            print(f"making demo slide {name} ({width} x {height})", flush=True)
            partial = path.with_suffix(".partial")
            write_pyramid(partial, tissue(width, height, seed), tile=256, mpp=0.25)
            partial.rename(path)


def _directory(session: Session) -> None:
    for name, hsa_id, kind in ORGANISATIONS:
        add_org(session, name, hsa_id, kind)
    for name, org, hsa_id in UNITS:
        add_unit(session, name, org, hsa_id)
    for number, name, org, protected in PATIENTS:
        add_patient(session, number, name, org, protected)
    for username, name, role, org, unit in USERS:
        add_user(
            session,
            username,
            org,
            role,
            PASSWORD,
            unit,
            f"{find_org(session, org).hsa_id}-{username}",
            name,
        )
    add_user(
        session,
        "karin.patient",
        "Region Kalmar län",
        "patient",
        PASSWORD,
        name="Karin Lind",
        patient="640823-3234",
    )


def _cases(session: Session) -> None:
    """Attach the imported images to the demo cases, share some across regions, set a spärr.

    An image goes into a patient's case only when its file names that patient or nobody;
    a sample whose header names somebody else is teaching material instead.
    """
    images = {image.name: image for image in session.scalars(select(Image))}
    for title, org, unit, patient, names in CASES:
        for name in names:
            if name in images and _belongs(session, images[name], patient):
                attach(session, images[name].id, org, patient, title)
        _place(session, title, unit)
    care, teaching = RADIOLOGY_CASE, RADIOLOGY_TEACHING_CASE
    for image in session.scalars(select(Image).where(Image.kind == "series")):  # names repeat
        title, org, _unit, patient = care if _belongs(session, image, care[3]) else teaching
        attach(session, image.id, org, patient, title)
    _place(session, care[0], care[2])
    _place(session, teaching[0], teaching[2])
    until = now_utc() + timedelta(days=30)
    _share(session, "Kolonbiopsi, second opinion", until, org="Region Östergötland")
    _share(session, "Immunfluorescens", until, unit="Klinisk patologi Kalmar")
    _share(session, "Undervisning: benvävnad", until, org="Region Kalmar län", purpose="teaching")
    _share(session, RADIOLOGY_CASE[0], until, org="Region Jönköpings län")
    _share(session, teaching[0], until, org="Region Östergötland", purpose="teaching")
    jonkoping = find_org(session, "Region Jönköpings län")
    lymph = session.scalar(select(Case).where(Case.title == "Lymfkörtel"))
    if lymph is not None and lymph.patient_id:
        _share(session, "Lymfkörtel", until, org="Region Kalmar län")
        session.add(
            Block(patient_id=lymph.patient_id, org_id=jonkoping.id, reason="patientens begäran")
        )


def _place(session: Session, title: str, unit: str) -> None:
    """Put a demo case in its care unit (attach makes cases without one)."""
    case = session.scalar(select(Case).where(Case.title == title))
    if case is not None:
        case.unit_id = find_unit(session, unit).id


def _belongs(session: Session, image: Image, number: str | None) -> bool:
    """Whether the image may go into the case of the patient `number`: its file names that
    patient or nobody (the same comparison `samsyn import --patient` makes)."""
    if number is None:
        return True
    digits = personnummer.parse(number).digits
    patient = session.scalar(select(Patient).where(Patient.personnummer == digits))
    if patient is None:
        return False
    return compare(_file_identity(image), patient.personnummer, patient.name) is None


def _file_identity(image: Image) -> FileIdentity:
    """What a registered image's files say about its patient."""
    if image.kind == "series":
        return dicom_identity(image.files[:1])
    return slide_identity(image.files, image.properties or {})


def _share(
    session: Session,
    title: str,
    until: datetime,
    org: str | None = None,
    unit: str | None = None,
    purpose: str = "second_opinion",
) -> None:
    case = session.scalar(select(Case).where(Case.title == title))
    if case is None:
        return
    share = Share(case_id=case.id, purpose=purpose, until=until)
    if org:
        share.org_id = find_org(session, org).id
    if unit:
        share.unit_id = find_unit(session, unit).id
    session.add(share)
