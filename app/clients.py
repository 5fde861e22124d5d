"""Who is on the other end of a request: the client address, behind a trusted proxy too.

A hospital's users may all reach samsyn through one reverse proxy or one NAT address.
`X-Forwarded-For` is believed only when the request comes from a configured proxy, and
then the address nearest to samsyn that is not itself a trusted proxy is the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def client_address(
    remote: str | None, forwarded: str | None, trusted: frozenset[str]
) -> str | None:
    """The client's address: the socket's, or the right-most untrusted hop of a trusted proxy."""
    if not forwarded or remote not in trusted:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return remote


def environ_client(environ: Mapping[str, Any], trusted: frozenset[str]) -> str | None:
    """The client address of a WSGI request."""
    return client_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), trusted)
