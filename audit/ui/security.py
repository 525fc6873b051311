"""Sessions, CSRF tokens and the security headers of every response.

A session is a cookie signed with a key made when the server starts (so a restart logs
everybody out and no secret is written to disk): HttpOnly, SameSite=Strict, Secure when the
request came over HTTPS, and expiring ``lifetime`` seconds after login. It carries the user's
name, a session id (revoked on logout) and the session's CSRF token; the user's role is never
taken from it but read from the store on every request, so disabling a user or changing a
role takes effect at once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from ..review.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "llm_audit_session"
LOGIN_COOKIE = "llm_audit_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"

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


class Sessions:
    def __init__(self, lifetime: int = 8 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._serializer = URLSafeSerializer(secrets.token_bytes(32), salt="llm-audit-session")
        self._login = URLSafeSerializer(secrets.token_bytes(32), salt="llm-audit-login")
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, name: str, *, issued: float | None = None) -> tuple[str, Session]:
        session = Session(name, secrets.token_urlsafe(16), secrets.token_urlsafe(24), issued or self.clock())
        cookie = self._serializer.dumps({"u": name, "sid": session.sid, "csrf": session.csrf, "iat": session.issued})
        return cookie, session

    def read(self, cookie: str) -> Session:
        """The session in ``cookie``; 401 if forged, expired or logged out."""
        try:
            data = self._serializer.loads(cookie)
            session = Session(str(data["u"]), str(data["sid"]), str(data["csrf"]), float(data["iat"]))
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

    # Login CSRF: the login form carries a token that must match a cookie set with the form.
    def login_token(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def check_login_token(self, cookie: str | None, token: str | None) -> None:
        try:
            expected = self._login.loads(cookie or "")
        except BadSignature:
            expected = None
        if not token or not isinstance(expected, str) or not hmac.compare_digest(expected, token):
            raise Forbidden("the login form expired or did not come from this server: reload the page and log in again")


def check_csrf(session: Session, token: str | None) -> None:
    """Refuse (403) a state-changing request whose CSRF token is missing or not this session's."""
    if not token or not hmac.compare_digest(session.csrf, token):
        raise Forbidden("the CSRF token is missing or wrong: reload the page and try again (nothing was stored)")


def local_path(target: str | None, default: str = "/queue") -> str:
    """A redirect target only if it is a path on this server (no scheme, no host, no //)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
