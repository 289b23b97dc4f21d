"""What the api function's routes work with, built once per cold start by ``handler``.

The route modules (``operator``, ``contractor``) are routers that the handler includes;
they reach the stores through ``current()``, so that a handler initialised again (as the
tests do for each test's resources) gives every route the new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.adapters.accounts import AccountStore
from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.cards import CardStore
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import EventBus
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.settings import ApiSettings
from functions.billing.payments import Payments


@dataclass(frozen=True, slots=True)
class Services:
    settings: ApiSettings
    accounts: AccountStore
    invoices: InvoiceStore
    cards: CardStore
    periods: BudgetPeriods
    bus: EventBus
    payments: Callable[[], Payments]
    documents: InvoiceDocuments  # the invoice PDFs the emails carried


_current: Services | None = None


def install(services: Services) -> None:
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise RuntimeError("the api function's services are not initialised")
    return _current


class EventsNotPublished(RuntimeError):
    """The bus refused an event of a change that is stored."""
