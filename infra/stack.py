"""The lead billing stack: tables, event bus, queues, functions, the leads stream mapping,
the invoicing (``infra/weekly_invoice.py``), the card flow and Stripe's webhooks
(``infra/card_updated.py``), the schedules of ``infra/budget_reset.py`` and
``infra/grace_check.py``, the daily reconciliation of ``infra/reconcile.py``, the notices
of ``infra/notify.py``, the invoice PDFs of
``infra/documents.py``, the contractors' user pool, the API, the Lead Manager's billing page
(``infra/web.py``) and the alarms an operator acts on.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra import names
from infra.api import BillingApi
from infra.budget_reset import BudgetReset
from infra.card_updated import CardUpdated
from infra.contractors import ContractorIdentity
from infra.documents import InvoiceDocumentsBucket
from infra.emails import EmailSending
from infra.function import BillingFunction, DependenciesLayer
from infra.grace_check import GraceCheck
from infra.nag import acknowledge
from infra.notify import Notify
from infra.payments import StripeSecret
from infra.queues import messages_visible_alarm, retained_queue
from infra.reconcile import Reconcile
from infra.republish import Republish, grant_publishing, publishing_environment
from infra.streams import MAX_RECORD_AGE, iterator_age_alarm, stream_read_policy
from infra.tables import BillingTables
from infra.web import LeadManagerWeb
from infra.weekly_invoice import WeeklyInvoice


class LeadBillingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = names.STACK_NAME, **kwargs: Any):
        super().__init__(
            scope,
            construct_id,
            description="Pay-per-lead billing: charges delivered leads to contractors' budgets",
            **kwargs,
        )
        Tags.of(self).add("service", names.SERVICE_NAME)

        tables = BillingTables(self, "Tables")

        # LeadCharged, LeadRejected, AccountPaused, AccountReactivated; the lead
        # distribution system subscribes to this bus by its name.
        bus = events.EventBus(self, "EventBus", event_bus_name=names.BUS_NAME)
        cast(events.CfnEventBus, bus.node.default_child).override_logical_id(
            names.EVENT_BUS_LOGICAL_ID
        )

        quarantine_queue = retained_queue(
            self, "QuarantineQueue", names.QUARANTINE_QUEUE_LOGICAL_ID
        )
        failure_queue = retained_queue(
            self, "OnLeadFailureQueue", names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID
        )
        acknowledge(
            quarantine_queue,
            "AwsSolutions-SQS3",
            "The quarantine queue is itself the end of the line for invalid lead records: an "
            "operator reads and resolves them, no consumer retries them.",
        )
        acknowledge(
            failure_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter destination of the leads stream mapping (its "
            "on-failure destination), which the rule cannot see since it is not a redrive "
            "policy; nothing consumes it automatically.",
        )

        layer = DependenciesLayer(self, "Dependencies").layer

        # What the bus refuses is kept on the unpublished events queue, from which the
        # republish function puts it on the bus again.
        self.republish = Republish(self, "Republish", bus=bus, layer=layer)
        unpublished = self.republish.queue

        on_lead = BillingFunction(
            self,
            "OnLead",
            name=names.ON_LEAD,
            description="Charges or rejects each lead inserted in the leads table",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.QUARANTINE_TABLE: tables.quarantine.table_name,
                names.QUARANTINE_QUEUE_URL: quarantine_queue.queue_url,
                **publishing_environment(bus, unpublished),
            },
            layer=layer,
            timeout=Duration.seconds(60),
            memory_size=512,
        )
        # A charge is one transaction: the account updated (or checked) and the lead's
        # entries put in the ledger, each conditioned; the items that failed a condition
        # come back with the cancellation (GetItem). No Scan, no DeleteItem: the ledger is
        # append-only.
        on_lead.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                resources=[tables.ledger.table_arn],
            ),
        )
        # A lead's quarantine item is written once, on the condition that the lead has no
        # outcome in the ledger, and every charge checks that no quarantine item holds the
        # lead (R2), getting it back when one does.
        tables.quarantine.grant(
            on_lead.role, "dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"
        )
        quarantine_queue.grant(on_lead.role, "sqs:SendMessage")
        grant_publishing(on_lead, bus, unpublished)

        leads_stream_read = stream_read_policy(
            self,
            "OnLeadLeadsStreamRead",
            on_lead.role,
            cast(str, tables.leads.table_stream_arn),
        )

        self.leads_stream_mapping = lambda_.EventSourceMapping(
            self,
            "LeadsStreamMapping",
            target=on_lead.function,
            event_source_arn=tables.leads.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            # A lead is billed once, when it is delivered; updates of a lead are not.
            filters=[
                lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})
            ],
            batch_size=100,
            max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=5,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=event_sources.SqsDlq(failure_queue),
        )
        cast(
            lambda_.CfnEventSourceMapping, self.leads_stream_mapping.node.default_child
        ).override_logical_id(names.LEADS_STREAM_MAPPING_LOGICAL_ID)
        # Creating the mapping checks that the role can read the stream.
        self.leads_stream_mapping.node.add_dependency(leads_stream_read)

        self.stripe = StripeSecret(self, "Stripe")
        self.email = EmailSending(self, "Email")
        # Each invoice's PDF as its email carried it, served to the contractor later.
        self.documents = InvoiceDocumentsBucket(self, "Documents")

        api = BillingFunction(
            self,
            "Api",
            name=names.API,
            description="Billing API: the operator's accounts and invoices, the contractor's "
            "billing and budget",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.INVOICES_TABLE: tables.invoices.table_name,
                names.STRIPE_SECRET_NAME: self.stripe.secret_arn,
                **publishing_environment(bus, unpublished),
                names.DOCUMENTS_BUCKET: self.documents.bucket_name,
            },
            layer=layer,
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        api.add_to_role_policy(
            # Accounts are opened, read and changed one item at a time (budget, details).
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn],
            ),
            # The ledger: entries recorded (budget changes, credits), read by key, listed
            # by account and in the order they were recorded.
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                resources=[tables.ledger.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("ledger", "chronological")],
            ),
            # Operators read invoices: one by its id, or an account's newest first.
            iam.PolicyStatement(
                actions=["dynamodb:GetItem"], resources=[tables.invoices.table_arn]
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("invoices", "by_contractor")],
            ),
        )
        # Opening an account creates its Stripe customer (R6).
        self.stripe.grant_read(api)
        # A contractor's budget change pauses or reactivates at once (R8, R12).
        grant_publishing(api, bus, unpublished)
        # GET /me/invoices/{invoice_id}/pdf: the PDF the invoice's email carried (R13).
        self.documents.grant_read(api)

        self.weekly_invoice = WeeklyInvoice(
            self,
            "WeeklyInvoice",
            tables=tables,
            bus=bus,
            unpublished=unpublished,
            layer=layer,
            stripe=self.stripe,
            email=self.email,
            documents=self.documents,
        )
        self.card_updated = CardUpdated(
            self,
            "CardUpdated",
            tables=tables,
            bus=bus,
            unpublished=unpublished,
            layer=layer,
            stripe=self.stripe,
            email=self.email,
            documents=self.documents,
        )

        self.budget_reset = BudgetReset(
            self,
            "BudgetReset",
            tables=tables,
            bus=bus,
            unpublished=unpublished,
            layer=layer,
            email=self.email,
        )
        self.grace_check = GraceCheck(
            self,
            "GraceCheck",
            tables=tables,
            bus=bus,
            unpublished=unpublished,
            layer=layer,
            stripe=self.stripe,
            email=self.email,
        )
        self.notify = Notify(
            self,
            "Notify",
            tables=tables,
            layer=layer,
            email=self.email,
            bus=bus,
            unpublished=unpublished,
        )
        self.reconcile = Reconcile(
            self,
            "Reconcile",
            tables=tables,
            bus=bus,
            unpublished=unpublished,
            layer=layer,
            stripe=self.stripe,
            email=self.email,
            documents=self.documents,
        )

        self.contractors = ContractorIdentity(self, "Contractors")
        # Construct id of the API's first version, kept so that its resources stay.
        self.api = BillingApi(
            self,
            "OperatorApi",
            api=api.function,
            card_updated=self.card_updated.function.function,
            contractors=self.contractors,
        )

        # The Lead Manager's billing page, with /me/* to this API on its origin.
        self.web = LeadManagerWeb(
            self, "LeadManager", api=self.api.rest_api, contractors=self.contractors
        )

        self.functions = {
            names.ON_LEAD: on_lead,
            names.API: api,
            names.WEEKLY_INVOICE: self.weekly_invoice.function,
            names.CARD_UPDATED: self.card_updated.function,
            names.BUDGET_RESET: self.budget_reset.function,
            names.GRACE_CHECK: self.grace_check.function,
            names.NOTIFY: self.notify.function,
            names.RECONCILE: self.reconcile.function,
            names.REPUBLISH: self.republish.function,
        }
        self.tables = tables
        self.bus = bus
        self.quarantine_queue = quarantine_queue
        self.failure_queue = failure_queue

        iterator_age_alarm(
            self,
            "OnLeadIteratorAgeAlarm",
            on_lead.function,
            "Billing lags behind lead delivery: the oldest lead in the stream waited more "
            "than a minute.",
        )
        messages_visible_alarm(
            self,
            "QuarantineMessagesAlarm",
            quarantine_queue,
            "Invalid lead records were quarantined: an operator must look.",
        )
        messages_visible_alarm(
            self,
            "OnLeadFailuresAlarm",
            failure_queue,
            "Stream records could not be processed within their retries or age: those "
            "leads are not billed until an operator replays them.",
        )
