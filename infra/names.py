"""Every name the stack, its tests and the local stack agree on.

Physical names are left to CloudFormation, except the event bus, whose name is the
contract with the lead distribution system. Logical ids are fixed here instead: a table
whose logical id changes is replaced by an empty one, and the local stack finds resources
in the synthesized template by these ids.

Environment variable names are read from the settings classes of ``functions/adapters/
settings.py``, so a function and the stack that configures it cannot disagree on them.
"""

from __future__ import annotations

import re
from typing import Final

from functions.adapters.documents import INVOICE_PREFIX
from functions.adapters.settings import (
    ApiSettings,
    BudgetResetSettings,
    CardUpdatedSettings,
    FunctionSettings,
    GraceCheckSettings,
    NoticesSettings,
    NotifySettings,
    OnLeadSettings,
    PaymentsSettings,
    ReconcileSettings,
    RepublishSettings,
    TablesSettings,
    WeeklyInvoiceSettings,
)

STACK_NAME: Final = "LeadBilling"

SERVICE_NAME: Final = "lead-billing"
METRICS_NAMESPACE: Final = "LeadBilling"
BUS_NAME: Final = "lead-billing"
API_STAGE_NAME: Final = "prod"

# Functions: the package under functions/ that holds the function's handler.py.
ON_LEAD: Final = "on_lead"
API: Final = "api"
WEEKLY_INVOICE: Final = "weekly_invoice"
CARD_UPDATED: Final = "card_updated"
BUDGET_RESET: Final = "budget_reset"
GRACE_CHECK: Final = "grace_check"
NOTIFY: Final = "notify"
RECONCILE: Final = "reconcile"
REPUBLISH: Final = "republish"

FUNCTION_SETTINGS: Final[dict[str, type[FunctionSettings]]] = {
    ON_LEAD: OnLeadSettings,
    API: ApiSettings,
    WEEKLY_INVOICE: WeeklyInvoiceSettings,
    CARD_UPDATED: CardUpdatedSettings,
    BUDGET_RESET: BudgetResetSettings,
    GRACE_CHECK: GraceCheckSettings,
    NOTIFY: NotifySettings,
    RECONCILE: ReconcileSettings,
    REPUBLISH: RepublishSettings,
}


def handler_path(function: str) -> str:
    """The Lambda handler string of a function: ``functions.<name>.handler.handler``."""
    return f"functions.{function}.handler.handler"


def settings_variables(settings: type[FunctionSettings]) -> frozenset[str]:
    """The environment variables a settings class reads (its field aliases)."""
    return frozenset(field.alias or name for name, field in settings.model_fields.items())


def _variable(settings: type[FunctionSettings], field: str) -> str:
    alias = settings.model_fields[field].alias
    if alias is None:
        raise ValueError(f"{settings.__name__}.{field} declares no environment variable")
    return alias


# Environment variables set by the stack, named as the settings classes read them.
ACCOUNTS_TABLE: Final = _variable(TablesSettings, "accounts_table")
LEDGER_TABLE: Final = _variable(TablesSettings, "ledger_table")
QUARANTINE_TABLE: Final = _variable(OnLeadSettings, "quarantine_table")
QUARANTINE_QUEUE_URL: Final = _variable(OnLeadSettings, "quarantine_queue_url")
EVENT_BUS_NAME: Final = _variable(OnLeadSettings, "event_bus_name")
UNPUBLISHED_EVENTS_QUEUE_URL: Final = _variable(OnLeadSettings, "unpublished_events_queue_url")
STRIPE_SECRET_NAME: Final = _variable(PaymentsSettings, "stripe_secret_name")
INVOICES_TABLE: Final = _variable(WeeklyInvoiceSettings, "invoices_table")
INVOICE_QUEUE_URL: Final = _variable(WeeklyInvoiceSettings, "invoice_queue_url")
STRIPE_REQUEST_INTERVAL: Final = _variable(WeeklyInvoiceSettings, "stripe_request_interval")
EMAIL_SENDER: Final = _variable(WeeklyInvoiceSettings, "email_sender")
EMAIL_CONFIGURATION_SET: Final = _variable(WeeklyInvoiceSettings, "email_configuration_set")
NOTICES_TABLE: Final = _variable(NoticesSettings, "notices_table")
DOCUMENTS_BUCKET: Final = _variable(ApiSettings, "documents_bucket")

# Set on every function, read by Powertools rather than by the settings classes.
POWERTOOLS_ENVIRONMENT: Final[dict[str, str]] = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    "LOG_LEVEL": "INFO",
}

# Logical ids of the resources other code looks up in the template.
TABLE_LOGICAL_IDS: Final[dict[str, str]] = {
    "accounts": "AccountsTable",
    "ledger": "LedgerTable",
    "leads": "LeadsTable",
    "quarantine": "QuarantineTable",
    "invoices": "InvoicesTable",
    "notices": "NoticesTable",
}
FUNCTION_LOGICAL_IDS: Final[dict[str, str]] = {
    ON_LEAD: "OnLeadFunction",
    API: "ApiFunction",
    WEEKLY_INVOICE: "WeeklyInvoiceFunction",
    CARD_UPDATED: "CardUpdatedFunction",
    BUDGET_RESET: "BudgetResetFunction",
    GRACE_CHECK: "GraceCheckFunction",
    NOTIFY: "NotifyFunction",
    RECONCILE: "ReconcileFunction",
    REPUBLISH: "RepublishFunction",
}
# The functions that publish billing events: each keeps what the bus refuses on the
# unpublished events queue, which republish puts on the bus again (infra/republish.py).
PUBLISHERS: Final = (
    ON_LEAD,
    API,
    WEEKLY_INVOICE,
    CARD_UPDATED,
    BUDGET_RESET,
    GRACE_CHECK,
    NOTIFY,
    RECONCILE,
)
EVENT_BUS_LOGICAL_ID: Final = "EventBus"
QUARANTINE_QUEUE_LOGICAL_ID: Final = "QuarantineQueue"
ON_LEAD_FAILURE_QUEUE_LOGICAL_ID: Final = "OnLeadFailureQueue"
LEADS_STREAM_MAPPING_LOGICAL_ID: Final = "OnLeadLeadsStreamMapping"
DEPENDENCIES_LAYER_LOGICAL_ID: Final = "DependenciesLayer"
OPERATOR_API_LOGICAL_ID: Final = "OperatorApi"
STRIPE_SECRET_LOGICAL_ID: Final = "StripeSecret"  # noqa: S105 - a logical id
EMAIL_SENDER_PARAMETER: Final = "EmailSender"
INVOICE_EMAILS_LOGICAL_ID: Final = "InvoiceEmails"  # the SES configuration set
INVOICE_WORK_QUEUE_LOGICAL_ID: Final = "InvoiceWorkQueue"
DOCUMENTS_BUCKET_LOGICAL_ID: Final = "DocumentsBucket"  # the invoice PDFs the emails carried
# Where an invoice's PDF is kept in the documents bucket: ``invoices/<invoice id>.pdf``.
INVOICE_DOCUMENTS_PREFIX: Final = INVOICE_PREFIX
INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID: Final = "InvoiceWorkDeadLetterQueue"
WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID: Final = "WeeklyInvoiceFailureQueue"
INVOICE_WORK_MAPPING_LOGICAL_ID: Final = "WeeklyInvoiceWorkQueueMapping"
ACCOUNTS_STREAM_MAPPING_LOGICAL_ID: Final = "WeeklyInvoiceAccountsStreamMapping"
NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID: Final = "NotifyAccountsStreamMapping"
NOTIFY_FAILURE_QUEUE_LOGICAL_ID: Final = "NotifyFailureQueue"
WEEKLY_INVOICE_SCHEDULER_ROLE_LOGICAL_ID: Final = "WeeklyInvoiceSchedulerRole"
BUDGET_RESET_SCHEDULER_ROLE_LOGICAL_ID: Final = "BudgetResetSchedulerRole"
BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID: Final = "BudgetResetDeadLetterQueue"
GRACE_CHECK_SCHEDULE_LOGICAL_ID: Final = "GraceCheckSchedule"
GRACE_CHECK_SCHEDULER_ROLE_LOGICAL_ID: Final = "GraceCheckSchedulerRole"
GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID: Final = "GraceCheckDeadLetterQueue"
RECONCILE_SCHEDULE_LOGICAL_ID: Final = "ReconcileSchedule"
RECONCILE_SCHEDULER_ROLE_LOGICAL_ID: Final = "ReconcileSchedulerRole"
RECONCILE_DEAD_LETTER_QUEUE_LOGICAL_ID: Final = "ReconcileDeadLetterQueue"
UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID: Final = "UnpublishedEventsQueue"
UNPUBLISHED_EVENTS_DEAD_LETTER_QUEUE_LOGICAL_ID: Final = "UnpublishedEventsDeadLetterQueue"
REPUBLISH_MAPPING_LOGICAL_ID: Final = "RepublishUnpublishedEventsMapping"
CONTRACTOR_USER_POOL_LOGICAL_ID: Final = "ContractorUserPool"
CONTRACTOR_APP_CLIENT_LOGICAL_ID: Final = "ContractorAppClient"
BILLING_RESOURCE_SERVER_LOGICAL_ID: Final = "BillingResourceServer"
CONTRACTOR_USER_POOL_DOMAIN_LOGICAL_ID: Final = "ContractorUserPoolDomain"
CONTRACTOR_AUTHORIZER_LOGICAL_ID: Final = "ContractorAuthorizer"
CONTRACTOR_APP_CALLBACK_URLS_PARAMETER: Final = "ContractorAppCallbackUrls"
# The Lead Manager's billing page (infra/web.py): its bucket, distribution and address.
WEB_BUCKET_LOGICAL_ID: Final = "LeadManagerWebBucket"
WEB_DISTRIBUTION_LOGICAL_ID: Final = "LeadManagerDistribution"
WEB_URL_OUTPUT: Final = "LeadManagerUrl"
STRIPE_PUBLISHABLE_KEY_PARAMETER: Final = "StripePublishableKey"

# The OAuth scope of the contractor routes: the resource server's identifier, then the
# scope's name, as Cognito writes it into an access token's ``scope`` claim.
BILLING_RESOURCE_SERVER: Final = "billing"
CONTRACTOR_SCOPE_NAME: Final = "contractor"
CONTRACTOR_SCOPE: Final = f"{BILLING_RESOURCE_SERVER}/{CONTRACTOR_SCOPE_NAME}"


def weekly_invoice_schedule_logical_id(timezone: str) -> str:
    """The logical id of the Friday schedule of a timezone: ``America/Los_Angeles`` ->
    ``WeeklyInvoiceScheduleAmericaLosAngeles``."""
    return "WeeklyInvoiceSchedule" + _timezone_id(timezone)


def budget_reset_schedule_logical_id(timezone: str) -> str:
    """The logical id of the daily reset schedule of a timezone: ``America/Los_Angeles`` ->
    ``BudgetResetScheduleAmericaLosAngeles``."""
    return "BudgetResetSchedule" + _timezone_id(timezone)


def _timezone_id(timezone: str) -> str:
    parts = [part for part in re.split(r"[^A-Za-z0-9]+", timezone) if part]
    if not parts:
        raise ValueError(f"{timezone!r} is not a timezone name")
    return "".join(part[0].upper() + part[1:] for part in parts)
