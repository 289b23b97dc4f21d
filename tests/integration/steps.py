"""Shared steps of the integration tests: accounts, leads through the real on_lead
handler, and what the tables and the bus hold afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import stripe

from functions.adapters.accounts import AccountStore, card_item
from functions.adapters.models import AccountModel, LedgerEntryModel
from functions.adapters.payments import StripePayments, stripe_client
from functions.billing.account import open_account
from functions.billing.money import Money
from tests.support.aws import (
    LambdaContext,
    Resources,
    drain,
    put_leads,
    stream_event,
    stream_records,
)
from tests.support.cards import API_KEY, VISA, saved_card

SIGNUP = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)  # the 15th in Chicago
EARLIER_SIGNUP = datetime(2026, 10, 15, 17, 0, tzinfo=UTC)


def open_contractor(
    contractor_id: str = "c-1",
    budget: int = 100_000,
    signup=SIGNUP,
    timezone: str = "America/Chicago",
    locale: str = "en",
) -> None:
    account = open_account(
        contractor_id=contractor_id,
        business_name="Acme Roofing",
        billing_email="billing@acme.example",
        locale=locale,
        timezone=timezone,
        signed_up_at=signup,
        monthly_budget=Money(budget),
    )
    AccountStore().create(account, signup)


def lead(
    lead_id: str, price: int, contractor_id: str = "c-1", at: str = "2026-11-20T09:00:00-06:00"
):
    return {
        "lead_id": lead_id,
        "contractor_id": contractor_id,
        "price_cents": price,
        "delivered_at": at,
        "category": "roofing",
    }


def deliver(on_lead: ModuleType, records: list[dict[str, Any]]) -> dict[str, Any]:
    return on_lead.handler(stream_event(records), LambdaContext())


def deliver_in_parallel(on_lead: ModuleType, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One invocation among concurrent ones. Lambda runs concurrent invocations in separate
    environments; threads of one process share the module's Powertools metrics buffer, so
    they call the handler's batch processing beneath the per-process decorators."""
    return on_lead.intake.process(records, LambdaContext())


def records_for(aws: Resources, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    put_leads(items)
    wanted = {item["lead_id"] for item in items}
    return [
        record
        for record in stream_records(aws.leads_stream_arn())
        if record["dynamodb"]["Keys"]["lead_id"]["S"] in wanted
    ]


def account(contractor_id: str = "c-1") -> AccountModel:
    return AccountModel.get(contractor_id, consistent_read=True)


def ledger(contractor_id: str = "c-1", kind: str | None = None) -> list[LedgerEntryModel]:
    entries = list(LedgerEntryModel.query(contractor_id))
    return [entry for entry in entries if kind is None or entry.kind == kind]


def events(aws: Resources, detail_type: str | None = None) -> list[dict[str, Any]]:
    got = [json.loads(json.dumps(body)) for body in drain(aws.events_queue_url)]
    return [event for event in got if detail_type is None or event["detail-type"] == detail_type]


def save_card(localstripe: str, contractor_id: str = "c-1", number: str = VISA) -> None:
    """Store a card saved through a SetupIntent (with its own Stripe customer) as the
    account's card on file."""
    payments = StripePayments(stripe_client(API_KEY, localstripe))
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    customer, card = saved_card(payments, api, localstripe, number)
    AccountModel(contractor_id).update(
        actions=[
            AccountModel.stripe_customer_id.set(customer),
            AccountModel.card.set(card_item(card)),
            AccountModel.card_expires.set(card.expiry_month),
        ]
    )
