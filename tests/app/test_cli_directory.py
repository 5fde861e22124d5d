"""The `samsyn` directory commands (CONTRACT.md §1): org, unit, user, patient and import.

The main path runs the real command in subprocesses against a fresh data directory (after
`init-db`), then reads the result back through the application. The refusals run
`app.cli.main` in-process (much faster) and check the exit code and the one-line error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.cli import main
from app.extensions import Database
from app.migrate import upgrade
from app.models import Case, Image, Membership, Organisation, Patient, Unit, User
from tests.conftest import REPO, database, login

PASSWORD = "ett hemligt lösenord"


def samsyn(
    data_dir: Path, *arguments: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `samsyn` console script if there is one, else `python -m app.cli`."""
    script = Path(sys.executable).parent / "samsyn"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    env = {k: v for k, v in os.environ.items() if k != "SAMSYN_DATABASE_URL"}
    env["SAMSYN_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [*command, *arguments],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_the_directory_commands_build_a_usable_directory(
    tmp_path: Path, synthetic_slide: Path
) -> None:
    data = tmp_path / "var"
    assert "database ready" in ok(samsyn(data, "init-db"))
    assert (data / "samsyn.db").exists()
    out = ok(
        samsyn(data, "org", "add", "Region Kalmar", "--hsa-id", "SE2321000065", "--kind", "region")
    )
    assert out.startswith("organisation ") and "Region Kalmar" in out
    ok(
        samsyn(
            data,
            "unit",
            "add",
            "Patologi Kalmar",
            "--org",
            "Region Kalmar",
            "--hsa-id",
            "SE2321000065-P1",
        )
    )
    result = samsyn(
        data,
        "user",
        "add",
        "anna",
        "--org",
        "Region Kalmar",
        "--role",
        "pathologist",
        "--unit",
        "Patologi Kalmar",
        "--hsa-id",
        "SE2321000065-1234",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "anna" in ok(result) and PASSWORD not in result.stdout + result.stderr
    ok(
        samsyn(
            data,
            "patient",
            "add",
            "640823-3234",
            "--name",
            "Test Testsson",
            "--org",
            "Region Kalmar",
        )
    )

    refused = samsyn(
        data,
        "patient",
        "add",
        "880320-0018",
        "--name",
        "Fel Kontrollsiffra",
        "--org",
        "Region Kalmar",
    )
    assert refused.returncode == 1
    assert "Traceback" not in refused.stdout + refused.stderr
    lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error"), lines

    slides = []
    for name in ("första.tif", "andra.tif"):
        shutil.copy(synthetic_slide, tmp_path / name)
        slides.append(str(tmp_path / name))
    result = samsyn(
        data,
        "import",
        *slides,
        "--org",
        "Region Kalmar",
        "--patient",
        "640823-3234",
        "--case",
        "Remiss 7",
    )
    lines = ok(result).splitlines()
    assert len(lines) == 2 and all(line.startswith("imported ") for line in lines), lines
    ids = [line.split()[1] for line in lines]
    assert [line.split()[2] for line in lines] == ["slide", "slide"]

    application = create_app(
        {"DATA_DIR": data, "DATABASE_URL": f"sqlite:///{data / 'samsyn.db'}", "TESTING": True}
    )
    with database(application).session() as session:
        org = session.scalar(select(Organisation).where(Organisation.name == "Region Kalmar"))
        assert org is not None and org.hsa_id == "SE2321000065" and org.kind == "region"
        unit = session.scalar(select(Unit).where(Unit.name == "Patologi Kalmar"))
        assert unit is not None and unit.org_id == org.id and unit.hsa_id == "SE2321000065-P1"
        user = session.scalar(select(User).where(User.username == "anna"))
        assert user is not None and user.hsa_id == "SE2321000065-1234"
        assert (
            user.password_hash
            and user.password_hash.startswith("$argon2")
            and PASSWORD not in user.password_hash
        )
        roles = session.scalars(select(Membership).where(Membership.user_id == user.id)).all()
        assert [(m.role, m.org_id, m.unit_id) for m in roles] == [("pathologist", org.id, unit.id)]
        patients = session.scalars(select(Patient)).all()
        assert [(p.personnummer, p.name, p.org_id) for p in patients] == [
            ("196408233234", "Test Testsson", org.id)
        ]
        images = [session.get(Image, image_id) for image_id in ids]
        assert all(image is not None and image.org_id == org.id for image in images)
        assert len({image.case_id for image in images}) == 1
        case = session.get(Case, images[0].case_id)
        assert (
            case.title == "Remiss 7" and case.patient_id == patients[0].id and case.org_id == org.id
        )
        assert case.purpose == "care"
    client = login(application.test_client(), "anna", PASSWORD)
    listed = client.get("/api/cases").get_json()
    assert [(c["title"], sorted(c["images"])) for c in listed] == [("Remiss 7", sorted(ids))]
    assert client.get(f"/api/images/{ids[0]}").status_code == 200


# --- refusals, in-process ----------------------------------------------------------------------


@pytest.fixture()
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with a migrated database, one organisation, a unit and a patient."""
    monkeypatch.setenv("SAMSYN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SAMSYN_DATABASE_URL", raising=False)
    upgrade(f"sqlite:///{tmp_path / 'samsyn.db'}")
    assert main(["org", "add", "Region Kalmar", "--hsa-id", "SE2321000065"]) == 0
    assert (
        main(
            [
                "unit",
                "add",
                "Patologi Kalmar",
                "--org",
                "Region Kalmar",
                "--hsa-id",
                "SE2321000065-P1",
            ]
        )
        == 0
    )
    assert (
        main(["patient", "add", "640823-3234", "--name", "Test Testsson", "--org", "Region Kalmar"])
        == 0
    )
    return tmp_path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize(
    "number",
    [
        "880320-0018",
        "abc",
        "19990229-1236",
        "640832-1234",
        "641323-1231",
        "640823-0000",
        "6408233",
        "",
        "20991231-1234",
    ],
)
def test_invalid_personnummer_is_refused(
    directory: Path, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    capsys.readouterr()
    assert main(["patient", "add", number, "--name", "Ogiltig", "--org", "Region Kalmar"]) == 1
    assert one_line_error(capsys).startswith("error")
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        assert len(session.scalars(select(Patient)).all()) == 1


@pytest.mark.parametrize(
    "arguments",
    [
        ["patient", "add", "6408233234", "--name", "Samma person igen", "--org", "Region Kalmar"],
        [
            "patient",
            "add",
            "811228-9874",
            "--name",
            "Okänd organisation",
            "--org",
            "Region Gotland",
        ],
        ["org", "add", "Region Kalmar", "--hsa-id", "SE0000000099"],
        ["org", "add", "Annan region", "--hsa-id", "SE2321000065"],
        ["unit", "add", "Patologi Gotland", "--org", "Region Gotland", "--hsa-id", "SE1-P1"],
        ["unit", "add", "Samma HSA-id", "--org", "Region Kalmar", "--hsa-id", "SE2321000065-P1"],
    ],
    ids=[
        "duplicate patient",
        "patient of unknown org",
        "duplicate org name",
        "duplicate org hsa-id",
        "unit of unknown org",
        "duplicate unit hsa-id",
    ],
)
def test_directory_conflicts_are_refused(
    directory: Path, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    capsys.readouterr()
    assert main(arguments) == 1
    assert one_line_error(capsys).startswith("error")


@pytest.mark.parametrize(
    ("arguments", "password"),
    [
        (["--role", "surgeon"], PASSWORD),
        (["--role", "pathologist"], "kort"),
        (["--role", "pathologist"], ""),
        (["--role", "pathologist", "--unit", "Okänd enhet"], PASSWORD),
        (["--role", "patient"], PASSWORD),
        (["--role", "patient", "--patient", "880320-0018"], PASSWORD),
        (["--role", "patient", "--patient", "811228-9874"], PASSWORD),
    ],
    ids=[
        "unknown role",
        "short password",
        "empty password",
        "unknown unit",
        "patient role without a personnummer",
        "invalid personnummer",
        "unregistered patient",
    ],
)
def test_bad_users_are_refused(
    directory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    password: str,
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    capsys.readouterr()
    assert (
        main(["user", "add", "bertil", "--org", "Region Kalmar", *arguments, "--password-stdin"])
        == 1
    )
    assert one_line_error(capsys).startswith("error")
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        assert session.scalar(select(User).where(User.username == "bertil")) is None


def test_patient_user_is_linked_to_the_patient(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    arguments = [
        "user",
        "add",
        "test",
        "--org",
        "Region Kalmar",
        "--role",
        "patient",
        "--patient",
        "19640823-3234",
    ]
    assert main([*arguments, "--password-stdin"]) == 0
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        user = session.scalar(select(User).where(User.username == "test"))
        patient = session.scalar(select(Patient))
        assert user is not None and user.patient_id == patient.id


def test_protected_identity_flag(directory: Path) -> None:
    arguments = [
        "patient",
        "add",
        "811228-9874",
        "--name",
        "Skyddad Person",
        "--org",
        "Region Kalmar",
    ]
    assert main([*arguments, "--protected-identity"]) == 0
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        patient = session.scalar(select(Patient).where(Patient.personnummer == "198112289874"))
        assert patient is not None and patient.protected_identity is True


def test_import_refusals(
    directory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, synthetic_slide: Path
) -> None:
    slide = tmp_path / "slide.tif"
    shutil.copy(synthetic_slide, slide)
    not_a_slide = tmp_path / "inte-en-bild.tif"
    not_a_slide.write_bytes(b"II*\x00" + b"\x00" * 64)
    capsys.readouterr()

    assert main(["import", str(slide), "--case", "Remiss"]) == 1  # a case needs an organisation
    assert one_line_error(capsys).startswith("error")

    assert main(["import", str(not_a_slide), "--org", "Region Kalmar"]) == 1
    captured = capsys.readouterr()
    assert (
        captured.out.startswith(f"failed {not_a_slide}")
        and "Traceback" not in captured.out + captured.err
    )

    assert (
        main(
            [
                "import",
                str(slide),
                "--org",
                "Region Kalmar",
                "--patient",
                "880320-0018",
                "--case",
                "Remiss",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert captured.out.startswith("failed ") and "Traceback" not in captured.out + captured.err
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        assert session.scalars(select(Case)).all() == []


def test_import_without_a_patient_makes_a_teaching_case(
    directory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, synthetic_slide: Path
) -> None:
    slide = tmp_path / "undervisning.tif"
    shutil.copy(synthetic_slide, slide)
    assert main(["import", str(slide), "--org", "Region Kalmar", "--case", "Kurs i patologi"]) == 0
    image_id = capsys.readouterr().out.split()[1]
    with Database(f"sqlite:///{directory / 'samsyn.db'}").session() as session:
        case = session.get(Case, session.get(Image, image_id).case_id)
        assert (
            case.title == "Kurs i patologi"
            and case.patient_id is None
            and case.purpose == "teaching"
        )
