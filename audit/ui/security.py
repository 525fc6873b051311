"""Sessions, CSRF tokens and the security headers of every response.

A session is a cookie signed with a key made when the server starts (so a restart logs
everybody out and no secret is written to disk): HttpOnly, SameSite=Lax (so following a link
from an e-mail or a ticket keeps the user logged in; every state change still needs the
session's CSRF token, which another site cannot read), Secure when the request came over HTTPS
(directly, or from a proxy allowed by ``--forwarded-allow-ips``), and expiring ``lifetime``
seconds after login. It carries the user's name, a session id (revoked on logout, and when the
same browser logs in again), the session's CSRF token and the account's session generation at
login; the user's role is never taken from it but read from the store on every request, and a
change of password, role or state (disable, enable) ends it (see ``UserRepository.generation``).

The login form carries a token bound to a cookie set with the form: it expires after
``LOGIN_FORM_SECONDS`` and is accepted once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from ..review.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "llm_audit_session"
LOGIN_COOKIE = "llm_audit_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
LOGIN_FORM_SECONDS = 3600
HSTS = "max-age=31536000"  # sent on every HTTPS response: browsers then refuse plain HTTP to this host

# No script may run and nothing may load from anywhere but this server; forms post only here.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


@dataclass(frozen=True)
class Session:
    name: str
    sid: str
    csrf: str
    issued: float
    generation: str = ""  # the account's session generation at login


def is_https(request) -> bool:
    """Whether the request came over HTTPS (uvicorn's TLS, or X-Forwarded-Proto from an allowed proxy)."""
    return request.url.scheme == "https"


def cookie_options(request, *, path: str = "/") -> dict:
    return {"httponly": True, "samesite": "lax", "path": path, "secure": is_https(request)}


class Sessions:
    def __init__(self, lifetime: int = 8 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._serializer = URLSafeSerializer(secrets.token_bytes(32), salt="llm-audit-session")
        self._login = URLSafeTimedSerializer(secrets.token_bytes(32), salt="llm-audit-login")
        self._revoked: dict[str, float] = {}
        self._used_forms: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, name: str, generation: str = "", *, issued: float | None = None) -> tuple[str, Session]:
        session = Session(
            name, secrets.token_urlsafe(16), secrets.token_urlsafe(24), issued or self.clock(), generation
        )
        cookie = self._serializer.dumps(
            {"u": name, "sid": session.sid, "csrf": session.csrf, "iat": session.issued, "g": generation}
        )
        return cookie, session

    def read(self, cookie: str) -> Session:
        """The session in ``cookie``; 401 if forged, expired or logged out."""
        try:
            data = self._serializer.loads(cookie)
            session = Session(
                str(data["u"]), str(data["sid"]), str(data["csrf"]), float(data["iat"]), str(data.get("g", ""))
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            raise Unauthenticated("the session is not valid: log in again") from None
        if self.clock() - session.issued > self.lifetime:
            raise Unauthenticated("the session expired: log in again")
        with self._lock:
            if session.sid in self._revoked:
                raise Unauthenticated("the session was logged out: log in again")
        return session

    def revoke(self, session: Session) -> None:
        with self._lock:
            now = self.clock()
            self._revoked = {sid: at for sid, at in self._revoked.items() if now - at <= self.lifetime}
            self._revoked[session.sid] = session.issued

    # Login CSRF: the login form carries a token that must match a cookie set with the form; used once.
    def login_token(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def check_login_token(self, cookie: str | None, token: str | None) -> None:
        """Accept the login form's ``token`` once (a second post of the same form is refused, 403)."""
        try:
            expected = self._login.loads(cookie or "", max_age=LOGIN_FORM_SECONDS)
        except (BadSignature, SignatureExpired):
            expected = None
        if not token or not isinstance(expected, str) or not hmac.compare_digest(expected, token):
            raise Forbidden("the login form expired or did not come from this server: reload the page and log in again")
        with self._lock:
            now = time.monotonic()
            self._used_forms = {t: at for t, at in self._used_forms.items() if now - at <= LOGIN_FORM_SECONDS}
            if token in self._used_forms:
                raise Forbidden("this login form was already used: reload the page and log in again")
            self._used_forms[token] = now


def check_csrf(session: Session, token: str | None) -> None:
    """Refuse (403) a state-changing request whose CSRF token is missing or not this session's."""
    if not token or not hmac.compare_digest(session.csrf, token):
        raise Forbidden("the CSRF token is missing or wrong: reload the page and try again (nothing was stored)")


def local_path(target: str | None, default: str = "/queue") -> str:
    """A redirect target only if it is a path on this server (no scheme, no host, no //)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
