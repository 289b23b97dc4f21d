"""R14: sending each notice once, recorded in the notices table.

A notice is sent under a claim on its item (``contractor_id``, ``notice_id``): the claim
is taken with a conditional write that fails when the notice was sent already or another
sender holds a fresh claim, and carries a token of the claiming run (a lost answer of the
claim is recognised by it, ``adapters.send_claims``); the item is marked sent with SES's
message id once SES took the message. A send that fails gives the claim back, and a claim
older than ``CLAIM_SECONDS`` whose notice was never marked sent is taken over (its sender
died before or while sending), so a notice is never lost. After SES took the message the
claim is never given back, and the mark is written again for up to
``send_claims.MARK_PATIENCE_SECONDS``; SES has no idempotency key, so a sender that dies
after SES accepted the message and before the mark, or a DynamoDB outage longer than that
patience, is the one case where a contractor can receive a notice twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from functions.adapters import send_claims
from functions.adapters.accounts import instant
from functions.adapters.models import NoticeModel
from functions.adapters.notice_email import RenderedNotice, render_notice
from functions.billing.account import Account
from functions.billing.notices import Notice

# Longer than a send takes, shorter than the retries of the runs that send notices.
CLAIM_SECONDS = 300


class Mailer(Protocol):
    @property
    def sender(self) -> str: ...

    def send(self, to: str, email: RenderedNotice) -> str: ...


class NoticeStore:
    def claim(self, notice: Notice, now: datetime) -> str | None:
        """Take the right to send ``notice``: the claim's token, None when it was sent or
        is being sent. A claim given back, or older than ``CLAIM_SECONDS``, is taken."""
        stale = instant(now - timedelta(seconds=CLAIM_SECONDS))
        token = send_claims.new_token()
        claimed = send_claims.claim(
            NoticeModel,
            (notice.contractor_id, notice.notice_id),
            actions=[
                NoticeModel.kind.set(notice.kind.value),
                NoticeModel.claimed_at.set(instant(now)),
                NoticeModel.claim_token.set(token),
            ],
            condition=NoticeModel.sent_at.does_not_exist()
            & (NoticeModel.claimed_at.does_not_exist() | (NoticeModel.claimed_at < stale)),
            token=(NoticeModel.claim_token, token),
            give_back=_GIVE_BACK,
        )
        return token if claimed else None

    def release(self, notice: Notice, token: str) -> None:
        """Give the claim of ``token`` back after a failed send, so that a retry sends the
        notice."""
        send_claims.release(
            NoticeModel,
            (notice.contractor_id, notice.notice_id),
            (NoticeModel.claim_token, token),
            _GIVE_BACK,
        )

    def sent(self, notice: Notice, now: datetime, message_id: str) -> None:
        """Mark the notice sent, again and again for a while if it fails
        (``send_claims.keep_trying``): SES took it, its claim is never given back."""

        def mark() -> None:
            NoticeModel(notice.contractor_id, notice.notice_id).update(
                actions=[
                    NoticeModel.sent_at.set(instant(now)),
                    NoticeModel.message_id.set(message_id),
                ]
            )

        send_claims.keep_trying(mark, f"notice {notice.notice_id}")


_GIVE_BACK = [NoticeModel.claimed_at.remove(), NoticeModel.claim_token.remove()]


class Notifier:
    """Renders a notice in the account's language and emails it, once per notice id."""

    def __init__(self, store: NoticeStore, mailer: Mailer) -> None:
        self._store = store
        self._mailer = mailer

    def send(self, notice: Notice, account: Account, now: datetime) -> bool:
        """Email ``notice`` to the account's billing address; False when it was sent
        before (or another sender is sending it now)."""
        token = self._store.claim(notice, now)
        if token is None:
            return False
        try:
            rendered = render_notice(notice, account, sender=self._mailer.sender)
            message_id = self._mailer.send(account.billing_email, rendered)
        except Exception:
            self._store.release(notice, token)
            raise
        # SES took it: the claim stays, whatever the mark meets.
        self._store.sent(notice, now, message_id)
        return True
