"""Typed settings, parsed once at cold start from the function's environment.

This is the only module that reads ``os.environ``. Each function declares the settings
it needs; the CDK stack sets exactly these variables (``infra/``), and the local stack
resolves them from the synthesized template (``local/``).
"""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

_S = TypeVar("_S", bound="FunctionSettings")


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @classmethod
    def from_env(cls: type[_S]) -> _S:
        return cls.model_validate(dict(os.environ))


class TablesSettings(FunctionSettings):
    accounts_table: str = Field(alias="ACCOUNTS_TABLE")
    ledger_table: str = Field(alias="LEDGER_TABLE")

    def table_names(self) -> dict[str, str]:
        return {"accounts": self.accounts_table, "ledger": self.ledger_table}


class NoticesSettings(TablesSettings):
    """For the functions that email notices (R14): the table of notices sent, and SES."""

    notices_table: str = Field(alias="NOTICES_TABLE")
    email_sender: str = Field(alias="EMAIL_SENDER")
    email_configuration_set: str = Field(alias="EMAIL_CONFIGURATION_SET")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "notices": self.notices_table}


class NotifySettings(NoticesSettings):
    """notify: emails the pauses, reactivations and budget warnings that the accounts
    stream shows (R14)."""


class OnLeadSettings(TablesSettings):
    quarantine_table: str = Field(alias="QUARANTINE_TABLE")
    quarantine_queue_url: str = Field(alias="QUARANTINE_QUEUE_URL")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "quarantine": self.quarantine_table}


class PaymentsSettings(TablesSettings):
    """For the functions that talk to Stripe: the name of the secret holding its keys
    (``functions.adapters.secrets``)."""

    stripe_secret_name: str = Field(alias="STRIPE_SECRET_NAME")


class WeeklyInvoiceSettings(PaymentsSettings):
    """weekly_invoice: issues, collects and emails invoices (R3..R6)."""

    invoices_table: str = Field(alias="INVOICES_TABLE")
    invoice_queue_url: str = Field(alias="INVOICE_QUEUE_URL")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    email_sender: str = Field(alias="EMAIL_SENDER")
    email_configuration_set: str = Field(alias="EMAIL_CONFIGURATION_SET")
    documents_bucket: str = Field(alias="DOCUMENTS_BUCKET")  # the PDFs the emails carried

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class CardUpdatedSettings(PaymentsSettings):
    """card_updated: the contractor's card flow and Stripe's webhooks (R6, R11)."""

    invoices_table: str = Field(alias="INVOICES_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    email_sender: str = Field(alias="EMAIL_SENDER")
    email_configuration_set: str = Field(alias="EMAIL_CONFIGURATION_SET")
    documents_bucket: str = Field(alias="DOCUMENTS_BUCKET")  # the PDFs the emails carried

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class BudgetResetSettings(NoticesSettings):
    """budget_reset: the daily roll-over of budget periods (R7, R8), and the notice of a
    card that expires this month (R14)."""

    event_bus_name: str = Field(alias="EVENT_BUS_NAME")


class ApiSettings(PaymentsSettings):
    """api: the operator API and the contractor's billing routes. It opens accounts with
    their Stripe customer (R6), reads invoices, and announces the pauses and reactivations
    of budget changes (R8, R12), and serves the invoice PDFs the emails carried."""

    invoices_table: str = Field(alias="INVOICES_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    documents_bucket: str = Field(alias="DOCUMENTS_BUCKET")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}


class GraceCheckSettings(PaymentsSettings, NoticesSettings):
    """grace_check: retries past-due payments during the grace period, reminds the
    contractor of its end (R14) and pauses for non-payment at its end (R9, R10)."""

    invoices_table: str = Field(alias="INVOICES_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")

    def table_names(self) -> dict[str, str]:
        return {**super().table_names(), "invoices": self.invoices_table}
