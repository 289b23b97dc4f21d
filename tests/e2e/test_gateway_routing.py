"""The gateway's route matching, tokens, the authorization of each method as API Gateway
does it, and the claims a Cognito authorizer passes on."""

from __future__ import annotations

import time

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.auth import TokenIssuer, authorizer_claims, user_sub
from local.gateway import Gateway, Route, find_route
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


def test_tokens_verify_their_signature_issuer_client_and_expiry():
    issuer = TokenIssuer("http://127.0.0.1:1/_local")
    claims = issuer.verify(
        issuer.issue(contractor_id="c-1", scope=["billing/read", "billing/write"])
    )
    assert claims["username"] == "c-1"
    assert claims["sub"] == user_sub("c-1") != "c-1"  # as in Cognito, an opaque user id
    assert claims["client_id"] == "local-client"
    assert "aud" not in claims  # Cognito access tokens name their client in client_id
    assert claims["token_use"] == "access"
    assert claims["scope"] == "billing/read billing/write"
    assert "role" not in claims
    assert issuer.verify(issuer.issue(role="admin"))["role"] == "admin"

    with pytest.raises(jwt.ExpiredSignatureError):
        issuer.verify(issuer.issue(contractor_id="c-1", expires_in=-10))
    other = TokenIssuer("http://127.0.0.1:1/_local")
    with pytest.raises(jwt.InvalidSignatureError):
        issuer.verify(other.issue(contractor_id="c-1"))
    another_client = TokenIssuer("http://127.0.0.1:1/_local", client_id="another-client")
    another_client._private_key = issuer._private_key
    with pytest.raises(jwt.InvalidAudienceError):
        issuer.verify(another_client.issue(contractor_id="c-1"))
    elsewhere = TokenIssuer("http://elsewhere/_local")
    forged = jwt.encode(
        {
            "iss": "http://elsewhere/_local",
            "sub": "c",
            "client_id": "local-client",
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
    assert jwt.decode(token, public, algorithms=["RS256"])["username"] == "c-1"


# ------------------------------------------------------------------ authorization

ISSUER = TokenIssuer("http://127.0.0.1:1/_local")


def _gateway() -> Gateway:
    return Gateway([], runtime=None, tokens=ISSUER, control=None)  # type: ignore[arg-type]


def _method(authorization: str, scopes: tuple[str, ...] = ()) -> RouteSpec:
    return RouteSpec(
        rest_api="api",
        stage="prod",
        resource_path="/me/card/setup-intent",
        method="POST",
        function="Fn",
        authorization=authorization,
        scopes=scopes,
    )


def _authorize(spec: RouteSpec, token: str | None) -> tuple[int | None, dict | None]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = Request(
        EnvironBuilder(method="POST", path=spec.resource_path, headers=headers).get_environ()
    )
    denied, claims = _gateway()._authorize(spec, request)
    return (denied.status_code if denied is not None else None), claims


CONTRACTOR_METHOD = _method("COGNITO_USER_POOLS", ("billing/contractor",))


def _signed(**claims) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": ISSUER.issuer, "client_id": "local-client", "iat": now, "exp": now + 60, **claims},
        ISSUER._private_key,
        algorithm="RS256",
        headers={"kid": "local-1"},
    )


def test_a_contractor_access_token_with_the_scope_reaches_the_method_with_its_claims():
    status, claims = _authorize(
        CONTRACTOR_METHOD, ISSUER.issue(contractor_id="c-1", scope="openid billing/contractor")
    )

    assert status is None
    assert claims is not None
    assert claims["username"] == "c-1"
    assert claims["scope"] == "openid billing/contractor"


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(None, 401, id="no token"),
        pytest.param("not-a-jwt", 401, id="not a JWT"),
        pytest.param(
            ISSUER.issue(contractor_id="c-1", scope="billing/contractor", expires_in=-5),
            401,
            id="expired",
        ),
        pytest.param(
            TokenIssuer("http://127.0.0.1:1/_local").issue(
                contractor_id="c-1", scope="billing/contractor"
            ),
            401,
            id="another key",
        ),
        pytest.param(
            _signed(
                sub="u",
                username="c-1",
                token_use="access",
                scope="billing/contractor",
                client_id="another-client",
            ),
            401,
            id="another client",
        ),
        pytest.param(
            _signed(sub="u", username="c-1", token_use="id", scope="billing/contractor"),
            401,
            id="an ID token",
        ),
        pytest.param(ISSUER.issue(role="admin"), 401, id="an admin token"),
        pytest.param(
            ISSUER.issue(contractor_id="c-1", scope="billing/read openid"), 401, id="no scope"
        ),
        pytest.param(ISSUER.issue(contractor_id="c-1"), 401, id="no scope claim"),
    ],
)
def test_a_cognito_method_with_scopes_refuses_what_api_gateway_refuses(token, status):
    assert _authorize(CONTRACTOR_METHOD, token) == (status, None)


def test_a_scope_is_a_whole_word_of_the_scope_claim():
    token = ISSUER.issue(contractor_id="c-1", scope="billing/contractors billing")

    assert _authorize(CONTRACTOR_METHOD, token)[0] == 401


def test_a_method_without_authorization_takes_no_token():
    assert _authorize(_method("NONE"), None) == (None, None)
    # A token sent anyway is not verified, and no claims are passed on.
    assert _authorize(_method("NONE"), "not-a-jwt") == (None, None)


def test_an_iam_method_takes_an_admin_token_only():
    assert _authorize(_method("AWS_IAM"), None)[0] == 403
    assert _authorize(_method("AWS_IAM"), ISSUER.issue(role="admin"))[0] is None
    contractor = ISSUER.issue(contractor_id="c-1", scope="billing/contractor")
    assert _authorize(_method("AWS_IAM"), contractor)[0] == 403
