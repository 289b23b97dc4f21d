"""Tokens for the local gateway: RS256 JWTs signed with a key pair made at start.

A contractor token stands for a Cognito access token (``sub`` is the contractor id) and
is accepted on methods with a Cognito authorizer; an admin token (``role: admin``) stands
for the IAM credentials of an operator and is accepted on ``AWS_IAM`` methods.
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
            "aud": self.client_id,
            "client_id": self.client_id,
            "iat": now,
            "auth_time": now,
            "exp": now + int(expires_in),
            "jti": str(uuid.uuid4()),
            "token_use": "access",
        }
        if contractor_id is not None:
            claims["sub"] = contractor_id
            claims["username"] = contractor_id
        else:
            claims["sub"] = str(role)
            claims["role"] = role
        if scope is not None:
            claims["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises ``jwt.InvalidTokenError`` for a bad signature, issuer,
        audience or an expired token."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._public_key,
            algorithms=["RS256"],
            issuer=self.issuer,
            audience=self.client_id,
            options={"require": ["exp", "iss", "sub"]},
        )
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
