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
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.accounts import AccountStore
from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.cards import CardStore
from functions.adapters.cursors import InvalidCursor
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import EventBus
from functions.adapters.identity import NotAuthenticated
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import bind_tables
from functions.adapters.payments import payments_from_secret
from functions.adapters.settings import ApiSettings
from functions.api import contractor, credits, operator
from functions.api.services import EventsNotPublished, Services, install
from functions.billing.account import AccountError
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
        bus=EventBus(boto3.client("events"), settings.event_bus_name),
        payments=payments_from_secret(settings.stripe_secret_name),
        documents=InvoiceDocuments(boto3.client("s3"), settings.documents_bucket),
    )
)
app = APIGatewayRestResolver(enable_validation=True)
app.include_router(operator.router)
app.include_router(contractor.router)
app.include_router(credits.router)


def _error(status: int, code: str, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status, "application/json", {"error": code, "message": message, **extra})


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


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_media_type(error: Exception) -> Response[dict[str, Any]]:
    return _error(415, "unsupported_media_type", "the body must be application/json")


@app.exception_handler(ValueError)
def _unreadable_body(error: ValueError) -> Response[dict[str, Any]]:
    # Powertools' body parsing raises a bare ValueError for a multipart/form-data
    # Content-Type without a boundary; any other ValueError is unexpected.
    if _raised_by(error, _BODY_PARSING_MODULE):
        return _unsupported_media_type(error)
    return _internal_error(error)


@app.exception_handler(ServiceError)
def _service_error(error: ServiceError) -> Response[dict[str, Any]]:
    # Powertools' HTTP errors (BadRequestError, ...) keep their status, in the Error shape.
    known = error.status_code in HTTPStatus._value2member_map_
    phrase = HTTPStatus(error.status_code).phrase if known else "error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return _error(error.status_code, code, str(error.msg))


@app.not_found
def _no_route(error: Exception) -> Response[dict[str, Any]]:
    event = app.current_event
    return _error(404, "not_found", f"no route {event.http_method} {event.path}")


@app.exception_handler(Exception)
def _internal_error(error: Exception) -> Response[dict[str, Any]]:
    # What no handler above expects: logged with its traceback, never shown to the caller.
    logger.exception("unhandled error")
    return _error(500, "internal_error", "an unexpected error occurred; it has been logged")


_BODY_PARSING_MODULE = "aws_lambda_powertools.event_handler.middlewares.openapi_validation"


def _raised_by(error: BaseException, module: str) -> bool:
    """Whether ``error`` was raised by code of ``module`` (its innermost frame)."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and trace.tb_frame.f_globals.get("__name__") == module


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
