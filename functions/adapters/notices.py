"""R14: sending each notice once, recorded in the notices table.

A notice is sent under a claim on its item (``contractor_id``, ``notice_id``): the claim
is taken with a conditional write that fails when the notice was sent already or another
sender holds a fresh claim; the item is marked sent with SES's message id once SES took
the message. A claim older than ``CLAIM_SECONDS`` whose notice was never marked sent is
taken over (its sender died before or while sending), so a notice is never lost; SES has
no idempotency key, so a sender that dies after SES accepted the message and before the
mark gives the one case where a contractor can receive a notice twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from pynamodb.exceptions import PutError, UpdateError

from functions.adapters.accounts import instant
from functions.adapters.models import NoticeModel
from functions.adapters.notice_email import RenderedNotice, render_notice
from functions.billing.account import Account
from functions.billing.errors import StorageUnavailable
from functions.billing.notices import Notice

CONDITIONAL_FAILURE = "ConditionalCheckFailedException"
# Longer than a send takes, shorter than the retries of the runs that send notices.
CLAIM_SECONDS = 300


class Mailer(Protocol):
    @property
    def sender(self) -> str: ...

    def send(self, to: str, email: RenderedNotice) -> str: ...


class NoticeStore:
    def claim(self, notice: Notice, now: datetime) -> bool:
        """Take the right to send ``notice``; False when it was sent or is being sent."""
        stale = instant(now - timedelta(seconds=CLAIM_SECONDS))
        item = NoticeModel(
            notice.contractor_id,
            notice.notice_id,
            kind=notice.kind.value,
            claimed_at=instant(now),
        )
        try:
            item.save(
                condition=NoticeModel.notice_id.does_not_exist()
                | (NoticeModel.sent_at.does_not_exist() & (NoticeModel.claimed_at < stale))
            )
        except PutError as error:
            if error.cause_response_code == CONDITIONAL_FAILURE:
                return False
            raise StorageUnavailable(str(error)) from error
        return True

    def release(self, notice: Notice) -> None:
        """Give the claim back after a failed send, so that a retry sends the notice."""
        try:
            NoticeModel(notice.contractor_id, notice.notice_id).update(
                actions=[NoticeModel.claimed_at.remove()],
                condition=NoticeModel.sent_at.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITIONAL_FAILURE:
                raise StorageUnavailable(str(error)) from error

    def sent(self, notice: Notice, now: datetime, message_id: str) -> None:
        try:
            NoticeModel(notice.contractor_id, notice.notice_id).update(
                actions=[
                    NoticeModel.sent_at.set(instant(now)),
                    NoticeModel.message_id.set(message_id),
                ]
            )
        except UpdateError as error:
            raise StorageUnavailable(str(error)) from error


class Notifier:
    """Renders a notice in the account's language and emails it, once per notice id."""

    def __init__(self, store: NoticeStore, mailer: Mailer) -> None:
        self._store = store
        self._mailer = mailer

    def send(self, notice: Notice, account: Account, now: datetime) -> bool:
        """Email ``notice`` to the account's billing address; False when it was sent
        before (or another sender is sending it now)."""
        if not self._store.claim(notice, now):
            return False
        try:
            rendered = render_notice(notice, account, sender=self._mailer.sender)
            message_id = self._mailer.send(account.billing_email, rendered)
        except Exception:
            self._store.release(notice)
            raise
        self._store.sent(notice, now, message_id)
        return True
