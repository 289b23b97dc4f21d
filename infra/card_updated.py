"""card_updated: the contractor's card flow of the Pro App and the Lead Manager, and
Stripe's webhooks (R6, R11). The API routes it answers are in ``infra/api.py``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import names
from infra.documents import InvoiceDocumentsBucket
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.payments import StripeSecret
from infra.republish import grant_publishing, publishing_environment
from infra.tables import BillingTables

# A request waits on Stripe (a SetupIntent, the card it saved) and on a few DynamoDB
# writes; API Gateway gives up after 29 seconds anyway.
TIMEOUT = Duration.seconds(30)
MEMORY_SIZE = 512


class CardUpdated(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: BillingTables,
        bus: events.IEventBus,
        unpublished: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        stripe: StripeSecret,
        email: EmailSending,
        documents: InvoiceDocumentsBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = BillingFunction(
            self,
            "Function",
            name=names.CARD_UPDATED,
            description="The contractor's card flow and Stripe's webhooks: saves the card on "
            "file, charges what is past due to it and settles the payment attempts Stripe "
            "reports on",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.INVOICES_TABLE: tables.invoices.table_name,
                names.STRIPE_SECRET_NAME: stripe.secret_arn,
                **publishing_environment(bus, unpublished),
                names.EMAIL_SENDER: email.sender_address,
                names.EMAIL_CONFIGURATION_SET: email.configuration_set_name,
                names.DOCUMENTS_BUCKET: documents.bucket_name,
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        # Saving a card and settling an attempt are transactions over the account, the
        # ledger and the invoice: the account and the invoice updated, the ledger's entries
        # put, each conditioned. The account of a Stripe customer comes from the accounts'
        # by_customer index, an account's past-due invoices from the invoices'
        # by_contractor index (R11); no Scan, and no DeleteItem, since the ledger is
        # append-only and an invoice is never deleted.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[
                    tables.index_arn("accounts", "by_customer"),
                    tables.index_arn("invoices", "by_contractor"),
                ],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn, tables.invoices.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[tables.ledger.table_arn],
            ),
        )
        grant_publishing(self.function, bus, unpublished)
        stripe.grant_read(self.function)
        email.grant_send(self.function)
        # R5: the PDF of each email sent is kept, once (infra/documents.py).
        documents.grant_store(self.function)
