"""Failures the ports report in domain terms; adapters translate storage errors into these."""

from __future__ import annotations


class BillingError(Exception):
    pass


class FieldError(ValueError):
    """A value of a named field that the billing cannot accept."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class AccountNotFound(BillingError):
    def __init__(self, contractor_id: str) -> None:
        super().__init__(f"no account for contractor {contractor_id!r}")
        self.contractor_id = contractor_id


class AccountAlreadyExists(BillingError):
    def __init__(self, contractor_id: str) -> None:
        super().__init__(f"an account for contractor {contractor_id!r} exists already")
        self.contractor_id = contractor_id


class InvoiceNotFound(BillingError):
    def __init__(self, invoice_id: str) -> None:
        super().__init__(f"no invoice {invoice_id!r}")
        self.invoice_id = invoice_id


class StorageUnavailable(BillingError):
    """A transient failure (throttling, contention, timeouts) that outlasted the retries.

    Nothing was written; the input must be retried later.
    """
