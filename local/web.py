"""The Lead Manager's billing page on the local gateway, and the local sign-in it uses.

* ``/app/`` serves ``web/`` as it is (no build step), with the page's security headers
  (``infra/web_headers.py``; Stripe.js comes from localstripe), and ``/app/config.json``,
  which the deployed stack writes into the page's bucket: the API (this origin), Stripe's
  publishable key and Stripe.js (localstripe's), the sign-in endpoints, and the simulated
  clock, which the page counts the grace period down from.
* ``/_local/oauth2/authorize`` and ``/_local/oauth2/token`` stand for the user pool
  domain's OAuth 2.0 endpoints: the authorization code grant with PKCE (S256), as the page
  runs it against Cognito's hosted login when deployed. The local login form takes a
  contractor id and no password (``demo-contractor`` by default); the token endpoint
  redeems the code, once and within five minutes, for an access token like the one
  ``POST /_local/token`` issues for that contractor, so the page's code is the same in
  both stacks.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from infra.web_headers import REFERRER_POLICY, local_policy
from local.auth import TokenIssuer

if TYPE_CHECKING:
    from local.gateway import Control

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGE_PATH = "/app/"
CONFIG_PATH = "/app/config.json"
AUTHORIZE_PATH = "/_local/oauth2/authorize"
TOKEN_PATH = "/_local/oauth2/token"  # noqa: S105 - a path
# localstripe takes any publishable key (``pk_...``) where Stripe.js sends one.
PUBLISHABLE_KEY = "pk_test_local"
DEFAULT_CONTRACTOR = "demo-contractor"
# What the page asks for, as the deployed app client allows it.
SIGN_IN_SCOPES = ("openid",)
# Cognito's authorization codes are valid for five minutes, and once.
CODE_TTL_SECONDS = 300
ACCESS_TOKEN_SECONDS = 3600
# A Cognito username, as the contractor ids are.
_CONTRACTOR_ID = re.compile(r"[\w.@+:~-]{1,128}")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@dataclass(frozen=True)
class _Grant:
    contractor_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    expires: float


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url of the SHA-256 of the verifier, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def security_headers(stripe_origin: str) -> dict[str, str]:
    """The page's headers on the local gateway: those CloudFront sends, but HSTS (no TLS)."""
    return {
        "Content-Security-Policy": local_policy(stripe_origin),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": REFERRER_POLICY,
    }


class LeadManagerPage:
    """``/app/`` and the local sign-in, for the gateway."""

    def __init__(
        self, control: Control, tokens: TokenIssuer, default_scopes: Sequence[str]
    ) -> None:
        self.control = control
        self.tokens = tokens
        self.default_scopes = list(default_scopes)
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._stripe: str | None = None

    # ------------------------------------------------------------------ routing

    @staticmethod
    def serves(request: Request) -> bool:
        path = request.path
        return path == "/app" or path.startswith(PAGE_PATH) or path.startswith("/_local/oauth2/")

    def respond(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == AUTHORIZE_PATH and method == "GET":
            return self._authorize_form(request)
        if path == AUTHORIZE_PATH and method == "POST":
            return self._authorize(request)
        if path == TOKEN_PATH and method == "POST":
            return self._token(request)
        if path.startswith("/_local/"):
            return _json(404, {"message": f"no local endpoint {method} {path}"})
        if method not in ("GET", "HEAD"):
            return self._page_response(Response("method not allowed", status=405))
        if path == "/app":
            return Response(status=301, headers={"Location": PAGE_PATH})
        if path == CONFIG_PATH:
            return self._page_response(_json(200, self.config(request)), cache="no-store")
        return self._static(path[len(PAGE_PATH) :] or "index.html")

    # ------------------------------------------------------------------ the page

    def _stripe_origin(self) -> str:
        if self._stripe is None:
            self._stripe = str(self.control.config()["stripe_endpoint"]).rstrip("/")
        return self._stripe

    def config(self, request: Request) -> dict[str, Any]:
        """What the deployed stack writes as ``config.json`` beside the page, for this
        stack. ``api_base_url`` is empty: the API is on the page's own origin."""
        stripe = self._stripe_origin()
        return {
            "api_base_url": "",
            "stripe": {"publishable_key": PUBLISHABLE_KEY, "js_url": f"{stripe}/js.stripe.com/v3/"},
            "auth": {
                "authorize_url": AUTHORIZE_PATH,
                "token_url": TOKEN_PATH,
                "client_id": self.tokens.client_id,
                "scope": " ".join([*SIGN_IN_SCOPES, *self.default_scopes]),
            },
            # The local clock is simulated: the page counts down from this instant.
            "clock": {"now": self.control.now().isoformat()},
            "environment": "local",
        }

    def _static(self, name: str) -> Response:
        parts = name.split("/")
        if any(not part or part.startswith(".") for part in parts):
            return self._not_found()
        path = WEB_DIR.joinpath(*parts)
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or not path.resolve().is_relative_to(WEB_DIR):
            return self._not_found()
        return self._page_response(
            Response(path.read_bytes(), headers={"Content-Type": content_type}), cache="no-cache"
        )

    def _not_found(self) -> Response:
        return self._page_response(
            Response("not found", status=404, mimetype="text/plain"), cache="no-cache"
        )

    def _page_response(self, response: Response, cache: str = "no-cache") -> Response:
        response.headers.update(security_headers(self._stripe_origin()))
        response.headers["Cache-Control"] = cache
        return response

    # ------------------------------------------------------------------ the sign-in

    def _check_client(self, request: Request, values: dict[str, str]) -> None:
        """The checks Cognito makes before it shows its login page: this client, the code
        grant with an S256 challenge, and a redirect to the page on this gateway (the
        deployed app client allows its CallbackUrls only)."""
        if values.get("client_id") != self.tokens.client_id:
            raise OAuthError("invalid_client", "unknown client_id")
        if values.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        if values.get("code_challenge_method") != "S256" or not values.get("code_challenge"):
            raise OAuthError("invalid_request", "a code_challenge with method S256 is required")
        redirect = urlsplit(values.get("redirect_uri", ""))
        here = urlsplit(request.host_url)
        if (redirect.scheme, redirect.netloc) != (here.scheme, here.netloc) or not (
            redirect.path.startswith(PAGE_PATH)
        ):
            raise OAuthError("invalid_request", f"redirect_uri must be this gateway's {PAGE_PATH}")

    def _authorize_form(self, request: Request) -> Response:
        values = {key: request.args.get(key, "") for key in _AUTHORIZE_FIELDS}
        try:
            self._check_client(request, values)
        except OAuthError as error:
            return self._page_response(_error_page(error), cache="no-store")
        hidden = "\n".join(
            f'      <input type="hidden" name="{name}" value="{html.escape(values[name])}">'
            for name in _AUTHORIZE_FIELDS
        )
        page = _LOGIN_FORM.format(
            action=AUTHORIZE_PATH, hidden=hidden, contractor=html.escape(DEFAULT_CONTRACTOR)
        )
        return self._page_response(Response(page, mimetype="text/html"), cache="no-store")

    def _authorize(self, request: Request) -> Response:
        values = {key: request.form.get(key, "") for key in _AUTHORIZE_FIELDS}
        contractor_id = request.form.get("contractor_id", "").strip()
        try:
            self._check_client(request, values)
            if not _CONTRACTOR_ID.fullmatch(contractor_id):
                raise OAuthError("invalid_request", "give a contractor id")
        except OAuthError as error:
            return self._page_response(_error_page(error), cache="no-store")
        requested = values["scope"].split()
        allowed = {*SIGN_IN_SCOPES, *self.default_scopes}
        scope = " ".join(s for s in requested if s in allowed) or " ".join(self.default_scopes)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            self._grants[code] = _Grant(
                contractor_id=contractor_id,
                client_id=values["client_id"],
                redirect_uri=values["redirect_uri"],
                code_challenge=values["code_challenge"],
                scope=scope,
                expires=time.monotonic() + CODE_TTL_SECONDS,
            )
        query = {"code": code, **({"state": values["state"]} if values["state"] else {})}
        separator = "&" if "?" in values["redirect_uri"] else "?"
        location = f"{values['redirect_uri']}{separator}{urlencode(query)}"
        return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    def _token(self, request: Request) -> Response:
        form = request.form
        try:
            if form.get("grant_type") != "authorization_code":
                raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code")
            with self._lock:
                self._drop_expired()
                grant = self._grants.pop(form.get("code", ""), None)  # once only
            if grant is None:
                raise OAuthError("invalid_grant", "unknown, used or expired code")
            if form.get("client_id") != grant.client_id:
                raise OAuthError("invalid_client", "the code was issued to another client")
            if form.get("redirect_uri") != grant.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's")
            verifier = form.get("code_verifier", "")
            if not secrets.compare_digest(pkce_challenge(verifier), grant.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the challenge")
        except OAuthError as error:
            return _json(
                error.status, {"error": error.error, "error_description": error.description}
            )
        token = self.tokens.issue(
            contractor_id=grant.contractor_id,
            scope=grant.scope,
            expires_in=ACCESS_TOKEN_SECONDS,
        )
        return _json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS},
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for code in [code for code, grant in self._grants.items() if grant.expires <= now]:
            del self._grants[code]


_AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)

_LOGIN_FORM = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in (local) · Lead Manager</title>
  <link rel="icon" href="/app/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/app/style.css">
</head>
<body>
  <main class="login">
    <h1>Sign in to the Lead Manager</h1>
    <p class="note">Local sign-in of <code>make run</code>: it stands for Cognito's hosted
      login of the deployed stack. No password: the contractor id is the user.</p>
    <form method="post" action="{action}">
{hidden}
      <label for="contractor_id">Contractor id</label>
      <input id="contractor_id" name="contractor_id" value="{contractor}" required
        autocomplete="username" spellcheck="false">
      <button type="submit" class="primary">Sign in</button>
    </form>
  </main>
</body>
</html>
"""


def _error_page(error: OAuthError) -> Response:
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<title>Sign-in error</title><link rel="stylesheet" href="/app/style.css"></head>'
        f'<body><main class="login"><h1>Sign-in error</h1><p role="alert">'
        f"{html.escape(error.error)}: {html.escape(error.description)}</p></main></body></html>"
    )
    return Response(body, status=error.status, mimetype="text/html")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {}, mimetype="application/json"
    )
