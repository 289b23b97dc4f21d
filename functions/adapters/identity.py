"""Who is calling: the contractor named by the claims the API Gateway authorizer verified.

On a REST API method with a Cognito user pool authorizer, API Gateway checks the access
token before the function runs and passes its claims in ``requestContext.authorizer.claims``
(the local gateway puts the claims it verified in the same place). Cognito access tokens
carry the user's ``username``, and each contractor's user is created with the contractor id
as its username.

The contractor id is read from there and nowhere else: never from the path, the query or
the body, so a contractor can act on their own account only (R13).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.billing.errors import BillingError

CONTRACTOR_CLAIM = "username"
MAX_CONTRACTOR_ID = 128


class NotAuthenticated(BillingError):
    """The request carries no verified contractor identity."""


def contractor_id(event: Mapping[str, Any]) -> str:
    """The contractor of an API Gateway REST proxy event, from its verified claims."""
    claims = _mapping(
        _mapping(_mapping(event.get("requestContext")).get("authorizer")).get("claims")
    )
    value = claims.get(CONTRACTOR_CLAIM)
    if not isinstance(value, str) or not value.strip():
        raise NotAuthenticated(f"the verified claims carry no {CONTRACTOR_CLAIM!r}")
    if len(value) > MAX_CONTRACTOR_ID:
        raise NotAuthenticated(f"the {CONTRACTOR_CLAIM!r} claim is not a contractor id")
    return value


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
