"""The billing API function: the operator's routes and the contractor's billing routes.

- ``/admin/...`` (``functions.api.operator``): IAM-authorized operator routes.
- ``/me/...`` (``functions.api.contractor``): the contractor's own billing, behind the
  Cognito user pool authorizer; the contractor comes from the verified claims only.

This module builds what the routes use (``functions.api.services``) once per cold start,
and maps errors to status codes in one place (the exception handlers below).
"""

from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.accounts import AccountStore
from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.cards import CardStore
from functions.adapters.cursors import InvalidCursor
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import billing_bus
from functions.adapters.http_errors import add_common_error_handlers, error_response
from functions.adapters.identity import NotAuthenticated
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import bind_tables
from functions.adapters.payments import payments_from_secret
from functions.adapters.settings import ApiSettings
from functions.api import contractor, credits, operator
from functions.api.services import EventsNotPublished, Services, install
from functions.billing.account import AccountError
from functions.billing.account_details import TimezoneChangeRefused
from functions.billing.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    InvoiceNotFound,
    StorageUnavailable,
)

settings = ApiSettings.from_env()
bind_tables(settings.table_names())
logger = Logger()
tracer = Tracer()
accounts = AccountStore()
install(
    Services(
        settings=settings,
        accounts=accounts,
        invoices=InvoiceStore(),
        cards=CardStore(accounts),
        periods=BudgetPeriods(),
        bus=billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url),
        payments=payments_from_secret(settings.stripe_secret_name),
        documents=InvoiceDocuments(boto3.client("s3"), settings.documents_bucket),
    )
)
app = APIGatewayRestResolver(
    enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
)
app.include_router(operator.router)
app.include_router(contractor.router)
app.include_router(credits.router)


_error = error_response


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = [
        {
            "field": ".".join(str(part) for part in item["loc"] if part != "body"),
            "message": item["msg"],
        }
        for item in error.errors()
    ]
    fields = ", ".join(problem["field"] or "body" for problem in problems)
    return _error(400, "invalid_request", f"invalid {fields}", problems=problems)


@app.exception_handler(InvalidCursor)
def _invalid_cursor(error: InvalidCursor) -> Response[dict[str, Any]]:
    """A cursor no page of this listing made (another account's, or tampered with)."""
    return _error(
        400,
        "invalid_request",
        "invalid cursor",
        problems=[{"field": "cursor", "message": str(error)}],
    )


@app.exception_handler(AccountError)
def _invalid_account(error: AccountError) -> Response[dict[str, Any]]:
    return _error(
        400,
        "invalid_request",
        str(error),
        problems=[{"field": error.field, "message": error.message}],
    )


@app.exception_handler(TimezoneChangeRefused)
def _timezone_kept(error: TimezoneChangeRefused) -> Response[dict[str, Any]]:
    return _error(
        409,
        "timezone_change_unsupported",
        str(error),
        problems=[{"field": "timezone", "message": str(error)}],
    )


@app.exception_handler(AccountAlreadyExists)
def _exists(error: AccountAlreadyExists) -> Response[dict[str, Any]]:
    return _error(409, "account_exists", str(error))


@app.exception_handler(InvoiceNotFound)
def _no_invoice(error: InvoiceNotFound) -> Response[dict[str, Any]]:
    return _error(404, "invoice_not_found", str(error))


@app.exception_handler(AccountNotFound)
def _not_found(error: AccountNotFound) -> Response[dict[str, Any]]:
    if app.current_event.path.startswith("/me/"):
        return _error(404, "account_not_found", "no billing account for this contractor")
    return _error(404, "account_not_found", str(error))


@app.exception_handler(NotAuthenticated)
def _not_authenticated(error: NotAuthenticated) -> Response[dict[str, Any]]:
    logger.warning("request without a contractor identity", extra={"reason": str(error)})
    return _error(401, "unauthenticated", "a contractor's access token is required")


@app.exception_handler(EventsNotPublished)
def _not_announced(error: EventsNotPublished) -> Response[dict[str, Any]]:
    logger.error("budget change stored but not announced", extra={"contractor_id": str(error)})
    return _error(503, "unavailable", "the change is saved but was not announced; retry later")


@app.exception_handler(StorageUnavailable)
def _unavailable(error: StorageUnavailable) -> Response[dict[str, Any]]:
    logger.exception("storage unavailable")
    return _error(503, "unavailable", "billing storage is unavailable; retry later")


add_common_error_handlers(app, logger)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
