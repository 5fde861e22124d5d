"""The pages of samsyn, served from static/. Pages other than the login page need a session."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, redirect, request, send_from_directory

bp = Blueprint("pages", __name__)


def page(name: str) -> Response:
    """A static page for a logged-in user; everyone else goes to the login page first."""
    if getattr(g, "principal", None) is None:
        return redirect(f"/login?next={quote(request.full_path.rstrip('?'))}")  # type: ignore[return-value]
    response = send_from_directory(current_app.config["STATIC_DIR"], name)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/login")
def login_page() -> Response:
    return send_from_directory(current_app.config["STATIC_DIR"], "login.html")


@bp.get("/")
def home() -> Response:
    """Everyone starts at their cases (the worklist); the image list lives at /images."""
    return redirect("/cases")  # type: ignore[return-value]


@bp.get("/images")
def image_list() -> Response:
    return page("index.html")


@bp.get("/viewer/<image_id>")
def viewer(image_id: str) -> Response:
    return page("viewer.html")


@bp.get("/cases")
def cases_page() -> Response:
    return page("cases.html")


@bp.get("/cases/<case_id>")
def case_page(case_id: str) -> Response:
    return page("cases.html")


@bp.get("/audit")
def audit_page() -> Response:
    return page("audit.html")


@bp.get("/my/access-log")
def access_log_page() -> Response:
    return page("access-log.html")


@bp.get("/referrals")
def referrals_page() -> Response:
    """The referral worklist (remisser): incoming and sent."""
    return page("referrals.html")


@bp.get("/referrals/<referral_id>")
def referral_page(referral_id: str) -> Response:
    """One referral and its answer (svar)."""
    return page("referrals.html")
