"""The gateway's route matching, tokens and the claims a Cognito authorizer passes on."""

from __future__ import annotations

import time

import jwt
import pytest

from local.auth import TokenIssuer, authorizer_claims
from local.gateway import Route, find_route
from local.specs import RouteSpec

pytestmark = pytest.mark.e2e


def route(method: str, path: str) -> Route:
    return Route(
        RouteSpec(
            rest_api="api",
            stage="prod",
            resource_path=path,
            method=method,
            function="Fn",
            authorization="NONE",
        )
    )


ROUTES = [
    route("GET", "/accounts/{contractor_id}"),
    route("GET", "/accounts/me"),
    route("POST", "/accounts"),
    route("ANY", "/files/{proxy+}"),
    route("GET", "/"),
]


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("GET", "/accounts/me", "/accounts/me", {}),
        ("GET", "/accounts/c-1", "/accounts/{contractor_id}", {"contractor_id": "c-1"}),
        ("GET", "/accounts/a%20b", "/accounts/{contractor_id}", {"contractor_id": "a b"}),
        ("POST", "/accounts/", "/accounts", {}),
        ("DELETE", "/files/a/b.pdf", "/files/{proxy+}", {"proxy": "a/b.pdf"}),
        ("GET", "/", "/", {}),
    ],
)
def test_the_most_specific_resource_wins(method, path, resource, parameters):
    found = find_route(ROUTES, method, path)
    assert isinstance(found, tuple)
    assert found[0].spec.resource_path == resource
    assert found[1] == parameters


def test_a_known_path_with_another_method_and_an_unknown_path_are_told_apart():
    assert find_route(ROUTES, "DELETE", "/accounts") is False
    assert find_route(ROUTES, "GET", "/nowhere") is None
    assert find_route(ROUTES, "GET", "/files") is None  # a greedy parameter needs a segment


def test_tokens_verify_their_signature_issuer_audience_and_expiry():
    issuer = TokenIssuer("http://127.0.0.1:1/_local")
    claims = issuer.verify(
        issuer.issue(contractor_id="c-1", scope=["billing/read", "billing/write"])
    )
    assert claims["sub"] == "c-1"
    assert claims["client_id"] == claims["aud"] == "local-client"
    assert claims["scope"] == "billing/read billing/write"
    assert "role" not in claims
    assert issuer.verify(issuer.issue(role="admin"))["role"] == "admin"

    with pytest.raises(jwt.ExpiredSignatureError):
        issuer.verify(issuer.issue(contractor_id="c-1", expires_in=-10))
    other = TokenIssuer("http://127.0.0.1:1/_local")
    with pytest.raises(jwt.InvalidSignatureError):
        issuer.verify(other.issue(contractor_id="c-1"))
    elsewhere = TokenIssuer("http://elsewhere/_local")
    forged = jwt.encode(
        {
            "iss": "http://elsewhere/_local",
            "sub": "c",
            "aud": "local-client",
            "exp": int(time.time()) + 60,
        },
        elsewhere._private_key,
        algorithm="RS256",
    )
    with pytest.raises(jwt.InvalidTokenError):
        issuer.verify(forged)
    with pytest.raises(ValueError):
        issuer.issue(contractor_id="c-1", role="admin")


def test_authorizer_claims_are_strings_with_api_gateway_dates():
    claims = authorizer_claims(
        {"sub": "c-1", "exp": 1741176000, "iat": 1741172400, "auth_time": 1741172400}
    )
    assert claims == {
        "sub": "c-1",
        "exp": "Wed Mar 05 12:00:00 UTC 2025",
        "iat": "Wed Mar 05 11:00:00 UTC 2025",
        "auth_time": "1741172400",
    }


def test_jwks_publishes_the_public_key():
    issuer = TokenIssuer("http://127.0.0.1:1/_local")
    (key,) = issuer.jwks()["keys"]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(key)
    token = issuer.issue(contractor_id="c-1")
    assert jwt.decode(token, public, algorithms=["RS256"], audience="local-client")["sub"] == "c-1"
