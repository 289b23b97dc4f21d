"""The local user pool's tokens are verified the way API Gateway's Cognito authorizer
verifies a user pool's access tokens: RS256 against the published key set, the issuer, the
client, an access token, the instants; every forgery is refused, each for its reason."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local.auth import (
    CLIENT_ID,
    CLOCK_SKEW_SECONDS,
    KEY_ID,
    REQUIRED_CLAIMS,
    NotAnAccessTokenError,
    TokenIssuer,
    UnknownKeyError,
    verify_access_token,
)
from tests.support.tokens import (
    access_claims,
    hmac_with_public_key,
    signed,
    unsigned,
    with_payload,
)

ISSUER_URL = "http://127.0.0.1:1/_local"
POOL = TokenIssuer(ISSUER_URL)
# Another key pair: what anyone can make, and the pool never published.
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = 1_780_000_000


def claims(**overrides):
    return access_claims(ISSUER_URL, "c-1", **{"iat": NOW, "exp": NOW + 3600, **overrides})


def verify(token: str, now: float = NOW):
    return verify_access_token(token, POOL.jwks(), issuer=ISSUER_URL, client_id=CLIENT_ID, now=now)


def test_a_valid_access_token_gives_its_claims():
    assert verify(signed(claims(), POOL.private_key))["username"] == "c-1"
    # The issuer's own tokens verify against its published key set, at the real time.
    token = POOL.issue(contractor_id="c-1", scope="billing/contractor")
    assert POOL.verify(token)["scope"] == "billing/contractor"
    assert POOL.verify(POOL.issue(role="admin"))["role"] == "admin"


def test_the_key_set_publishes_the_public_key_only():
    (key,) = POOL.jwks()["keys"]

    assert (key["kid"], key["kty"], key["alg"], key["use"]) == (KEY_ID, "RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param(unsigned(claims()), jwt.InvalidAlgorithmError, id="alg none"),
        pytest.param(
            hmac_with_public_key(claims(), POOL.private_key.public_key()),
            jwt.InvalidAlgorithmError,
            id="HS256 with the public key",
        ),
        pytest.param(
            signed(claims(), POOL.private_key, algorithm="RS512"),
            jwt.InvalidAlgorithmError,
            id="another RSA algorithm",
        ),
        pytest.param(
            signed(claims(), POOL.private_key, kid="local-2"), UnknownKeyError, id="unknown kid"
        ),
        pytest.param(signed(claims(), POOL.private_key, kid=None), UnknownKeyError, id="no kid"),
        pytest.param(
            signed(claims(), OTHER_KEY), jwt.InvalidSignatureError, id="signed by another key"
        ),
        pytest.param(
            with_payload(signed(claims(), POOL.private_key), username="c-2"),
            jwt.InvalidSignatureError,
            id="tampered payload",
        ),
        pytest.param("not-a-jwt", jwt.DecodeError, id="not a JWT"),
    ],
)
def test_a_forged_token_is_refused(token, error):
    with pytest.raises(error):
        verify(token)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"iss": "http://elsewhere/_local"}, jwt.InvalidIssuerError, id="issuer"),
        pytest.param({"client_id": "another-client"}, jwt.InvalidAudienceError, id="client"),
        pytest.param({"token_use": "id"}, NotAnAccessTokenError, id="an ID token"),
        pytest.param({"exp": NOW}, jwt.ExpiredSignatureError, id="expired this second"),
        pytest.param({"exp": "tomorrow"}, jwt.InvalidTokenError, id="exp not a NumericDate"),
        pytest.param(
            {"nbf": NOW + CLOCK_SKEW_SECONDS + 1}, jwt.ImmatureSignatureError, id="not yet valid"
        ),
        pytest.param(
            {"iat": NOW + CLOCK_SKEW_SECONDS + 1}, jwt.ImmatureSignatureError, id="issued ahead"
        ),
    ],
)
def test_a_token_signed_by_the_pool_with_a_wrong_claim_is_refused(overrides, error):
    with pytest.raises(error):
        verify(signed(claims(**overrides), POOL.private_key))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_a_token_without_a_required_claim_is_refused(claim):
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify(signed(claims(**{claim: None}), POOL.private_key))


def test_clocks_may_disagree_by_the_skew_on_iat_and_nbf_but_never_on_exp():
    # Given a token issued by a clock a little ahead of the gateway's
    ahead = claims(iat=NOW + CLOCK_SKEW_SECONDS, nbf=NOW + CLOCK_SKEW_SECONDS)

    # Then it is taken, and expiry is exact to the second
    assert verify(signed(ahead, POOL.private_key))["username"] == "c-1"
    assert verify(signed(claims(exp=NOW + 1), POOL.private_key))["username"] == "c-1"
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(signed(claims(exp=NOW + 1), POOL.private_key), now=NOW + 1)


def test_tokens_of_another_local_pool_are_refused():
    other_pool = TokenIssuer(ISSUER_URL)  # same issuer URL and kid, another key pair

    with pytest.raises(jwt.InvalidSignatureError):
        POOL.verify(other_pool.issue(contractor_id="c-1", scope="billing/contractor"))


def test_an_expired_token_of_the_pool_is_refused_at_the_real_time():
    with pytest.raises(jwt.ExpiredSignatureError):
        POOL.verify(POOL.issue(contractor_id="c-1", expires_in=-1))
