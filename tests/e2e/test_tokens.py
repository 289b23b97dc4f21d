"""Tokens through the local gateway of the synthesized template, as API Gateway takes them:
on a contractor route (Cognito user pool authorizer with the billing/contractor scope) every
token that is not a valid access token of the pool with that scope is answered 401
``{"error": "unauthorized", "message": "Unauthorized"}``, and on an operator route (IAM)
anything but an operator's credentials is answered 403. In no refused case does a function
run: each request carries a probe header, and the local stack's invocation log
(``/_local/invocations``) holds no event with it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import LocalClient
from tests.support.tokens import (
    access_claims,
    hmac_with_public_key,
    signed,
    unsigned,
    with_payload,
)

pytestmark = pytest.mark.e2e

CONTRACTOR = "e2e-tokens"
VICTIM = "e2e-tokens-victim"
BILLING = "/me/billing"
PROBE = "X-Token-Probe"
UNAUTHORIZED = (401, {"error": "unauthorized", "message": "Unauthorized"})
MISSING_AUTHENTICATION_TOKEN = (
    403,
    {"error": "missing_authentication_token", "message": "Missing Authentication Token"},
)
FORBIDDEN = (403, {"error": "forbidden", "message": "Forbidden"})
# A key pair of the attacker's: the right shape, never published by the pool.
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def accounts(local: LocalClient) -> list[str]:
    for contractor_id in (CONTRACTOR, VICTIM):
        created = local.create_account(contractor_id=contractor_id)
        assert created.status_code == 201, created.text
    return [CONTRACTOR, VICTIM]


def _call(local: LocalClient, method: str, path: str, token: str | None) -> tuple[Any, str]:
    """The answer to a request carrying a fresh probe, and the probe."""
    probe = uuid.uuid4().hex
    response = local.request(method, path, token=token, headers={PROBE: probe})
    return response, probe


def _invocations_with(local: LocalClient, probe: str) -> list[dict[str, Any]]:
    return [
        invocation
        for invocation in local.invocations()
        if any(
            key.lower() == PROBE.lower() and value == probe
            for key, value in (invocation["event"].get("headers") or {}).items()
        )
    ]


def _assert_refused(
    local: LocalClient, method: str, path: str, token: str | None, expected: tuple[int, Any]
) -> None:
    response, probe = _call(local, method, path, token)

    assert (response.status_code, response.json()) == expected, response.text
    assert _invocations_with(local, probe) == []


def _pool(local: LocalClient) -> tuple[str, rsa.RSAPrivateKey]:
    """The running stack's issuer and signing key: what only the local user pool has."""
    return local.stack.tokens.issuer, local.stack.tokens.private_key


def _published_public_key(local: LocalClient) -> Any:
    keys = local.http.get(f"{local.api}/_local/.well-known/jwks.json", timeout=30).json()
    (key,) = keys["keys"]
    return jwt.PyJWK(key).key


def test_a_valid_contractor_token_runs_the_function_once_with_its_claims(
    local: LocalClient, accounts: list[str]
):
    # The probe sees an invocation when there is one, so its absence below means something.
    response, probe = _call(local, "GET", BILLING, local.contractor_token(CONTRACTOR))

    assert response.status_code == 200, response.text
    (invocation,) = _invocations_with(local, probe)
    claims = invocation["event"]["requestContext"]["authorizer"]["claims"]
    assert claims["username"] == CONTRACTOR


# Each case builds its token from the running stack; all go to GET /me/billing.
Forgery = Callable[[LocalClient], "str | None"]


def _expired(local: LocalClient) -> str:
    issuer, key = _pool(local)
    now = int(time.time())
    return signed(access_claims(issuer, CONTRACTOR, iat=now - 3600, exp=now - 1), key)


def _not_yet_valid(local: LocalClient) -> str:
    issuer, key = _pool(local)
    return signed(access_claims(issuer, CONTRACTOR, nbf=int(time.time()) + 3600), key)


def _issued_in_the_future(local: LocalClient) -> str:
    issuer, key = _pool(local)
    now = int(time.time())
    return signed(access_claims(issuer, CONTRACTOR, iat=now + 3600, exp=now + 7200), key)


def _wrong_issuer(local: LocalClient) -> str:
    _, key = _pool(local)
    return signed(access_claims("https://cognito-idp.us-east-1.amazonaws.com/x", CONTRACTOR), key)


def _wrong_client(local: LocalClient) -> str:
    issuer, key = _pool(local)
    return signed(access_claims(issuer, CONTRACTOR, client_id="another-app-client"), key)


def _an_id_token(local: LocalClient) -> str:
    issuer, key = _pool(local)
    return signed(access_claims(issuer, CONTRACTOR, token_use="id", aud="local-client"), key)


def _missing_scope(local: LocalClient) -> str:
    return local.token(contractor_id=CONTRACTOR, scope="openid")


def _alg_none(local: LocalClient) -> str:
    issuer, _ = _pool(local)
    return unsigned(access_claims(issuer, CONTRACTOR))


def _hs256_with_the_public_key(local: LocalClient) -> str:
    issuer, _ = _pool(local)
    return hmac_with_public_key(access_claims(issuer, CONTRACTOR), _published_public_key(local))


def _bad_signature(local: LocalClient) -> str:
    issuer, _ = _pool(local)
    return signed(access_claims(issuer, CONTRACTOR), ATTACKER_KEY)


def _tampered_payload(local: LocalClient) -> str:
    # A genuine token of the contractor, its username changed to another account's.
    return with_payload(local.contractor_token(CONTRACTOR), username=VICTIM)


def _unknown_kid(local: LocalClient) -> str:
    issuer, key = _pool(local)
    return signed(access_claims(issuer, CONTRACTOR), key, kid="local-2")


def _admin_token(local: LocalClient) -> str:
    return local.admin_token()


def _no_token(local: LocalClient) -> None:
    return None


@pytest.mark.parametrize(
    "forge",
    [
        _expired,
        _not_yet_valid,
        _issued_in_the_future,
        _wrong_issuer,
        _wrong_client,
        _an_id_token,
        _missing_scope,
        _alg_none,
        _hs256_with_the_public_key,
        _bad_signature,
        _tampered_payload,
        _unknown_kid,
        _admin_token,
        _no_token,
    ],
    ids=lambda forge: forge.__name__.strip("_").replace("_", " "),
)
def test_a_contractor_route_answers_401_and_runs_nothing(
    local: LocalClient, accounts: list[str], forge: Forgery
):
    _assert_refused(local, "GET", BILLING, forge(local), UNAUTHORIZED)


def test_a_tampered_token_reaches_no_contractor_route(local: LocalClient, accounts: list[str]):
    # Every /me method of the template, the money-moving ones among them.
    routes = [
        (route["method"], route["path"].replace("{invoice_id}", f"{VICTIM}~W2026-12-04"))
        for route in local.config["routes"]
        if route["path"].startswith("/me")
    ]
    assert ("POST", "/me/pay") in routes
    token = _tampered_payload(local)

    for method, path in routes:
        _assert_refused(local, method, path, token, UNAUTHORIZED)


def test_an_operator_route_refuses_a_contractor_token(local: LocalClient, accounts: list[str]):
    token = local.contractor_token(CONTRACTOR)

    _assert_refused(local, "GET", f"/admin/accounts/{VICTIM}", token, FORBIDDEN)


def test_an_operator_route_without_credentials_is_missing_its_authentication_token(
    local: LocalClient, accounts: list[str]
):
    _assert_refused(local, "GET", f"/admin/accounts/{VICTIM}", None, MISSING_AUTHENTICATION_TOKEN)


def test_an_operator_route_refuses_a_forged_admin_token(local: LocalClient, accounts: list[str]):
    issuer, _ = _pool(local)
    forged = unsigned({**access_claims(issuer, "x", username=None, scope=None), "role": "admin"})

    _assert_refused(local, "GET", f"/admin/accounts/{VICTIM}", forged, FORBIDDEN)
