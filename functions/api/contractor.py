"""The contractor's routes on the api function (R8, R13): their own billing.

Behind the Cognito user pool authorizer. The contractor is the one the verified token
names (``functions.adapters.identity``), never one named by the path, the query or the
body. The route signatures are read at run time by the resolver's validation, so this
module keeps its annotations evaluated (no ``from __future__ import annotations``).
"""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from functions.adapters import clock
from functions.adapters.identity import contractor_id
from functions.api.services import EventsNotPublished, current
from functions.billing.account import MAX_BUDGET
from functions.billing.money import Money
from functions.usecases.billing_view import contractor_billing

logger = Logger(child=True)
tracer = Tracer()
router = Router()


class BudgetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)]


def _contractor() -> str:
    return contractor_id(router.current_event.raw_event)


@router.get("/me/billing")
@tracer.capture_method
def get_my_billing() -> dict[str, Any]:
    """R13: the contractor's own billing state and card on file."""
    return contractor_billing(current().accounts.get(_contractor()), clock.now())


@router.put("/me/budget")
@tracer.capture_method
def put_my_budget(body: Annotated[BudgetChange, Body()]) -> dict[str, Any]:
    """R8: the new monthly budget takes effect at once, pausing or reactivating at once."""
    now = clock.now()
    services = current()
    changed, events = services.periods.change_budget(_contractor(), Money(body.monthly_cents), now)
    if events and services.bus.publish(events):
        raise EventsNotPublished(changed.contractor_id)
    logger.info(
        "budget changed",
        extra={"contractor_id": changed.contractor_id, "monthly_cents": body.monthly_cents},
    )
    return contractor_billing(changed, now)
