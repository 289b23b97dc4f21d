"""Stripe's credentials from AWS Secrets Manager, read through Powertools Parameters.

The secret is a JSON object: ``{"api_key": "sk_...", "webhook_secret": "whsec_...",
"api_base": "http://127.0.0.1:8420"}``. ``api_base`` is present only in the local stack,
where it points the functions at localstripe without a plain environment variable; in AWS
it is absent and the SDK calls Stripe itself.

Powertools keeps the value for ``CACHE_SECONDS``, so a warm function reads Secrets Manager
at most once per period, and a rotated key is picked up within that period.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters import get_secret
from pydantic import BaseModel, ConfigDict, Field

CACHE_SECONDS = 300


class StripeSecrets(BaseModel):
    # The keys stay out of reprs and validation messages, hence out of the logs.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=1, repr=False)
    api_base: str | None = None


def stripe_secrets(secret_name: str) -> StripeSecrets:
    """The Stripe credentials in the secret ``secret_name`` (cached, see ``CACHE_SECONDS``)."""
    value = get_secret(secret_name, transform="json", max_age=CACHE_SECONDS)
    return StripeSecrets.model_validate(value)
