"""The local gateway's ``/app/`` and its stand-in for the user pool's hosted login
(``local/web.py``), over WSGI without a stack or a browser: the code grant with PKCE as
Cognito runs it, and the page's files with their security headers."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from local.auth import TokenIssuer
from local.gateway import Gateway
from local.web import AUTHORIZE_PATH, TOKEN_PATH, pkce_challenge

HOST = "http://127.0.0.1:3999"
PAGE = f"{HOST}/app/"
STRIPE = "http://127.0.0.1:8999"
VERIFIER = "v" * 43 + "-verifier_that-is-long-enough"


class _Control:
    """What the page asks of the stack: its Stripe endpoint and its clock."""

    def config(self) -> dict[str, Any]:
        return {"stripe_endpoint": STRIPE}

    def now(self) -> datetime:
        return datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(f"{HOST}/_local")


@pytest.fixture
def client(issuer: TokenIssuer) -> Client:
    gateway = Gateway(
        [], runtime=None, tokens=issuer, control=_Control(), default_scopes=["billing/contractor"]
    )  # type: ignore[arg-type]
    return Client(gateway.wsgi)


def _authorize_fields(**overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "local-client",
        "redirect_uri": PAGE,
        "scope": "openid billing/contractor",
        "state": "state-1",
        "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }


def _code(client: Client, contractor_id: str = "c-1", **overrides: str) -> str:
    response = client.post(
        AUTHORIZE_PATH,
        data={**_authorize_fields(**overrides), "contractor_id": contractor_id},
        base_url=HOST,
    )
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == PAGE
    query = parse_qs(location.query)
    assert query["state"] == ["state-1"]
    return query["code"][0]


def _redeem(client: Client, code: str, verifier: str = VERIFIER, **overrides: str):
    return client.post(
        TOKEN_PATH,
        data={
            "grant_type": "authorization_code",
            "client_id": "local-client",
            "code": code,
            "redirect_uri": PAGE,
            "code_verifier": verifier,
            **overrides,
        },
        base_url=HOST,
    )


def test_the_pkce_challenge_is_rfc_7636_s256() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert pkce_challenge(verifier) == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_the_login_form_keeps_the_request_and_offers_the_demo_contractor(client: Client) -> None:
    response = client.get(AUTHORIZE_PATH, query_string=_authorize_fields(), base_url=HOST)

    assert response.status_code == 200
    assert 'value="demo-contractor"' in response.text
    assert f'name="code_challenge" value="{pkce_challenge(VERIFIER)}"' in response.text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_a_code_redeemed_with_its_verifier_gives_a_contractor_access_token(
    client: Client, issuer: TokenIssuer
) -> None:
    answer = _redeem(client, _code(client, "c-1"))

    assert answer.status_code == 200
    body = answer.json
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert answer.headers["Cache-Control"] == "no-store"
    claims = issuer.verify(body["access_token"])
    assert claims["username"] == "c-1"
    assert claims["token_use"] == "access"
    assert claims["scope"] == "openid billing/contractor"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"verifier": "another-verifier-that-is-also-long-enough-0123456789"}, "invalid_grant"),
        ({"redirect_uri": f"{HOST}/app/elsewhere"}, "invalid_grant"),
        ({"client_id": "another-client"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_a_code_is_refused_without_its_verifier_redirect_or_client(
    client: Client, overrides: dict[str, str], error: str
) -> None:
    code = _code(client)
    answer = _redeem(client, code, **overrides)

    assert answer.status_code == 400
    assert answer.json["error"] == error


def test_a_code_is_redeemed_once_only(client: Client) -> None:
    code = _code(client)

    assert _redeem(client, code).status_code == 200
    again = _redeem(client, code)
    assert (again.status_code, again.json["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://evil.example/app/"},
        {"redirect_uri": f"{HOST}/docs"},
        {"client_id": "another-client"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"response_type": "token"},
    ],
)
def test_the_sign_in_refuses_other_clients_redirects_and_flows(
    client: Client, overrides: dict[str, str]
) -> None:
    form = client.get(AUTHORIZE_PATH, query_string=_authorize_fields(**overrides), base_url=HOST)
    submitted = client.post(
        AUTHORIZE_PATH,
        data={**_authorize_fields(**overrides), "contractor_id": "c-1"},
        base_url=HOST,
    )

    assert form.status_code == submitted.status_code == 400
    assert "Location" not in submitted.headers


def test_the_page_is_served_with_its_security_headers_and_its_configuration(
    client: Client,
) -> None:
    page = client.get("/app/", base_url=HOST)
    config = client.get("/app/config.json", base_url=HOST)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="app.js"></script>' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert f"script-src 'self' {STRIPE}" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert config.headers["Cache-Control"] == "no-store"
    assert config.json == {
        "api_base_url": "",
        "stripe": {"publishable_key": "pk_test_local", "js_url": f"{STRIPE}/js.stripe.com/v3/"},
        "auth": {
            "authorize_url": AUTHORIZE_PATH,
            "token_url": TOKEN_PATH,
            "client_id": "local-client",
            "scope": "openid billing/contractor",
        },
        "clock": {"now": "2025-03-05T12:00:00+00:00"},
        "environment": "local",
    }
    redirect = client.get("/app", base_url=HOST)
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/app/")


@pytest.mark.parametrize(
    "path", ["/app/../README.md", "/app/%2e%2e/README.md", "/app/.hidden", "/app/nothing.js"]
)
def test_nothing_but_the_pages_files_is_served(client: Client, path: str) -> None:
    response = client.get(path, base_url=HOST)

    assert response.status_code in (403, 404)
    assert b"Lead billing" not in response.data
