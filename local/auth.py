"""Tokens for the local gateway: RS256 JWTs signed with a key pair made at start, and
verified against the key set the gateway publishes, the way API Gateway's Cognito user pool
authorizer verifies a user pool's access tokens.

A contractor token stands for a Cognito access token: issued to the app client
``client_id``, with the contractor id as ``username`` (the claim the functions read) and a
``sub`` that, as in Cognito, is an opaque id of the user rather than the contractor id, and
with the OAuth scopes of its ``scope`` claim (space separated). It is accepted on methods
with a Cognito authorizer. An admin token (``role: admin``) stands for the IAM credentials
of an operator and is accepted on ``AWS_IAM`` methods only.

Like a Cognito access token, neither carries an ``aud`` claim: the client a token was
issued to is its ``client_id``, which ``verify_access_token`` checks. (A REST API's Cognito
authorizer itself only knows the user pool, so it takes a token of any app client of that
pool; the contractors' pool has a single app client, so checking the client here refuses
nothing the deployed stack would take.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHM = "RS256"
CLIENT_ID = "local-client"
KEY_ID = "local-1"
# How far ahead of this clock a token's ``iat`` or ``nbf`` may stand (the issuer's clock
# running a little fast). Expiry gets no leeway: an expired token is refused at once.
CLOCK_SKEW_SECONDS = 60
# The ``token_use`` of an access token (an ID token's is ``id``).
ACCESS_USE = "access"
# What every Cognito access token carries, and what the checks below read.
REQUIRED_CLAIMS = ("iss", "sub", "client_id", "token_use", "exp", "iat")
# The namespace of the local users' ``sub``: one stable id per contractor id.
_USER_NAMESPACE = uuid.UUID("6f1c2b0e-5d1a-4c8e-9b7e-3a2f4d6c8e10")


class UnknownKeyError(jwt.InvalidTokenError):
    """The token names no key (``kid``) of the key set."""


class NotAnAccessTokenError(jwt.InvalidTokenError):
    """The token's ``token_use`` is not ``access`` (an ID token, for instance)."""


def user_sub(contractor_id: str) -> str:
    """The ``sub`` of a contractor's local user: stable, and not the contractor id."""
    return str(uuid.uuid5(_USER_NAMESPACE, contractor_id))


def _signing_key(jwks: Mapping[str, Any], kid: Any) -> Any:
    """The public key of ``jwks`` with this ``kid``, if it is an RSA signing key for RS256."""
    for key in jwks.get("keys") or ():
        if (
            kid is not None
            and key.get("kid") == kid
            and key.get("kty") == "RSA"
            and key.get("use", "sig") == "sig"
            and key.get("alg", ALGORITHM) == ALGORITHM
        ):
            return jwt.PyJWK(dict(key), algorithm=ALGORITHM).key
    raise UnknownKeyError(f"no signing key {kid!r} in the key set")


def _instant(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise jwt.InvalidTokenError(f"the {name} claim is not a NumericDate")
    return float(value)


def verify_access_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of an access token, checked as a Cognito authorizer checks them; raises
    ``jwt.InvalidTokenError`` (a subclass that says why) for anything else.

    * the header names ``RS256`` (so ``alg: none`` and an HMAC "signed" with the public key
      are refused before any key is used) and a ``kid`` of ``jwks``, the published key set;
    * the signature verifies with that key, over the header and payload as they came;
    * ``iss`` is ``issuer``, ``client_id`` is ``client_id``, ``token_use`` is ``access``;
    * ``exp`` has not passed (no leeway), and neither ``iat`` nor ``nbf`` (when present)
      lies more than ``CLOCK_SKEW_SECONDS`` ahead of ``now`` (the real time by default).

    Scopes are the method's business, not the token's: the gateway checks them.
    """
    header = jwt.get_unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise jwt.InvalidAlgorithmError(f"the token is not signed with {ALGORITHM}")
    key = _signing_key(jwks, header.get("kid"))
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=issuer,
        # The instants are checked below, against one ``now``.
        options={
            "require": list(REQUIRED_CLAIMS),
            "verify_aud": False,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )
    instant = time.time() if now is None else now
    if _instant(claims, "exp") <= instant:
        raise jwt.ExpiredSignatureError("the token has expired")
    if "nbf" in claims and _instant(claims, "nbf") > instant + CLOCK_SKEW_SECONDS:
        raise jwt.ImmatureSignatureError("the token is not yet valid (nbf)")
    if _instant(claims, "iat") > instant + CLOCK_SKEW_SECONDS:
        raise jwt.ImmatureSignatureError("the token was issued in the future (iat)")
    if claims["client_id"] != client_id:
        raise jwt.InvalidAudienceError("the token was issued to another client")
    if claims["token_use"] != ACCESS_USE:
        raise NotAnAccessTokenError("the token is not an access token")
    return claims


class TokenIssuer:
    """The local user pool: issues tokens with its private key and publishes the public
    key as a key set (served at ``<issuer>/.well-known/jwks.json``, where Cognito serves
    a pool's)."""

    def __init__(self, issuer: str, client_id: str = CLIENT_ID) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        self._jwks = {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": ALGORITHM}]}

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The signing key, for tests that forge tokens the issuer would not issue."""
        return self._private_key

    def issue(
        self,
        *,
        contractor_id: str | None = None,
        role: str | None = None,
        scope: str | Iterable[str] | None = None,
        expires_in: int = 3600,
    ) -> str:
        if (contractor_id is None) == (role is None):
            raise ValueError("a token is for a contractor_id or for a role, not both")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "client_id": self.client_id,
            "iat": now,
            "auth_time": now,
            "exp": now + int(expires_in),
            "jti": str(uuid.uuid4()),
            "token_use": ACCESS_USE,
        }
        if contractor_id is not None:
            claims["sub"] = user_sub(contractor_id)
            claims["username"] = contractor_id
        else:
            claims["sub"] = str(role)
            claims["role"] = role
        if scope is not None:
            claims["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": KEY_ID})

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of one of this pool's access tokens, verified against the published
        key set (``verify_access_token``); raises ``jwt.InvalidTokenError`` otherwise."""
        return verify_access_token(
            token, self.jwks(), issuer=self.issuer, client_id=self.client_id, now=now
        )

    def jwks(self) -> dict[str, Any]:
        """The published key set: the public key only."""
        return {"keys": [dict(key) for key in self._jwks["keys"]]}


def _api_gateway_date(epoch: Any) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer passes them: every value a string, and
    ``exp``/``iat`` in API Gateway's date format."""
    result = {}
    for key, value in claims.items():
        if key in ("exp", "iat"):
            result[key] = _api_gateway_date(value)
        elif isinstance(value, list):
            result[key] = " ".join(str(v) for v in value)
        else:
            result[key] = str(value)
    return result
