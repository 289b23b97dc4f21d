"""The operator's lead credits: ``POST /admin/leads/{lead_id}/credit`` (``billing.credits``).

A bad lead's charge is taken back, once: off the unbilled charges when no invoice billed
it yet, else as account credit that the next invoice takes off before the card is charged.

The body names the contractor with the reason. The ledger is keyed by contractor, and the
Leads table, the only record of a lead's contractor outside the ledger, belongs to the
lead distribution system and is not this function's to read. The operator works on one
account and knows it; the contractor named is checked against the ledger, which must hold
the lead's charge on that very account, so a wrong contractor credits nothing (404).

Answers: 201 with the credit and the account after it; 409 ``already_credited`` with the
first credit when the lead was credited before (a retried request, or a concurrent one,
credits nothing more, and announces the first credit's events again, under their event
ids, in case the first request could not); 404 ``lead_not_found``; 409
``lead_not_charged`` for a lead that was rejected. The route signature is read at run time
by the resolver's validation, so this module keeps its annotations evaluated.
"""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from functions.adapters import clock
from functions.adapters.credits import LeadCredits
from functions.adapters.http_errors import error_response
from functions.api.services import EventsNotPublished, current
from functions.billing.account import CONTRACTOR_ID
from functions.billing.credits import (
    MAX_REASON_LENGTH,
    InvalidCredit,
    LeadCredit,
    LeadNotCharged,
    LeadNotFound,
)
from functions.billing.leads import MAX_ID_LENGTH
from functions.usecases import answers
from functions.usecases.answers import LeadCredited
from functions.usecases.billing_view import billing_state, local_iso

logger = Logger(child=True)
tracer = Tracer()
router = Router()
# A lead id in a path: letters, digits and ``_.:~-``, never a slash, a space or a control.
LEAD_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:~-]{{0,{MAX_ID_LENGTH - 1}}}$"


class CreditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contractor_id: Annotated[
        StrictStr, Field(min_length=1, max_length=128, pattern=CONTRACTOR_ID.pattern)
    ]
    reason: Annotated[StrictStr, Field(min_length=1, max_length=MAX_REASON_LENGTH)]


def _answer(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


# The answers of this route beyond the API's common errors (``infra/openapi.py`` gives the
# error bodies their ``Error`` schema; the 201's body is the route's return model).
RESPONSES: dict[int, OpenAPIResponse] = {
    201: {"description": "Credited: the credit (`credit`) and the account after it (`account`)"},
    404: _answer(
        "No charge or rejection of this lead on the contractor's account (`lead_not_found`)"
    ),
    409: _answer(
        "The lead was credited before (`already_credited`, with the first credit as "
        "`credit`), or it was rejected, never charged (`lead_not_charged`)"
    ),
}


class AlreadyCredited(Exception):
    """The lead was credited before: the first credit, as the account's timezone shows it."""

    def __init__(self, credit: LeadCredit, timezone: str) -> None:
        super().__init__(f"lead {credit.lead_id!r} was credited before")
        self.credit = credit
        self.timezone = timezone


_error = error_response


@router.post("/admin/leads/<lead_id>/credit", status_code=201, responses=RESPONSES)
@tracer.capture_method
def credit_lead(
    lead_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=LEAD_ID_PATTERN)],
    body: Annotated[CreditRequest, Body()],
) -> LeadCredited:
    """Credit a bad lead's charge, at most once per lead."""
    now = clock.now()
    services = current()
    result = LeadCredits(services.periods).credit(body.contractor_id, lead_id, body.reason, now)
    if services.bus.publish(list(result.events)):
        # The credit is stored: the retry answers 409 and announces the events again.
        raise EventsNotPublished(body.contractor_id)
    credit = result.credit
    if not result.created:
        raise AlreadyCredited(credit, services.accounts.get(credit.contractor_id).timezone)
    assert result.account is not None
    logger.info(
        "lead credited",
        extra={
            "contractor_id": credit.contractor_id,
            "lead_id": lead_id,
            "amount_cents": credit.amount.cents,
            "kind": credit.kind.value,
        },
    )
    return LeadCredited(
        credit=credit_view(credit, result.account.timezone),
        account=billing_state(result.account, now),
    )


def credit_view(credit: LeadCredit, timezone: str) -> answers.LeadCredit:
    return answers.LeadCredit(
        lead_id=credit.lead_id,
        contractor_id=credit.contractor_id,
        amount_cents=credit.amount.cents,
        kind=credit.kind,
        invoice_id=credit.invoice_id,
        reason=credit.reason,
        credited_at=local_iso(credit.credited_at, timezone),
        budget_returned_cents=credit.amount.cents if credit.budget_returned else 0,
        reactivated=credit.reactivated_paused_since is not None,
    )


@router.exception_handler(AlreadyCredited)
def _already_credited(error: AlreadyCredited) -> Response[dict[str, Any]]:
    credit = error.credit
    return _error(
        409,
        "already_credited",
        f"lead {credit.lead_id!r} was credited on {local_iso(credit.credited_at, error.timezone)}",
        credit=credit_view(credit, error.timezone).model_dump(mode="json"),
    )


@router.exception_handler(LeadNotFound)
def _lead_not_found(error: LeadNotFound) -> Response[dict[str, Any]]:
    return _error(404, "lead_not_found", str(error))


@router.exception_handler(LeadNotCharged)
def _lead_not_charged(error: LeadNotCharged) -> Response[dict[str, Any]]:
    return _error(409, "lead_not_charged", f"{error}: there is nothing to credit")


@router.exception_handler(InvalidCredit)
def _invalid_credit(error: InvalidCredit) -> Response[dict[str, Any]]:
    return _error(
        400,
        "invalid_request",
        str(error),
        problems=[{"field": error.field, "message": error.message}],
    )
