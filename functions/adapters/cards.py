"""R11: the account's Stripe customer and its card on file, written in DynamoDB.

Both writes are conditional, so that a repeated request changes nothing: an account keeps
the first customer stored on it, and a card update is saved once, recorded in the ledger as
``card#<update>`` (the SetupIntent id, or the Stripe event of an automatic card update).
The account of a customer is found through the sparse ``by_customer`` index.

Stripe reports card setups in no particular order, and the app's confirm of a setup may
come late too: the card on file is the card of the setup started last. Each setup gets the
next number of its account when it starts (``start_setup``); the card on file keeps its
setup's number, and a setup's card is saved on the condition that no later setup's card is
on file, so two saves at once cannot leave the older card.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.exceptions import GetError, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

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
from functions.billing.payments import CardNotOnFile, StaleCardSetup

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

    def start_setup(self, contractor_id: str) -> int:
        """R11: the number of a card setup the account starts now, one more than the one
        before (the first is 1)."""
        item = AccountModel(contractor_id)
        try:
            item.update(
                actions=[AccountModel.card_setups.add(1)],
                condition=AccountModel.contractor_id.exists(),
            )
        except UpdateError as error:
            if error.cause_response_code == CONDITIONAL_FAILURE:
                raise AccountNotFound(contractor_id) from error
            raise StorageUnavailable(str(error)) from error
        return int(item.card_setups or 0)

    def setup_on_file(self, contractor_id: str) -> int | None:
        """The number of the setup whose card is on file; None when the card on file came
        from a setup with no number, or there is none."""
        try:
            item = AccountModel.get(
                contractor_id,
                consistent_read=True,
                attributes_to_get=["contractor_id", "card_setup"],
            )
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error
        return None if item.card_setup is None else int(item.card_setup)

    def account_of_customer(self, customer_id: str) -> str | None:
        """The contractor whose account holds the Stripe customer ``customer_id``; None when
        no account does."""
        try:
            for item in AccountModel.by_customer.query(customer_id, limit=1):
                return str(item.contractor_id)
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        return None

    def save_setup_card(
        self,
        contractor_id: str,
        setup_intent_id: str,
        card: Card,
        number: int | None,
        now: datetime,
    ) -> bool:
        """R11: make the card of setup ``number`` the card on file, unless the card of a
        later setup is on file (``StaleCardSetup``, nothing changes), and record it in the
        ledger once; False when that setup was saved before. A setup with no number (one
        started before setups were numbered) replaces only a card with no number."""
        on_file = AccountModel.card_setup
        condition = on_file.does_not_exist()
        also: list[Action] = []
        if number is not None:
            condition = condition | (on_file <= number)
            also = [on_file.set(number)]
        try:
            return self._save(contractor_id, setup_intent_id, card, now, condition, also)
        except _Refused as refused:
            raise StaleCardSetup(setup_intent_id, number, refused.on_file) from refused

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
        condition: Condition = AccountModel.contractor_id.exists()
        if replacing is not None:
            condition &= AccountModel.card.payment_method_id == replacing
        try:
            return self._save(contractor_id, update_id, card, now, condition, [])
        except _Refused as refused:
            if replacing is None:
                raise StorageUnavailable(f"account {contractor_id}: card not saved") from refused
            raise CardNotOnFile(contractor_id, replacing) from refused

    def _save(
        self,
        contractor_id: str,
        update_id: str,
        card: Card,
        now: datetime,
        condition: Condition,
        also: list[Action],
    ) -> bool:
        """Save ``card`` on ``condition`` (the account must exist besides): False when the
        update was saved before; ``_Refused`` when the condition does not hold."""
        condition = AccountModel.contractor_id.exists() & condition
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
                        *also,
                    ],
                    condition=condition,
                    return_values="ALL_OLD",
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            codes = [reason.code if reason is not None else None for reason in reasons]
            if len(codes) == 2 and codes[0] == CONDITION_FAILED:
                return False  # this update's entry exists: saved before
            if len(codes) == 2 and codes[1] == CONDITION_FAILED:
                found = reasons[1].raw_item if reasons[1] is not None else None
                if not found:
                    raise AccountNotFound(contractor_id) from error
                on_file = found.get("card_setup", {}).get("N")
                raise _Refused(int(on_file) if on_file is not None else 0) from error
            raise StorageUnavailable(str(error)) from error
        return True


class _Refused(Exception):
    """The account's condition for a card update did not hold. ``on_file``: the number of
    the setup whose card is on file (0: none)."""

    def __init__(self, on_file: int) -> None:
        super().__init__(f"card update refused; setup {on_file} on file")
        self.on_file = on_file


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
