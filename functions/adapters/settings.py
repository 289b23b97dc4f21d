"""Typed settings, parsed once at cold start from the function's environment.

This is the only module that reads ``os.environ``. Each function declares the settings
it needs; the CDK stack sets exactly these variables (``infra/``), and the local stack
resolves them from the synthesized template (``local/``).

A settings class declares each field with the variable it comes from
(``accounts_table: str = variable("ACCOUNTS_TABLE")``), and how to read it when it is not
a string; ``from_env`` reads them all or names every one that is missing or unreadable.
``model_fields`` maps each field to its variable (``.alias``), for the stack and the tests
that check the two agree.

Not pydantic, although the functions' other inputs are validated with it: every setting
is a required string, and importing pydantic to read ten of them cost about 40 ms of each
cold start (a sixth of a process that imports boto3 and creates a client), plus 30 ms in
``on_lead``, whose batch processor builds Powertools' pydantic event models when pydantic
is loaded (``bench/RESULTS.md``, cold starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

_S = TypeVar("_S", bound="FunctionSettings")
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class EnvironmentVariable:
    """A field's source: the environment variable named ``alias``, read with ``parse``;
    ``default`` when it is unset (when the field has one)."""

    alias: str
    parse: Callable[[str], Any] = str
    default: Any = _REQUIRED


def variable(name: str, parse: Callable[[str], Any] = str, default: Any = _REQUIRED) -> Any:
    """Declare a settings field read from the environment variable ``name``."""
    return EnvironmentVariable(name, parse, default)


class MissingSettings(ValueError):
    """The environment lacks variables the function's settings need."""


class FunctionSettings:
    model_fields: ClassVar[Mapping[str, EnvironmentVariable]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, EnvironmentVariable] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, EnvironmentVariable):
                    fields[name] = value
        cls.model_fields = fields

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.model_fields)
        missing = set(self.model_fields) - set(values)
        if unknown or missing:
            raise TypeError(f"{type(self).__name__}: unknown {unknown}, missing {missing}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.model_fields)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.model_fields
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.model_fields))

    @classmethod
    def from_env(cls: type[_S]) -> _S:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, field in cls.model_fields.items():
            raw = os.environ.get(field.alias)
            if raw is None:
                if field.default is _REQUIRED:
                    problems.append(field.alias)
                values[name] = field.default
                continue
            try:
                values[name] = field.parse(raw)
            except ValueError:
                problems.append(f"{field.alias} (not a {getattr(field.parse, '__name__', '?')})")
        if problems:
            raise MissingSettings(f"{cls.__name__} needs {', '.join(sorted(problems))}")
        return cls(**values)


class TablesSettings(FunctionSettings):
    accounts_table: str = variable("ACCOUNTS_TABLE")
    ledger_table: str = variable("LEDGER_TABLE")

    def table_names(self) -> dict[str, str]:
        return {"accounts": self.accounts_table, "ledger": self.ledger_table}


class NoticesSettings(TablesSettings):
    """For the functions that email notices (R14): the table of notices sent, and SES."""

    notices_table: str = variable("NOTICES_TABLE")
    email_sender: str = variable("EMAIL_SENDER")
    email_configuration_set: str = variable("EMAIL_CONFIGURATION_SET")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "notices": self.notices_table}


class NotifySettings(NoticesSettings):
    """notify: announces the pauses and budget reactivations that the accounts stream
    shows (R12), and emails them and the budget warnings (R14)."""

    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")


class OnLeadSettings(TablesSettings):
    quarantine_table: str = variable("QUARANTINE_TABLE")
    quarantine_queue_url: str = variable("QUARANTINE_QUEUE_URL")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "quarantine": self.quarantine_table}


class PaymentsSettings(TablesSettings):
    """For the functions that talk to Stripe: the name of the secret holding its keys
    (``functions.adapters.secrets``)."""

    stripe_secret_name: str = variable("STRIPE_SECRET_NAME")


class WeeklyInvoiceSettings(PaymentsSettings):
    """weekly_invoice: issues, collects and emails invoices (R3..R6)."""

    invoices_table: str = variable("INVOICES_TABLE")
    invoice_queue_url: str = variable("INVOICE_QUEUE_URL")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")
    email_sender: str = variable("EMAIL_SENDER")
    email_configuration_set: str = variable("EMAIL_CONFIGURATION_SET")
    documents_bucket: str = variable("DOCUMENTS_BUCKET")  # the PDFs the emails carried
    # Seconds between the Stripe requests of one environment, so that the work queue's
    # concurrent environments stay within the Friday's share of Stripe's rate limit
    # (``infra/weekly_invoice.py``, ``pacing.RequestPacer``); unset: no pacing.
    stripe_request_interval: float = variable("STRIPE_REQUEST_INTERVAL_SECONDS", float, 0.0)

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class CardUpdatedSettings(PaymentsSettings):
    """card_updated: the contractor's card flow and Stripe's webhooks (R6, R11)."""

    invoices_table: str = variable("INVOICES_TABLE")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")
    email_sender: str = variable("EMAIL_SENDER")
    email_configuration_set: str = variable("EMAIL_CONFIGURATION_SET")
    documents_bucket: str = variable("DOCUMENTS_BUCKET")  # the PDFs the emails carried

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class BudgetResetSettings(NoticesSettings):
    """budget_reset: the daily roll-over of budget periods (R7, R8), and the notice of a
    card that expires this month (R14)."""

    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")


class ApiSettings(PaymentsSettings):
    """api: the operator API and the contractor's billing routes. It opens accounts with
    their Stripe customer (R6), reads invoices, and announces the pauses and reactivations
    of budget changes (R8, R12), and serves the invoice PDFs the emails carried."""

    invoices_table: str = variable("INVOICES_TABLE")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")
    documents_bucket: str = variable("DOCUMENTS_BUCKET")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class GraceCheckSettings(PaymentsSettings, NoticesSettings):
    """grace_check: retries past-due payments during the grace period, reminds the
    contractor of its end (R14) and pauses for non-payment at its end (R9, R10)."""

    invoices_table: str = variable("INVOICES_TABLE")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class ReconcileSettings(PaymentsSettings):
    """reconcile: the daily reconciliation of the ledger's payments with Stripe's, which
    also resolves the payment attempts whose answer never came (R5, R6): it may charge,
    settle, email the invoice and announce it."""

    invoices_table: str = variable("INVOICES_TABLE")
    event_bus_name: str = variable("EVENT_BUS_NAME")
    unpublished_events_queue_url: str = variable("UNPUBLISHED_EVENTS_QUEUE_URL")
    email_sender: str = variable("EMAIL_SENDER")
    email_configuration_set: str = variable("EMAIL_CONFIGURATION_SET")
    documents_bucket: str = variable("DOCUMENTS_BUCKET")  # the PDFs the emails carried

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class RepublishSettings(FunctionSettings):
    """republish: puts the events the bus refused, kept on the unpublished events queue
    (``functions.adapters.event_bus``), on the bus again."""

    event_bus_name: str = variable("EVENT_BUS_NAME")
