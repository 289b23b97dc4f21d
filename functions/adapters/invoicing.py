"""R2, R3, R4: issuing an invoice claims its charges, each on exactly one invoice.

Issuing is resumable and idempotent, keyed by the invoice id:

1. **Draft.** The invoice is created as a draft listing the account's unbilled charges
   (read from the ledger's local ``unbilled`` index, strongly consistent). No unbilled
   charge: no draft, no invoice (there are no $0 invoices).
2. **Claim.** Each listed charge is claimed with a conditional update: it takes the
   invoice id only while it is unbilled, so a charge that a concurrent invoice (the Friday
   run racing a threshold crossing) claimed first stays on that one.
3. **Issue.** One transaction turns the draft into an open invoice with exactly the
   charges it claimed, takes their total off the account's unbilled amount and records the
   issue in the ledger. The account credit (lead credits of invoiced charges,
   ``billing.credits``) is applied in the same transaction, up to the total, and recorded
   as ``credit_applied#<invoice id>``: the card is charged the amount due only. A draft
   that claimed nothing becomes void.

A crash anywhere leaves a state that running the same invoice id again completes.

What a step writes, it knows: the claimed charges come back from their conditional updates,
the issued invoice and the settled attempt are built from what their transactions wrote,
and the account read to issue is handed to the collection. A Friday invoice therefore reads
its unbilled charges and its account once each, and nothing else (``bench/RESULTS.md``,
Friday cost). A transaction whose conditions no longer hold is cancelled, and the step
reads again and decides again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pynamodb.exceptions import (
    GetError,
    PutError,
    QueryError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from functions.adapters import cursors, send_claims
from functions.adapters.accounts import (
    CONDITION_FAILED,
    RETRYABLE_CANCELLATIONS,
    account_from_item,
    instant,
    ledger_entry,
    parse_instant,
)
from functions.adapters.budget_periods import reactivation_entry
from functions.adapters.lead_charges import lead_entry_id
from functions.adapters.models import (
    AccountModel,
    InvoiceLineAttribute,
    InvoiceModel,
    LedgerEntryModel,
    PaymentAttemptAttribute,
    transact_write,
)
from functions.billing.account import Account, PauseReason
from functions.billing.credits import credit_to_apply
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.events import AccountReactivated
from functions.billing.grace import grace_end
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    PaymentAttempt,
    status_after,
)
from functions.billing.money import Money
from functions.billing.pauses import Trigger, apply

DRAFT, VOID = "draft", "void"
# Lines an invoice lists at most, so that an invoice stays well within an item's 400 KB;
# whatever is left unbilled goes on the next invoice.
MAX_LINES = 1_000
MAX_ISSUE_ATTEMPTS = 8
EMAIL_CLAIM_SECONDS = 600
# What giving an email's claim back removes (``send_claims``).
_EMAIL_GIVE_BACK = [InvoiceModel.email_claimed_at.remove(), InvoiceModel.email_claim_token.remove()]
CONDITIONAL_FAILURE = "ConditionalCheckFailedException"
# The one partition of the sparse ``grace`` index (``models.GraceIndex``).
GRACE_SHARD = "grace"
# The one partition of the sparse ``unsettled`` index of invoices
# (``models.UnsettledAttemptsIndex``).
UNSETTLED_SHARD = "unsettled"


def payment_day(at: datetime) -> str:
    """The UTC day a payment is recorded on (``models.PaymentsByDayIndex``)."""
    return at.astimezone(UTC).date().isoformat()


def non_payment_pause() -> Path:
    return cast(Path, AccountModel.pauses[PauseReason.NON_PAYMENT.value])


class LedgerMismatch(RuntimeError):
    """The account's unbilled amount disagrees with its unbilled charges: a broken
    invariant that an operator must look at; nothing is issued."""


@dataclass(frozen=True, slots=True)
class Issued:
    """An issued invoice, with the account as that issue left it when this very call
    issued it (None when the invoice was issued before: the caller reads the account)."""

    invoice: Invoice
    account: Account | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Invoice]
    next_cursor: str | None


class InvoiceStore:
    def issue(
        self,
        contractor_id: str,
        invoice_id: str,
        kind: InvoiceKind,
        now: datetime,
        *,
        while_sequence: int | None = None,
    ) -> Invoice | None:
        """Issue ``invoice_id`` for everything unbilled, or finish issuing it; the invoice,
        or None when there was nothing to bill. ``while_sequence``: issue only if the
        account has issued exactly that many invoices and is flagged for a threshold
        invoice (R4), so that a stale trigger issues nothing."""
        issued = self.issue_with_account(
            contractor_id, invoice_id, kind, now, while_sequence=while_sequence
        )
        return issued.invoice if issued else None

    def issue_with_account(
        self,
        contractor_id: str,
        invoice_id: str,
        kind: InvoiceKind,
        now: datetime,
        *,
        while_sequence: int | None = None,
    ) -> Issued | None:
        """``issue``, with the account the issue read, so that collecting and emailing the
        invoice need not read it again."""
        draft = self._item(invoice_id)
        if draft is None:
            draft = self._draft(contractor_id, invoice_id, kind, now, while_sequence)
            if draft is None:
                return None
        if draft.status == VOID:
            return None
        if draft.status != DRAFT:
            return Issued(invoice_from_item(draft))
        claimed = self._claim(draft)
        if not claimed:
            self._void(draft)
            return None
        return self._issue_draft(draft, claimed, now)

    def get(self, invoice_id: str) -> Invoice | None:
        item = self._item(invoice_id)
        if item is None or item.status in (DRAFT, VOID):
            return None
        return invoice_from_item(item)

    def list_for(self, contractor_id: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        """An account's issued invoices, newest first, ``limit`` at a time (R13).

        ``cursor`` is the ``next_cursor`` of the page before, made for this account's
        listing only (``cursors``): another account's, or a tampered one, is
        ``InvalidCursor`` and reads nothing. One item more than the page is read, so that
        the last page says it is the last (no empty page after it)."""
        start = None
        if cursor is not None:
            issued_key, invoice_id = cursors.decode(cursor, contractor_id)
            if not invoice_id.startswith(f"{contractor_id}~"):
                raise cursors.InvalidCursor("not a cursor of this listing")
            start = {
                "contractor_id": {"S": contractor_id},
                "issued_key": {"S": issued_key},
                "invoice_id": {"S": invoice_id},
            }
        try:
            found = list(
                InvoiceModel.by_contractor.query(
                    contractor_id,
                    scan_index_forward=False,
                    limit=limit + 1,
                    last_evaluated_key=start,
                )
            )
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        page = found[:limit]
        more = len(found) > limit
        return Page(
            [invoice_from_item(item) for item in page],
            cursors.encode(contractor_id, page[-1].issued_key or "") if more else None,
        )

    def past_due(
        self, contractor_id: str, *, or_attempted_with: str | None = None
    ) -> list[Invoice]:
        """The account's past-due invoices, oldest first, from the ``by_contractor`` index
        (eventually consistent: collection reads each invoice again before settling it).
        ``or_attempted_with``: also the invoices that card update made an attempt on,
        whatever their status (the index is read whole either way: a filter is applied
        after the read)."""
        past_due = InvoiceModel.status == InvoiceStatus.PAST_DUE.value
        try:
            if or_attempted_with is None:
                items = InvoiceModel.by_contractor.query(contractor_id, filter_condition=past_due)
                return [invoice_from_item(item) for item in items]
            found = [
                invoice_from_item(item) for item in InvoiceModel.by_contractor.query(contractor_id)
            ]
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        return [
            invoice
            for invoice in found
            if invoice.status is InvoiceStatus.PAST_DUE or invoice.attempted_with(or_attempted_with)
        ]

    def unsettled_since_before(self, cutoff: datetime) -> list[str]:
        """The invoices whose last attempt started before ``cutoff`` and is not settled
        (its answer never came, or its run died), oldest first, from the sparse
        ``unsettled`` index (eventually consistent: the caller reads each invoice again)."""
        try:
            return [
                item.invoice_id
                for item in InvoiceModel.unsettled.query(
                    UNSETTLED_SHARD, InvoiceModel.unsettled_since < instant(cutoff)
                )
            ]
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error

    # ------------------------------------------------------------------ attempts

    def start_attempt(self, invoice: Invoice, attempt: PaymentAttempt) -> bool:
        """Record that attempt ``attempt.number`` is under way, before Stripe is asked, so
        that a crash leaves a trace to resolve from Stripe instead of charging again.
        False when that attempt was recorded already. The invoice enters the ``unsettled``
        index until the attempt is settled, so that the daily reconciliation finds it
        should no answer ever come."""
        try:
            InvoiceModel(invoice.invoice_id).update(
                actions=[
                    InvoiceModel.attempts.set(InvoiceModel.attempts.append([_attempt(attempt)])),
                    InvoiceModel.unsettled_shard.set(UNSETTLED_SHARD),
                    InvoiceModel.unsettled_since.set(instant(attempt.at)),
                ],
                condition=size(InvoiceModel.attempts) == attempt.number - 1,
            )
        except UpdateError as error:
            if error.cause_response_code == CONDITIONAL_FAILURE:
                return False
            raise StorageUnavailable(str(error)) from error
        return True

    def settle_attempt(self, invoice: Invoice, attempt: PaymentAttempt, now: datetime) -> Invoice:
        """Record the outcome of an attempt under way, with its effects on the account (R6).

        Succeeded: the invoice is paid and a payment enters the ledger. Declined or no card:
        the invoice is past due, the account's past-due balance grows and the first failure
        starts the grace period (R9), once. A paid invoice never becomes past due. A payment
        that brings the past-due balance to zero ends the grace period and lifts a
        non-payment pause (R10), decided on the account as read and conditioned on it.

        The first try trusts ``invoice`` as the caller holds it, when it holds every attempt
        before this one, settled: the transaction is conditioned on the invoice's status
        and attempts being exactly that, so a stale view cancels it, and the invoice is
        read then. The invoice settled is built from what the transaction wrote.
        """
        index = attempt.number - 1
        trusted: Invoice | None = invoice if _holds_attempts_before(invoice, index) else None
        for _ in range(MAX_ISSUE_ATTEMPTS):
            if trusted is not None:
                known, trusted = trusted, None
                expected: Condition | None = (InvoiceModel.status == known.status.value) & (
                    size(InvoiceModel.attempts) == index + 1
                )
            else:
                current = self._item(invoice.invoice_id)
                if current is None:
                    raise StorageUnavailable(f"invoice {invoice.invoice_id} vanished")
                known, expected = invoice_from_item(current), None
                if (
                    index >= len(known.attempts)
                    or known.attempts[index].outcome not in _OPEN_OUTCOMES
                ):
                    return known  # settled already (by the run or by a webhook)
            status = status_after(known.status, attempt.outcome)
            pays_past_due = (
                attempt.outcome is AttemptOutcome.SUCCEEDED
                and known.status is InvoiceStatus.PAST_DUE
            )
            account = self._account(known.contractor_id) if pays_past_due else None
            path = InvoiceModel.attempts[index]
            condition = path["outcome"].is_in(*(o.value for o in _OPEN_OUTCOMES))
            if expected is not None:
                condition &= expected
            try:
                with transact_write() as transaction:
                    actions, changes = self._attempt_effects(
                        transaction, known, attempt, status, account, now
                    )
                    transaction.update(
                        InvoiceModel(invoice.invoice_id),
                        actions=[
                            path.set(_attempt(attempt)),
                            InvoiceModel.status.set(status.value),
                            InvoiceModel.unsettled_shard.remove(),
                            InvoiceModel.unsettled_since.remove(),
                            *actions,
                        ],
                        condition=condition,
                    )
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                codes = {reason.code for reason in reasons if reason is not None}
                if codes and codes <= RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}:
                    # Settled elsewhere (the next read says so), or the account moved.
                    continue
                raise StorageUnavailable(str(error)) from error
            return replace(
                known,
                status=status,
                attempts=(*known.attempts[:index], _attempt_from(_attempt(attempt))),
                **changes,
            )
        raise StorageUnavailable(f"invoice {invoice.invoice_id}: attempt not settled")

    def _account(self, contractor_id: str) -> Account:
        try:
            return account_from_item(AccountModel.get(contractor_id, consistent_read=True))
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error

    def _attempt_effects(
        self,
        transaction: Any,
        invoice: Invoice,
        attempt: PaymentAttempt,
        status: InvoiceStatus,
        account: Account | None,
        now: datetime,
    ) -> tuple[list[Action], dict[str, Any]]:
        """Write the attempt's effects on the account and the ledger; the further updates
        of the invoice they call for, as actions and as the invoice's changed fields."""
        total = invoice.amount_due.cents  # what the card pays: the credit applied is settled
        contractor = invoice.contractor_id
        if attempt.outcome is AttemptOutcome.SUCCEEDED:
            transaction.save(
                ledger_entry(
                    contractor,
                    f"payment#{invoice.invoice_id}",
                    "payment",
                    now,
                    amount_cents=total,
                    reason=attempt.payment_intent_id,
                    detail=invoice.invoice_id,
                    # The daily reconciliation reads a day's payments by this day.
                    payment_day=payment_day(now),
                ),
                condition=LedgerEntryModel.entry_id.does_not_exist(),
            )
            if invoice.status is InvoiceStatus.PAST_DUE:
                assert account is not None
                return self._past_due_paid(transaction, invoice, account, now)
        elif status is InvoiceStatus.PAST_DUE and invoice.status is not InvoiceStatus.PAST_DUE:
            transaction.save(
                ledger_entry(
                    contractor,
                    f"payment_failed#{invoice.invoice_id}",
                    "payment_failed",
                    now,
                    amount_cents=total,
                    reason=attempt.decline_code or attempt.outcome.value,
                    detail=invoice.invoice_id,
                ),
                condition=LedgerEntryModel.entry_id.does_not_exist(),
            )
            # R9: the first failure starts the grace period; a later one moves nothing.
            transaction.update(
                AccountModel(contractor),
                actions=[
                    AccountModel.past_due_cents.add(total),
                    AccountModel.first_failure_at.set(AccountModel.first_failure_at | instant(now)),
                    AccountModel.grace_ends_at.set(
                        AccountModel.grace_ends_at | instant(grace_end(now))
                    ),
                    AccountModel.grace_shard.set(GRACE_SHARD),
                ],
                condition=AccountModel.contractor_id.exists(),
            )
        return [], {}

    def _past_due_paid(
        self, transaction: Any, invoice: Invoice, account: Account, now: datetime
    ) -> tuple[list[Action], dict[str, Any]]:
        """Paid after failing: the past-due balance shrinks again. At zero the grace period
        is over (R9) and a non-payment pause lifts (R10, R12)."""
        total = invoice.amount_due.cents
        contractor = invoice.contractor_id
        if account.past_due.cents < total:
            raise LedgerMismatch(
                f"account {contractor}: invoice {invoice.invoice_id} pays {total} cents but "
                f"only {account.past_due.cents} are past due"
            )
        left = account.past_due.cents - total
        actions: list[Action] = [AccountModel.past_due_cents.set(left)]
        condition = AccountModel.past_due_cents == account.past_due.cents
        invoice_actions: list[Action] = []
        changes: dict[str, Any] = {}
        if left == 0:
            actions += [
                AccountModel.first_failure_at.remove(),
                AccountModel.grace_ends_at.remove(),
                AccountModel.grace_shard.remove(),
            ]
            pause = non_payment_pause()
            _, event = apply(account, Trigger.BALANCE_SETTLED, now)
            if isinstance(event, AccountReactivated):
                since = instant(event.paused_since)
                condition &= pause == since
                actions.append(pause.remove())
                transaction.save(
                    reactivation_entry(event, instant(account.period.start), now),
                    condition=LedgerEntryModel.entry_id.does_not_exist(),
                )
                invoice_actions = [
                    InvoiceModel.reactivated_at.set(instant(now)),
                    InvoiceModel.reactivated_paused_since.set(since),
                ]
                changes = {
                    "reactivated_at": parse_instant(instant(now)),
                    "reactivated_paused_since": parse_instant(since),
                }
            else:
                condition &= pause.does_not_exist()
        transaction.update(AccountModel(contractor), actions=actions, condition=condition)
        return invoice_actions, changes

    # ------------------------------------------------------------------ email

    def claim_email(self, invoice_id: str, now: datetime) -> str | None:
        """R5: take the right to send an invoice's email: the claim's token (unique to this
        claim), None when it was sent already or another run holds a fresh claim. A claim
        older than ``EMAIL_CLAIM_SECONDS`` whose email was never marked sent is taken over
        (its sender died before sending). A claim applied whose answer was lost is this
        run's all the same, and one that got no answer is given back before this raises
        (``send_claims.claim``)."""
        stale = instant(now - timedelta(seconds=EMAIL_CLAIM_SECONDS))
        token = send_claims.new_token()
        claimed = send_claims.claim(
            InvoiceModel,
            (invoice_id, None),
            actions=[
                InvoiceModel.email_claimed_at.set(instant(now)),
                InvoiceModel.email_claim_token.set(token),
            ],
            condition=InvoiceModel.invoice_id.exists()
            & InvoiceModel.email_sent_at.does_not_exist()
            & (
                InvoiceModel.email_claimed_at.does_not_exist()
                | (InvoiceModel.email_claimed_at < stale)
            ),
            token=(InvoiceModel.email_claim_token, token),
            give_back=_EMAIL_GIVE_BACK,
        )
        return token if claimed else None

    def release_email(self, invoice_id: str, token: str) -> None:
        """Give the claim of ``token`` back after a failed send, so that a retry sends the
        email. Never after SES took it (``email_sent``)."""
        send_claims.release(
            InvoiceModel,
            (invoice_id, None),
            (InvoiceModel.email_claim_token, token),
            _EMAIL_GIVE_BACK,
        )

    def email_sent(self, invoice_id: str, now: datetime) -> None:
        """Mark the email sent once SES took it, again and again for up to
        ``send_claims.MARK_PATIENCE_SECONDS`` if the write fails (the claim is kept
        meanwhile), then ``StorageUnavailable``: the input is delivered again, and its run
        sends the email a second time once the claim is stale. A DynamoDB outage longer
        than that patience right after the send is the one way an invoice is emailed
        twice (SES has no idempotency key)."""

        def mark() -> None:
            InvoiceModel(invoice_id).update(actions=[InvoiceModel.email_sent_at.set(instant(now))])

        send_claims.keep_trying(mark, f"invoice {invoice_id}")

    # ------------------------------------------------------------------ steps

    def _item(self, invoice_id: str) -> InvoiceModel | None:
        try:
            return InvoiceModel.get(invoice_id, consistent_read=True)
        except InvoiceModel.DoesNotExist:
            return None

    def _draft(
        self,
        contractor_id: str,
        invoice_id: str,
        kind: InvoiceKind,
        now: datetime,
        while_sequence: int | None,
    ) -> InvoiceModel | None:
        if while_sequence is not None:
            try:
                account = AccountModel.get(contractor_id, consistent_read=True)
            except AccountModel.DoesNotExist as error:
                raise AccountNotFound(contractor_id) from error
            if not account.invoice_due or int(account.invoice_sequence or 0) != while_sequence:
                return None
        candidates = [entry.lead_id for entry in self._unbilled(contractor_id) if entry.lead_id]
        if not candidates:
            return None
        draft = InvoiceModel(
            invoice_id,
            contractor_id=contractor_id,
            kind=kind.value,
            status=DRAFT,
            created_at=instant(now),
            candidates=candidates,
        )
        try:
            draft.save(condition=InvoiceModel.invoice_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != CONDITIONAL_FAILURE:
                raise StorageUnavailable(str(error)) from error
            return self._item(invoice_id)  # drafted concurrently under the same id
        return draft

    def _unbilled(self, contractor_id: str) -> Iterator[LedgerEntryModel]:
        return LedgerEntryModel.unbilled.query(contractor_id, consistent_read=True, limit=MAX_LINES)

    def _claim(self, draft: InvoiceModel) -> list[LedgerEntryModel]:
        """Claim each listed charge that is still unbilled; the charges this invoice holds.

        A claim that succeeds is a charge on this invoice (its condition also accepts a
        charge this invoice claimed before, when an issue is resumed), and its update
        answers with the whole entry: nothing is read again."""
        invoice_id = draft.invoice_id
        mine: list[LedgerEntryModel] = []
        for lead_id in draft.candidates:
            entry = LedgerEntryModel(draft.contractor_id, lead_entry_id(lead_id))
            try:
                entry.update(
                    actions=[
                        LedgerEntryModel.invoice_id.set(invoice_id),
                        LedgerEntryModel.unbilled_key.remove(),
                    ],
                    condition=(
                        LedgerEntryModel.unbilled_key.exists()
                        & LedgerEntryModel.invoice_id.does_not_exist()
                    )
                    | (LedgerEntryModel.invoice_id == invoice_id),
                )
            except UpdateError as error:
                if error.cause_response_code != CONDITIONAL_FAILURE:
                    raise StorageUnavailable(str(error)) from error
                continue  # on another invoice already: it stays there (R2)
            mine.append(entry)
        return mine

    def _void(self, draft: InvoiceModel) -> None:
        try:
            draft.update(
                actions=[InvoiceModel.status.set(VOID)],
                condition=InvoiceModel.status == DRAFT,
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITIONAL_FAILURE:
                raise StorageUnavailable(str(error)) from error

    def _issue_draft(
        self, draft: InvoiceModel, claimed: list[LedgerEntryModel], now: datetime
    ) -> Issued | None:
        lines = [
            InvoiceLineAttribute(
                lead_id=entry.lead_id,
                delivered_at=entry.delivered_at,
                category=entry.category,
                amount_cents=int(entry.amount_cents),
            )
            for entry in claimed
        ]
        total = sum(int(entry.amount_cents) for entry in claimed)
        issued = instant(now)
        credit_key = AccountModel.credit_cents
        for _ in range(MAX_ISSUE_ATTEMPTS):
            # The account's flags follow from its unbilled amount after this invoice:
            # read it, and condition the write on it being unchanged.
            try:
                account = AccountModel.get(draft.contractor_id, consistent_read=True)
            except AccountModel.DoesNotExist as error:
                raise AccountNotFound(draft.contractor_id) from error
            unbilled = int(account.unbilled_cents)
            left = unbilled - total
            credit = int(account.credit_cents or 0)
            applied = credit_to_apply(Money(credit), Money(total)).cents
            if left < 0:
                latest = self._item(draft.invoice_id)
                if latest is not None and latest.status != DRAFT:
                    return _issued(self.get(draft.invoice_id))  # issued concurrently
                raise LedgerMismatch(
                    f"account {draft.contractor_id}: invoice {draft.invoice_id} claims "
                    f"{total} cents but only {unbilled} are unbilled"
                )
            actions: list[Action] = [
                AccountModel.unbilled_cents.set(left),
                AccountModel.invoice_headroom_cents.set(int(account.threshold_cents) - left),
                AccountModel.invoice_due.set(left >= int(account.threshold_cents)),
                AccountModel.invoice_sequence.add(1),
            ]
            if left == 0:
                actions.append(AccountModel.billable_timezone.remove())
            invoice_actions: list[Action] = []
            if applied:
                actions.append(credit_key.set(credit - applied))
                invoice_actions.append(InvoiceModel.credit_applied_cents.set(applied))
            # The credit applied is the one read: a credit landing meanwhile cancels this.
            unchanged_credit = (
                credit_key == credit if credit else credit_key.does_not_exist() | (credit_key == 0)
            )
            try:
                with transact_write() as transaction:
                    transaction.update(
                        InvoiceModel(draft.invoice_id),
                        actions=[
                            InvoiceModel.status.set(InvoiceStatus.OPEN.value),
                            InvoiceModel.issued_at.set(issued),
                            InvoiceModel.issued_key.set(f"{issued}#{draft.invoice_id}"),
                            InvoiceModel.total_cents.set(total),
                            InvoiceModel.lines.set(lines),
                            *invoice_actions,
                        ],
                        condition=InvoiceModel.status == DRAFT,
                    )
                    transaction.update(
                        AccountModel(draft.contractor_id),
                        actions=actions,
                        condition=(AccountModel.unbilled_cents == unbilled) & unchanged_credit,
                    )
                    transaction.save(
                        ledger_entry(
                            draft.contractor_id,
                            f"invoice#{draft.invoice_id}",
                            "invoice_issued",
                            now,
                            amount_cents=total,
                            detail=draft.invoice_id,
                            reason=draft.kind,
                        ),
                        condition=LedgerEntryModel.entry_id.does_not_exist(),
                    )
                    if applied:
                        transaction.save(
                            ledger_entry(
                                draft.contractor_id,
                                f"credit_applied#{draft.invoice_id}",
                                "credit_applied",
                                now,
                                amount_cents=applied,
                                detail=draft.invoice_id,
                            ),
                            condition=LedgerEntryModel.entry_id.does_not_exist(),
                        )
            except TransactWriteError as error:
                # The transaction sends its puts first, then its updates: the ledger entries
                # (the issue, the credit applied), the invoice, the account. Any but the last
                # failing its condition means another run issued this invoice.
                reasons = error.cancellation_reasons or []
                puts = 2 if applied else 1
                issued_elsewhere = any(
                    reason is not None and reason.code == CONDITION_FAILED
                    for reason in reasons[: puts + 1]
                )
                if issued_elsewhere:
                    return _issued(self.get(draft.invoice_id))
                codes = {reason.code for reason in reasons if reason is not None}
                if codes and codes <= RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}:
                    continue  # the account moved (a charge landed): read it again
                raise StorageUnavailable(str(error)) from error
            # What the transaction wrote, on the items as they were read.
            draft.status = InvoiceStatus.OPEN.value
            draft.issued_at = issued
            draft.issued_key = f"{issued}#{draft.invoice_id}"
            draft.total_cents = total
            draft.lines = lines
            if applied:
                draft.credit_applied_cents = applied
            account.unbilled_cents = left
            account.invoice_headroom_cents = int(account.threshold_cents) - left
            account.invoice_due = left >= int(account.threshold_cents)
            account.invoice_sequence = int(account.invoice_sequence or 0) + 1
            if left == 0:
                account.billable_timezone = None
            if applied:
                account.credit_cents = credit - applied
            return Issued(invoice_from_item(draft), account_from_item(account))
        raise StorageUnavailable(f"invoice {draft.invoice_id}: the account kept changing")


# An attempt under way and one whose answer never came look the same: not settled yet.
_OPEN_OUTCOMES = frozenset({AttemptOutcome.UNKNOWN})


def _attempt(attempt: PaymentAttempt) -> PaymentAttemptAttribute:
    card = attempt.card
    return PaymentAttemptAttribute(
        number=attempt.number,
        at=instant(attempt.at),
        outcome=attempt.outcome.value,
        payment_intent_id=attempt.payment_intent_id,
        decline_code=attempt.decline_code,
        card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None,
        card_exp_month=card.exp_month if card else None,
        card_exp_year=card.exp_year if card else None,
        payment_method_id=card.payment_method_id if card else None,
        card_update=attempt.card_update,
    )


def _attempt_from(raw: PaymentAttemptAttribute) -> PaymentAttempt:
    return PaymentAttempt(
        number=int(raw.number),
        at=parse_instant(raw.at),
        outcome=AttemptOutcome(raw.outcome),
        payment_intent_id=raw.payment_intent_id,
        decline_code=raw.decline_code,
        card=Card(
            raw.payment_method_id or "",
            raw.card_brand,
            raw.card_last4 or "",
            int(raw.card_exp_month or 0),
            int(raw.card_exp_year or 0),
        )
        if raw.card_brand
        else None,
        card_update=raw.card_update,
    )


def _holds_attempts_before(invoice: Invoice, index: int) -> bool:
    """Whether ``invoice`` shows every attempt before ``index``, each settled (settled
    attempts never change again), and none after it."""
    before = invoice.attempts[:index]
    return (
        len(before) == index
        and len(invoice.attempts) <= index + 1
        and all(attempt.outcome not in _OPEN_OUTCOMES for attempt in before)
    )


def _issued(invoice: Invoice | None) -> Issued | None:
    return Issued(invoice) if invoice is not None else None


def invoice_from_item(item: InvoiceModel) -> Invoice:
    attempts = tuple(_attempt_from(raw) for raw in item.attempts)
    return Invoice(
        invoice_id=item.invoice_id,
        contractor_id=item.contractor_id,
        kind=InvoiceKind(item.kind),
        issued_at=parse_instant(item.issued_at or item.created_at),
        lines=tuple(
            InvoiceLine(
                lead_id=line.lead_id,
                delivered_at=parse_instant(line.delivered_at),
                category=line.category,
                amount=Money(int(line.amount_cents)),
            )
            for line in item.lines
        ),
        status=InvoiceStatus(item.status),
        attempts=attempts,
        reactivated_at=parse_instant(item.reactivated_at) if item.reactivated_at else None,
        reactivated_paused_since=(
            parse_instant(item.reactivated_paused_since) if item.reactivated_paused_since else None
        ),
        credit_applied=Money(int(item.credit_applied_cents or 0)),
    )
