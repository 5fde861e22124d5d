"""Logging in and out, and who am I."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.access import client
from app.api import json_object
from app.auth import COOKIE, Sessions, current_principal
from app.models import User
from app.services import services
from samsyn.errors import BadRequest

bp = Blueprint("session", __name__, url_prefix="/api")


def sessions() -> Sessions:
    return services().sessions


@bp.post("/session")
def login() -> Response:
    body = json_object('send JSON: {"username": ..., "password": ...}')
    principal, token = sessions().login(body.get("username"), body.get("password"), client())
    response = jsonify({"user": principal.public(), "csrf_token": principal.csrf_token})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        path="/",
    )
    return response


@bp.delete("/session")
def logout() -> Response:
    sessions().logout(current_principal())
    response = jsonify({"ok": True})
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.get("/me")
def me() -> Response:
    principal = current_principal()
    return jsonify({"user": principal.public(), "csrf_token": principal.csrf_token})


LANGUAGES = ("sv", "en")


@bp.put("/me/language")
def choose_language() -> Response:
    """The interface language the user chose, remembered for every later page and session."""
    principal = current_principal()
    language = json_object().get("language")
    if language not in LANGUAGES:
        raise BadRequest("language is sv or en")
    with services().db.session() as session:
        user = session.get(User, principal.user_id)
        if user is not None:
            user.language = str(language)
    return jsonify({"language": language})
