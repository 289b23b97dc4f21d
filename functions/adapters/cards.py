"""R11: the account's Stripe customer and its card on file, written in DynamoDB.

Both writes are conditional, so that a repeated request changes nothing: an account keeps
the first customer stored on it, and a card setup is saved once, recorded in the ledger as
``card#<setup_intent_id>``.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError, UpdateError

from functions.adapters.accounts import CONDITION_FAILED, AccountStore, card_item, ledger_entry
from functions.adapters.models import AccountModel, LedgerEntryModel, transact_write
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.invoices import Card

CONDITIONAL_FAILURE = "ConditionalCheckFailedException"


def card_entry_id(setup_intent_id: str) -> str:
    return f"card#{setup_intent_id}"


class CardStore:
    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts

    def keep_customer(self, contractor_id: str, customer_id: str) -> str:
        """Store ``customer_id`` as the account's Stripe customer unless it has one; the
        customer the account holds afterwards."""
        try:
            AccountModel(contractor_id).update(
                actions=[AccountModel.stripe_customer_id.set(customer_id)],
                condition=AccountModel.contractor_id.exists()
                & (
                    AccountModel.stripe_customer_id.does_not_exist()
                    | (AccountModel.stripe_customer_id == customer_id)
                ),
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITIONAL_FAILURE:
                raise StorageUnavailable(str(error)) from error
            # Gone, or holding another customer already: that one stays.
            stored = self._accounts.get(contractor_id).stripe_customer_id
            if stored is None:
                raise StorageUnavailable(f"account {contractor_id}: customer not stored") from error
            return stored
        return customer_id

    def save_card(
        self, contractor_id: str, setup_intent_id: str, card: Card, now: datetime
    ) -> bool:
        """Make ``card`` the account's card on file and record it in the ledger, once per
        card setup; False when that setup was saved before (nothing changes then)."""
        try:
            # pynamodb sends a transaction's puts before its updates: the cancellation
            # reasons come in that order.
            with transact_write() as transaction:
                transaction.save(
                    ledger_entry(
                        contractor_id,
                        card_entry_id(setup_intent_id),
                        "card_saved",
                        now,
                        reason=card.payment_method_id,
                        detail=f"{card.brand} {card.last4} {card.exp_month:02d}/{card.exp_year}",
                    ),
                    condition=LedgerEntryModel.entry_id.does_not_exist(),
                )
                transaction.update(
                    AccountModel(contractor_id),
                    actions=[AccountModel.card.set(card_item(card))],
                    condition=AccountModel.contractor_id.exists(),
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            codes = [reason.code if reason is not None else None for reason in reasons]
            if len(codes) == 2 and codes[0] == CONDITION_FAILED:
                return False  # this setup's entry exists: saved before
            if len(codes) == 2 and codes[1] == CONDITION_FAILED:
                raise AccountNotFound(contractor_id) from error
            raise StorageUnavailable(str(error)) from error
        return True
