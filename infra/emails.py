"""Sending emails through SES: the sender address, a stack parameter, and the
configuration set every email is sent with: invoices (R5) and the notices of R14.

The sender's domain is verified in SES outside this stack (its DNS records belong to the
domain's owner); a function may send from that domain's identity, with this configuration
set, and from nothing else.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnParameter, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra import names
from infra.function import BillingFunction

DEFAULT_SENDER = "billing@craftjack.com"


class EmailSending(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.sender = CfnParameter(
            self,
            "Sender",
            type="String",
            default=DEFAULT_SENDER,
            description="The address invoice and notice emails are sent from; its domain "
            "must be a verified SES identity of the account and region.",
            allowed_pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            constraint_description="an email address, such as billing@example.com",
        )
        self.sender.override_logical_id(names.EMAIL_SENDER_PARAMETER)

        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            # Invoices and notices carry amounts and card digits: never deliver them in
            # clear text.
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
            reputation_metrics=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        cast(
            ses.CfnConfigurationSet, self.configuration_set.node.default_child
        ).override_logical_id(names.INVOICE_EMAILS_LOGICAL_ID)

    @property
    def sender_address(self) -> str:
        return self.sender.value_as_string

    @property
    def configuration_set_name(self) -> str:
        return self.configuration_set.configuration_set_name

    def identity_arn(self) -> str:
        """The SES identity of the sender's domain (the part after the ``@``)."""
        domain = Fn.select(1, Fn.split("@", self.sender.value_as_string))
        return Stack.of(self).format_arn(service="ses", resource="identity", resource_name=domain)

    def configuration_set_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )

    def grant_send(self, function: BillingFunction) -> None:
        """Sending from the sender's domain with the configuration set: SES authorizes a
        send against both the identity and the configuration set it names."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[self.identity_arn(), self.configuration_set_arn()],
            )
        )
