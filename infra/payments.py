"""Stripe's credentials: one Secrets Manager secret, read by every function that talks to
Stripe (``PaymentsSettings``, ``functions/adapters/secrets.py``).
"""

from __future__ import annotations

import json
from typing import cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import names
from infra.function import BillingFunction
from infra.nag import acknowledge

# The value the stack creates the secret with. Operators replace it with the live keys
# ({"api_key": "sk_live_...", "webhook_secret": "whsec_..."}) in Secrets Manager; the
# stack never holds them. Until then Stripe refuses the placeholder key, and the webhook
# secret is random, so no webhook can be forged against it either.
API_KEY_PLACEHOLDER = "set-the-stripe-secret-key-in-secrets-manager"


class StripeSecret(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Encrypted with the AWS managed key of Secrets Manager: only this account's
        # principals with secretsmanager:GetSecretValue on the secret can read it.
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Stripe API key and webhook signing secret of the lead billing "
            '(JSON: {"api_key": "sk_...", "webhook_secret": "whsec_..."}); set by operators',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"api_key": API_KEY_PLACEHOLDER}),
                generate_string_key="webhook_secret",
                exclude_punctuation=True,
                password_length=32,
            ),
            # The keys an operator put in must outlive a deletion of the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        cast(secretsmanager.CfnSecret, self.secret.node.default_child).override_logical_id(
            names.STRIPE_SECRET_LOGICAL_ID
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Stripe keys are rotated in Stripe's dashboard, which issues the new key; an "
            "operator then writes it into this secret. A rotation Lambda cannot ask Stripe "
            "for a new secret key, so automatic rotation does not apply.",
        )

    @property
    def secret_arn(self) -> str:
        """Passed to the functions as the secret's name: Powertools' get_secret accepts an
        ARN, and an ARN names this very secret with no lookup by name."""
        return self.secret.secret_arn

    def grant_read(self, function: BillingFunction) -> None:
        """secretsmanager:GetSecretValue on this secret, nothing else."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[self.secret.secret_arn]
            )
        )
