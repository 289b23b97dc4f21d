"""Issuing invoices against moto (R2, R3, R4): each charge on exactly one invoice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest

from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import InvoiceModel
from functions.billing.invoices import (
    InvoiceKind,
    InvoiceStatus,
    threshold_invoice_id,
    weekly_invoice_id,
)
from tests.integration.steps import (
    account,
    deliver,
    lead,
    ledger,
    open_contractor,
    records_for,
)

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
FRIDAY = date(2026, 11, 20)


def charge(on_lead, aws, *prices: int, prefix: str = "L") -> list[str]:
    ids = [f"{prefix}{n}" for n in range(len(prices))]
    deliver(on_lead, records_for(aws, [lead(i, p) for i, p in zip(ids, prices, strict=True)]))
    return ids


def test_r3_an_invoice_bills_every_unbilled_charge_once(on_lead, aws):
    open_contractor()
    charge(on_lead, aws, 1_000, 2_500, 4_000)
    store = InvoiceStore()
    invoice_id = weekly_invoice_id("c-1", FRIDAY)

    invoice = store.issue("c-1", invoice_id, InvoiceKind.WEEKLY, NOW)

    assert invoice is not None
    assert invoice.status is InvoiceStatus.OPEN
    assert [line.lead_id for line in invoice.lines] == ["L0", "L1", "L2"]
    assert invoice.total.cents == 7_500
    item = account()
    assert (item.unbilled_cents, item.invoice_headroom_cents) == (0, 20_000)
    assert item.billable_timezone is None
    assert item.invoice_sequence == 1
    charges = ledger(kind="charge")
    assert {entry.invoice_id for entry in charges} == {invoice_id}
    assert all(entry.unbilled_key is None for entry in charges)
    [issued] = ledger(kind="invoice_issued")
    assert issued.amount_cents == 7_500


def test_r3_issuing_the_same_invoice_again_changes_nothing(on_lead, aws):
    open_contractor()
    charge(on_lead, aws, 1_000)
    store = InvoiceStore()
    invoice_id = weekly_invoice_id("c-1", FRIDAY)
    first = store.issue("c-1", invoice_id, InvoiceKind.WEEKLY, NOW)
    charge(on_lead, aws, 300, prefix="LATER")
    again = store.issue("c-1", invoice_id, InvoiceKind.WEEKLY, NOW)
    assert again == first
    # The later charge waits for the next invoice
    assert account().unbilled_cents == 300
    assert len(ledger(kind="invoice_issued")) == 1


def test_r3_no_unbilled_charges_no_invoice(on_lead, aws):
    open_contractor()
    store = InvoiceStore()
    assert store.issue("c-1", weekly_invoice_id("c-1", FRIDAY), InvoiceKind.WEEKLY, NOW) is None
    assert list(InvoiceModel.scan()) == []


def test_r4_a_stale_threshold_trigger_issues_nothing(on_lead, aws):
    open_contractor()
    charge(on_lead, aws, 20_000)
    store = InvoiceStore()
    assert account().invoice_due is True
    # The trigger saw the account when it had issued one invoice; it has issued none
    stale = store.issue(
        "c-1", threshold_invoice_id("c-1", 2), InvoiceKind.THRESHOLD, NOW, while_sequence=1
    )
    assert stale is None
    current = store.issue(
        "c-1", threshold_invoice_id("c-1", 1), InvoiceKind.THRESHOLD, NOW, while_sequence=0
    )
    assert current is not None and current.total.cents == 20_000
    assert account().invoice_due is False


def test_r2_racing_invoices_put_each_charge_on_exactly_one(on_lead, aws):
    open_contractor(budget=1_000_000)
    ids = charge(on_lead, aws, *([1_000] * 30))
    store = InvoiceStore()
    weekly = weekly_invoice_id("c-1", FRIDAY)
    threshold = threshold_invoice_id("c-1", 1)

    def issue(args):
        invoice_id, kind = args
        return store.issue("c-1", invoice_id, kind, NOW)

    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                issue,
                [(weekly, InvoiceKind.WEEKLY), (threshold, InvoiceKind.THRESHOLD)] * 2,
            )
        )
    invoices = {invoice.invoice_id: invoice for invoice in results if invoice is not None}
    billed = [line.lead_id for invoice in invoices.values() for line in invoice.lines]
    assert sorted(billed) == sorted(ids)  # every charge billed, none twice
    assert sum(invoice.total.cents for invoice in invoices.values()) == 30_000
    assert account().unbilled_cents == 0
    assert all(invoice.total.cents > 0 for invoice in invoices.values())
    assert account().invoice_sequence == len(invoices)


def test_r2_an_interrupted_issue_is_completed_by_running_it_again(on_lead, aws, monkeypatch):
    open_contractor()
    charge(on_lead, aws, 1_000, 2_000)
    store = InvoiceStore()
    invoice_id = weekly_invoice_id("c-1", FRIDAY)

    def crash(*_args, **_kwargs):
        raise RuntimeError("the function died after claiming")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(InvoiceStore, "_issue_draft", crash)
        store.issue("c-1", invoice_id, InvoiceKind.WEEKLY, NOW)
    assert InvoiceModel.get(invoice_id).status == "draft"
    assert account().unbilled_cents == 3_000  # claimed, not yet taken off the account

    invoice = InvoiceStore().issue("c-1", invoice_id, InvoiceKind.WEEKLY, NOW)

    assert invoice is not None and invoice.total.cents == 3_000
    assert account().unbilled_cents == 0
