"""Who may talk to the task API: same-site callers, and with a token when one is set.

A server on 127.0.0.1 is still reachable from every web page the user opens: a page can POST
a form (multipart is a "simple" request, sent without a CORS preflight) to
http://127.0.0.1:8000, and by DNS rebinding (attacker.example resolving to 127.0.0.1) can
even read the answers. So, before any route runs:

- Host: a server bound to loopback answers only requests addressed to a loopback name
  (localhost, 127.0.0.1, [::1]), which a rebound name is not.
- Origin: a request a browser sends from another site carries that site's Origin (or
  `Sec-Fetch-Site: cross-site`); it is refused unless the operator allowed that origin.
  Clients that are not browsers send no Origin and are not affected.
- Token: with `--token` (or $SVLAB_TOKEN) every /api request needs `Authorization: Bearer
  TOKEN`, and a server bound beyond loopback refuses to start without one.

Refusals are JSON `{"detail": ...}`: 403 for Host/Origin, 401 (with WWW-Authenticate) for a
missing or wrong token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from svlab.core.errors import InputError

TOKEN_ENV = "SVLAB_TOKEN"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything


@dataclass(frozen=True)
class AccessPolicy:
    """The rules for one server: its token, whether Host must be a loopback name, and the
    browser origins (scheme://host[:port]) allowed besides the server's own."""

    token: str | None = None
    loopback_only: bool = True
    allowed_origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_bind(cls, host: str, token: str | None,
                 allowed_origins: tuple[str, ...] = ()) -> "AccessPolicy":
        """The policy of a server bound to `host`; InputError when it would be exposed
        without a token, or a token is too short to be one."""
        token = token or None
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise InputError(f"the token has {len(token)} characters; accepted: at least "
                             f"{MIN_TOKEN_CHARS} (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe())')")
        loopback = is_loopback(host)
        if not loopback and token is None:
            raise InputError(f"--host {host} exposes the API beyond this machine; give a "
                             f"token (--token, or ${TOKEN_ENV}) that clients must send")
        origins = frozenset(_origin(o) for o in allowed_origins)
        if "" in origins:
            raise InputError("--allow-origin takes an origin such as "
                             "https://lab.example.org (scheme, host and port)")
        return cls(token=token, loopback_only=loopback, allowed_origins=origins)

    def refusal(self, headers: Headers, scheme: str) -> str | None:
        """Why a request with these headers is refused by Host or Origin (None: it is not)."""
        host = headers.get("host")
        if host is not None and self.loopback_only and _hostname(host) not in LOOPBACK_NAMES:
            return (f"Host {host[:100]!r} is not this server's; a server bound to loopback "
                    "answers localhost, 127.0.0.1 and [::1] only")
        origin = headers.get("origin")
        if origin is not None:
            own = f"{scheme}://{host}".lower() if host else None
            if origin.lower() != own and _origin(origin) not in self.allowed_origins:
                return (f"cross-site request from origin {origin[:100]!r} refused; "
                        "accepted: this server's own pages, or origins allowed with "
                        "--allow-origin")
        elif headers.get("sec-fetch-site") == "cross-site":
            return "cross-site request refused (Sec-Fetch-Site: cross-site)"
        return None


class SameSiteGuard:
    """ASGI middleware applying `AccessPolicy.refusal` to every HTTP request."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy):
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            reason = self.policy.refusal(Headers(scope=scope), scope.get("scheme", "http"))
            if reason is not None:
                body = json.dumps({"detail": reason}).encode()
                await send({"type": "http.response.start", "status": 403, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


bearer = HTTPBearer(auto_error=False, description="the server's token (svlab serve --token)")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """FastAPI dependency: 401 unless the request carries the server's token (if it has one).
    Declared on the routers, so it runs before a request body is read."""
    token = request.app.state.policy.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "missing or wrong token; send the header "
                                 "'Authorization: Bearer TOKEN' with the server's token",
                            headers={"WWW-Authenticate": "Bearer"})


def _hostname(host: str) -> str:
    """The name in a Host header, without port and brackets, lower case."""
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return ""


def _origin(origin: str) -> str:
    try:
        parts = urlsplit(origin.strip().lower())
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
