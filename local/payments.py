"""Stripe in the local stack: the functions reach localstripe through the secret the
template declares for Stripe's keys, and localstripe sends its webhooks to the gateway.

In AWS the secret holds the live keys an operator put in. Locally the stack writes a test
key, a webhook signing secret of its own and ``api_base``, the localstripe endpoint the
functions' Stripe client is pointed at (``functions/adapters/secrets.py``), so that no
function needs a local-only environment variable.
"""

from __future__ import annotations

import json
import secrets

import requests

LOCAL_API_KEY = "sk_test_local"
WEBHOOK_ID = "local-stack"
WEBHOOK_PATH = "/webhooks/stripe"
_DEFAULT_SECRET_LOGICAL_ID = "StripeSecret"  # noqa: S105 - a logical id


def stripe_secret_logical_id() -> str:
    """The logical id of the secret with Stripe's keys, as ``infra.names`` declares it."""
    try:
        from infra.names import STRIPE_SECRET_LOGICAL_ID
    except ImportError:
        return _DEFAULT_SECRET_LOGICAL_ID
    return str(STRIPE_SECRET_LOGICAL_ID)


def new_webhook_secret() -> str:
    return f"whsec_local{secrets.token_hex(16)}"


def stripe_secret_value(stripe_endpoint: str, webhook_secret: str) -> str:
    """The secret's value in the local stack."""
    return json.dumps(
        {"api_key": LOCAL_API_KEY, "webhook_secret": webhook_secret, "api_base": stripe_endpoint}
    )


def register_webhook(stripe_endpoint: str, url: str, webhook_secret: str) -> None:
    """Make localstripe send every event to ``url``, signed with ``webhook_secret``."""
    response = requests.post(
        f"{stripe_endpoint}/_config/webhooks/{WEBHOOK_ID}",
        data={"url": url, "secret": webhook_secret},
        timeout=30,
    )
    response.raise_for_status()
