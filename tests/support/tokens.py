"""Tokens an attacker could send: built by hand from a header, claims and a signature, so
that each is exactly the forgery it names (PyJWT refuses to make some of them)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.auth import CLIENT_ID, KEY_ID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def access_claims(issuer: str, contractor_id: str, **overrides: Any) -> dict[str, Any]:
    """The claims of a valid contractor access token of ``issuer``, with ``overrides``
    (a value of ``None`` removes the claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "client_id": CLIENT_ID,
        "sub": f"sub-{contractor_id}",
        "username": contractor_id,
        "token_use": "access",
        "scope": "billing/contractor",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def signed(
    claims: dict[str, Any],
    key: rsa.RSAPrivateKey,
    *,
    kid: str | None = KEY_ID,
    algorithm: str = "RS256",
) -> str:
    """``claims`` signed by ``key`` (the local issuer's, or another)."""
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def unsigned(claims: dict[str, Any]) -> str:
    """``alg: none``: no signature at all."""
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."


def hmac_with_public_key(claims: dict[str, Any], public_key: rsa.RSAPublicKey) -> str:
    """Algorithm confusion: HS256 keyed with the published RSA public key (PEM), which a
    verifier that lets the token choose its algorithm would accept."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': KEY_ID})}.{segment(claims)}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_payload(token: str, **changes: Any) -> str:
    """``token`` with claims changed in its payload and its header and signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{segment(claims)}.{signature}"
