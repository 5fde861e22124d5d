"""Referrals (issue 11): how soon the referrer hears the signed answer, and the worklist.

On the default `samsyn serve` (SQLite, no Redis, what `make run` starts):
- from the reviewer's `POST .../report/sign` to the referrer's open page receiving the
  `referral` event with the signed report (the referrer and the copied clinician each
  hold a live connection, as their open pages do), p50/p95 over 50 referrals;
- the receiving unit's worklist (`GET /api/referrals?box=incoming`, first page of 200,
  most pressing first, counts of all) with 10,000 referrals in the box, p50/p95, and
  filtered by priority.
The anchor is the practice it replaces: a signed answer sent back on paper or through a
PACS export reaches the referrer in hours to days; 100 ms feels instantaneous.
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.processes import HOST, free_port, running_server
from benchmarks.report import load_average, table, verdict
from benchmarks.samsyn_instance import CLI, environment

PASSWORD = "benchmark-password"  # a throwaway database on 127.0.0.1 only
REQUESTER, CLINICIAN, REVIEWER = "bench-kalmar-pat", "bench-kalmar-klin", "bench-ostg-pat"
HOME, AWAY = ("Benchmark Kalmar", "SE2321000001"), ("Benchmark Östergötland", "SE2321000002")
HOME_UNIT, AWAY_UNIT = (
    ("Patologi Kalmar B", "SE2321000001-P"),
    ("Patologi Linköping B", "SE2321000002-P"),
)
PATIENT = "19121212-1212"


@dataclass(frozen=True)
class Settings:
    signed: int
    worklist: int
    queries: int


FULL = Settings(50, 10_000, 40)
QUICK = Settings(10, 1_000, 10)


@dataclass(frozen=True)
class Figures:
    sign_to_page_ms: list[float]
    sign_request_ms: list[float]
    worklist_ms: list[float]
    filtered_ms: list[float]
    referrals: int


def prepare(data_dir: Path, referrals: int) -> str:
    """Two regions, a pathologist and a clinician in one, a pathologist in the other, a
    case of a patient, and `referrals` referrals already in the receiving unit's box."""
    from app import create_app
    from app.directory import add_org, add_patient, add_unit, add_user
    from app.migrate import upgrade
    from app.models import Case, Referral, User
    from app.services import services

    url = f"sqlite:///{data_dir / 'samsyn.db'}"
    upgrade(url)
    app = create_app({"DATA_DIR": data_dir, "DATABASE_URL": url})
    database = services(app).db
    with database.session() as session:
        for (org, hsa), (unit, unit_hsa) in ((HOME, HOME_UNIT), (AWAY, AWAY_UNIT)):
            add_org(session, org, hsa, "region")
            add_unit(session, unit, org, unit_hsa)
        add_patient(session, PATIENT, "Tolvan Tolvansson", HOME[0])
        add_user(session, REQUESTER, HOME[0], "pathologist", PASSWORD, HOME_UNIT[0])
        add_user(session, CLINICIAN, HOME[0], "clinician", PASSWORD, HOME_UNIT[0])
        add_user(session, REVIEWER, AWAY[0], "pathologist", PASSWORD, AWAY_UNIT[0])
    with database.session() as session:
        from sqlalchemy import select

        from app.models import Organisation, Patient, Unit

        home = session.scalar(select(Organisation).where(Organisation.name == HOME[0]))
        away = session.scalar(select(Organisation).where(Organisation.name == AWAY[0]))
        home_unit = session.scalar(select(Unit).where(Unit.name == HOME_UNIT[0]))
        away_unit = session.scalar(select(Unit).where(Unit.name == AWAY_UNIT[0]))
        patient = session.scalar(select(Patient))
        requester = session.scalar(select(User).where(User.username == REQUESTER))
        assert home and away and home_unit and away_unit and patient and requester
        case = Case(
            title="Benchmark case", patient_id=patient.id, org_id=home.id, unit_id=home_unit.id
        )
        session.add(case)
        session.flush()
        now = datetime.now(UTC)
        rows: list[dict[str, object]] = [
            {
                "id": secrets.token_hex(8),
                "case_id": case.id,
                "requester_id": requester.id,
                "requester_org_id": home.id,
                "requester_unit_id": home_unit.id,
                "copied": [],
                "to_org_id": away.id,
                "to_unit_id": away_unit.id,
                "question": f"Frågeställning {index}",
                "priority": ("acute", "urgent", "routine")[index % 3],
                "due": now + timedelta(hours=index % 500 - 100),
                "images": [],
                "regions": [],
                "blinded": False,
                "status": ("sent", "accepted", "in_review", "answered", "closed")[index % 5],
                "created": now - timedelta(minutes=index),
                "updated": now,
            }
            for index in range(referrals)
        ]
        session.execute(Referral.__table__.insert(), rows)  # type: ignore[attr-defined]
        case_id = case.id
    services(app).close()
    return case_id


class Session:
    """A logged-in user over HTTP, and their live connection (their open page)."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        request = urllib.request.Request(
            f"{base}/api/session",
            data=json.dumps({"username": username, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            self.csrf = json.loads(response.read())["csrf_token"]
            cookie = response.headers["Set-Cookie"].split(";")[0]
        self.cookie = cookie
        self.events: dict[str, float] = {}
        self.heard = threading.Condition()

    def call(self, method: str, path: str, body: object = None) -> tuple[Any, float]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Cookie": self.cookie,
                "X-CSRF-Token": self.csrf,
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            answer = json.loads(response.read())
        return answer, (time.perf_counter() - started) * 1000

    def listen(self) -> Any:
        import socketio

        client = socketio.Client(reconnection=False)

        def referral(data: dict[str, Any]) -> None:
            if data.get("status") == "answered" and data.get("report"):
                with self.heard:
                    self.events[str(data["id"])] = time.perf_counter()
                    self.heard.notify_all()

        client.on("referral", referral, namespace="/live")
        client.connect(
            self.base,
            namespaces=["/live"],
            transports=["websocket"],
            headers={"Cookie": self.cookie},
        )
        return client

    def wait_for(self, referral_id: str, seconds: float = 10.0) -> float:
        deadline = time.perf_counter() + seconds
        with self.heard:
            while referral_id not in self.events:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no signed answer for {referral_id}")
                self.heard.wait(left)
            return self.events[referral_id]


def run(settings: Settings, workdir: Path) -> Figures:
    data_dir = workdir / "referrals"
    data_dir.mkdir(parents=True, exist_ok=True)
    case_id = prepare(data_dir, settings.worklist)
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [*CLI, "serve", "--host", HOST, "--port", str(port)]
    with running_server(
        command, environment(data_dir), workdir / "referrals.log", f"{base}/readyz"
    ):
        requester, clinician, reviewer = (
            Session(base, u) for u in (REQUESTER, CLINICIAN, REVIEWER)
        )
        worklist = [
            reviewer.call("GET", "/api/referrals?box=incoming")[1] for _ in range(settings.queries)
        ]
        filtered = [
            reviewer.call("GET", "/api/referrals?box=incoming&priority=acute&status=sent")[1]
            for _ in range(settings.queries)
        ]
        pages = [requester.listen(), clinician.listen()]
        heard, signing = [], []
        try:
            for index in range(settings.signed):
                sent, _ms = requester.call(
                    "POST",
                    "/api/referrals",
                    {
                        "case": case_id,
                        "to_unit": AWAY_UNIT[0],
                        "question": f"Andra bedömning {index}",
                        "priority": "urgent",
                        "copy": [CLINICIAN],
                    },
                )
                reviewer.call("POST", f"/api/referrals/{sent['id']}/accept")
                reviewer.call(
                    "PUT",
                    f"/api/referrals/{sent['id']}/report",
                    {"findings": "Fynd.", "conclusion": "Bedömning."},
                )
                started = time.perf_counter()
                _answer, request_ms = reviewer.call(
                    "POST", f"/api/referrals/{sent['id']}/report/sign"
                )
                arrived = max(requester.wait_for(sent["id"]), clinician.wait_for(sent["id"]))
                heard.append((arrived - started) * 1000)
                signing.append(request_ms)
        finally:
            for page in pages:
                page.disconnect()
    return Figures(heard, signing, worklist, filtered, settings.worklist)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def format_report(figures: Figures) -> str:
    def row(name: str, values: list[float]) -> list[str]:
        return [
            name,
            str(len(values)),
            f"{statistics.median(values):.1f}",
            f"{percentile(values, 0.95):.1f}",
        ]

    heard_p95 = percentile(figures.sign_to_page_ms, 0.95)
    lines = [
        "## Referrals: signed answer to the referrer, worklist",
        f"load average {load_average():.2f}; default `samsyn serve` (SQLite, no Redis)",
        table(
            ["measure (ms)", "n", "p50", "p95"],
            [
                row("sign -> referrer's page has the answer", figures.sign_to_page_ms),
                row("the sign request itself", figures.sign_request_ms),
                row(f"worklist, {figures.referrals:,} in the box", figures.worklist_ms),
                row("worklist, acute and sent", figures.filtered_ms),
            ],
        ),
        "anchor: an answer on paper or by PACS export reaches the referrer in hours to days;"
        " 100 ms feels instantaneous",
        f"target sign -> page p95 under 100 ms: {verdict(heard_p95 < 100)}",
        f"target worklist p95 under 200 ms: {verdict(percentile(figures.worklist_ms, 0.95) < 200)}",
    ]
    return "\n".join(lines)
