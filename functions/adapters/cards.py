"""R11: the account's Stripe customer and its card on file, written in DynamoDB.

Both writes are conditional, so that a repeated request changes nothing: an account keeps
the first customer stored on it, and a card update is saved once, recorded in the ledger as
``card#<update>`` (the SetupIntent id, or the Stripe event of an automatic card update).
The account of a customer is found through the sparse ``by_customer`` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.exceptions import QueryError, TransactWriteError, UpdateError

from functions.adapters.accounts import (
    CONDITION_FAILED,
    AccountStore,
    card_item,
    ledger_entry,
)
from functions.adapters.models import AccountModel, LedgerEntryModel, transact_write
from functions.billing.account import Account
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.invoices import Card
from functions.billing.payments import CardNotOnFile

CONDITIONAL_FAILURE = "ConditionalCheckFailedException"


def card_entry_id(update_id: str) -> str:
    return f"card#{update_id}"


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

    def account_of_customer(self, customer_id: str) -> str | None:
        """The contractor whose account holds the Stripe customer ``customer_id``; None when
        no account does."""
        try:
            for item in AccountModel.by_customer.query(customer_id, limit=1):
                return str(item.contractor_id)
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        return None

    def save_card(
        self,
        contractor_id: str,
        update_id: str,
        card: Card,
        now: datetime,
        *,
        replacing: str | None = None,
    ) -> bool:
        """Make ``card`` the account's card on file and record it in the ledger, once per
        card update; False when that update was saved before (nothing changes then).

        ``replacing``: save only while the card on file is that payment method (Stripe's
        card updater renewed it); ``CardNotOnFile`` when it is not, or no longer.
        """
        condition = AccountModel.contractor_id.exists()
        if replacing is not None:
            condition &= AccountModel.card.payment_method_id == replacing
        try:
            # pynamodb sends a transaction's puts before its updates: the cancellation
            # reasons come in that order.
            with transact_write() as transaction:
                transaction.save(
                    ledger_entry(
                        contractor_id,
                        card_entry_id(update_id),
                        "card_saved",
                        now,
                        reason=card.payment_method_id,
                        detail=f"{card.brand} {card.last4} {card.exp_month:02d}/{card.exp_year}",
                    ),
                    condition=LedgerEntryModel.entry_id.does_not_exist(),
                )
                transaction.update(
                    AccountModel(contractor_id),
                    actions=[
                        AccountModel.card.set(card_item(card)),
                        AccountModel.card_expires.set(card.expiry_month),
                    ],
                    condition=condition,
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            codes = [reason.code if reason is not None else None for reason in reasons]
            if len(codes) == 2 and codes[0] == CONDITION_FAILED:
                return False  # this setup's entry exists: saved before
            if len(codes) == 2 and codes[1] == CONDITION_FAILED:
                if replacing is not None:
                    self._accounts.get(contractor_id)  # AccountNotFound when it is gone
                    raise CardNotOnFile(contractor_id, replacing) from error
                raise AccountNotFound(contractor_id) from error
            raise StorageUnavailable(str(error)) from error
        return True


class ExpiringCards:
    """R14: the accounts of a timezone whose card on file expires in a month, from the
    sparse ``card_expiry`` index (no scan; only the cards expiring that month are read)."""

    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts

    def expiring(self, timezone: str, month: str) -> Iterator[Account]:
        """The accounts of ``timezone`` whose card expires in ``month`` (``YYYY-MM``)."""
        try:
            for item in AccountModel.card_expiry.query(
                month, filter_condition=AccountModel.timezone == timezone
            ):
                try:
                    yield self._accounts.get(item.contractor_id)
                except AccountNotFound:
                    continue
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
