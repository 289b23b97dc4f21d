"""Tokens for the local gateway: RS256 JWTs signed with a key pair made at start.

A contractor token stands for a Cognito access token: issued to the app client
``client_id``, with the contractor id as ``username`` (the claim the functions read) and a
``sub`` that, as in Cognito, is an opaque id of the user rather than the contractor id, and
with the OAuth scopes of its ``scope`` claim (space separated). It is accepted on methods
with a Cognito authorizer. An admin token (``role: admin``) stands for the IAM credentials
of an operator and is accepted on ``AWS_IAM`` methods only.

Like a Cognito access token, neither carries an ``aud`` claim: the client a token was
issued to is its ``client_id``, which ``verify`` checks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "local-client"
KEY_ID = "local-1"
# The namespace of the local users' ``sub``: one stable id per contractor id.
_USER_NAMESPACE = uuid.UUID("6f1c2b0e-5d1a-4c8e-9b7e-3a2f4d6c8e10")


def user_sub(contractor_id: str) -> str:
    """The ``sub`` of a contractor's local user: stable, and not the contractor id."""
    return str(uuid.uuid5(_USER_NAMESPACE, contractor_id))


class TokenIssuer:
    def __init__(self, issuer: str, client_id: str = CLIENT_ID) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()

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
            "token_use": "access",
        }
        if contractor_id is not None:
            claims["sub"] = user_sub(contractor_id)
            claims["username"] = contractor_id
        else:
            claims["sub"] = str(role)
            claims["role"] = role
        if scope is not None:
            claims["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises ``jwt.InvalidTokenError`` for a bad signature, another
        issuer, another client, or an expired token."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._public_key,
            algorithms=["RS256"],
            issuer=self.issuer,
            options={"require": ["exp", "iss", "sub", "client_id"], "verify_aud": False},
        )
        if claims["client_id"] != self.client_id:
            raise jwt.InvalidAudienceError("the token was issued to another client")
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._public_key, as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}


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
