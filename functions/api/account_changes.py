"""``PATCH /admin/accounts/{contractor_id}``: an operator changes an account's details.

The body may name ``billing_email``, ``locale``, ``timezone``, ``threshold_cents`` and
``account_manager`` (all three of its fields), nothing else: a body naming anything more
(a balance, the pauses, the status, the Stripe customer, the contractor id, ...) is refused
whole with 400 ``invalid_request`` and changes nothing, and so is an explicit null or an
empty body. Values are validated by the domain (``billing.account_details``) before
anything is written.

The timezone cannot be moved (``billing.account_details`` says why): naming the account's
own timezone is accepted, another is refused with 409 ``timezone_change_unsupported`` (the
exception handler is ``functions.api.handler``'s).
The route stub is in ``functions.api.operator``; the resolver reads this model's
annotations at run time, so this module keeps them evaluated.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic.json_schema import SkipJsonSchema

from functions.adapters import clock
from functions.api.services import current
from functions.billing.account import MAX_BUDGET, AccountManager
from functions.billing.account_details import DetailChanges
from functions.billing.money import Money
from functions.usecases.answers import BillingState
from functions.usecases.billing_view import billing_state

Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Unset = SkipJsonSchema[None]

# The route's answers beyond the API's common errors (``infra/openapi.py``).
RESPONSES: dict[int, OpenAPIResponse] = {
    200: {"description": "The account's billing state after the change"},
    409: {
        "description": "Another timezone than the account's (`timezone_change_unsupported`)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


class AccountManagerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    phone: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    email: Annotated[StrictStr, Field(min_length=3, max_length=254)]


class AccountPatch(BaseModel):
    """The details to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    # A field may be left out, never null: None is kept out of the schema (SkipJsonSchema)
    # and an explicit null is refused below.
    billing_email: Annotated[StrictStr, Field(min_length=3, max_length=254)] | Unset = None
    locale: Annotated[StrictStr, Field(pattern="^(en|es)$")] | Unset = None
    timezone: Annotated[StrictStr, Field(min_length=1, max_length=64)] | Unset = None
    threshold_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)] | Unset = None
    account_manager: AccountManagerChange | Unset = None

    @model_validator(mode="after")
    def _something_and_no_nulls(self) -> "AccountPatch":
        if not self.model_fields_set:
            raise ValueError("name at least one detail to change")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: must not be null (leave a field out to keep it)")
        return self


def change_account(contractor_id: str, body: AccountPatch) -> BillingState:
    now = clock.now()
    manager = body.account_manager
    changes = DetailChanges(
        billing_email=body.billing_email,
        locale=body.locale,
        timezone=body.timezone,
        threshold=None if body.threshold_cents is None else Money(body.threshold_cents),
        account_manager=None
        if manager is None
        else AccountManager(manager.name, manager.phone, manager.email),
    )
    account = current().accounts.change_details(contractor_id, changes, now)
    return billing_state(account, now)
