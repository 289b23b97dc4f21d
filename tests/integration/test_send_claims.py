"""R5, R14 against moto: the claims that let one run send an email, and the sent marks.

The fault matrix (``test_faults.py``) shows each of these end to end; here each rule of
``functions/adapters/send_claims.py`` is pinned on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from pynamodb.exceptions import UpdateError

from functions.adapters import send_claims
from functions.adapters.invoicing import EMAIL_CLAIM_SECONDS, InvoiceStore
from functions.adapters.models import InvoiceModel, NoticeModel
from functions.adapters.notices import CLAIM_SECONDS, NoticeStore, Notifier
from functions.billing.account import PauseReason
from functions.billing.errors import StorageUnavailable
from functions.billing.notices import Notice, paused_notice
from tests.unit.support import make_account

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
INVOICE = "c-1~W2026-11-20"


@pytest.fixture
def notice() -> Notice:
    return paused_notice("c-1", PauseReason.NON_PAYMENT, NOW)


@pytest.fixture
def invoice(aws: Any) -> str:
    InvoiceModel(
        INVOICE, contractor_id="c-1", kind="weekly", status="paid", created_at=NOW.isoformat()
    ).save()
    return INVOICE


def same_token_again(monkeypatch: pytest.MonkeyPatch, token: str = "a" * 32) -> None:
    """Every claim made from now on carries ``token``, as botocore's retry of one claim
    does."""
    monkeypatch.setattr(send_claims, "new_token", lambda: token)


# ---------------------------------------------------------------------------- notices


def test_r14_a_notice_whose_send_failed_is_claimed_again_at_once(aws: Any, notice: Notice) -> None:
    store = NoticeStore()
    token = store.claim(notice, NOW)
    assert token is not None
    store.release(notice, token)

    assert store.claim(notice, NOW + timedelta(seconds=1)) is not None


def test_r14_a_fresh_claim_of_another_run_holds_until_it_is_stale(aws: Any, notice: Notice) -> None:
    store = NoticeStore()
    assert store.claim(notice, NOW) is not None

    assert store.claim(notice, NOW + timedelta(seconds=CLAIM_SECONDS - 1)) is None
    assert store.claim(notice, NOW + timedelta(seconds=CLAIM_SECONDS + 1)) is not None


def test_r14_a_notice_claim_applied_whose_answer_was_lost_is_the_runs_own(
    aws: Any, notice: Notice, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a claim DynamoDB applied (its answer lost: botocore sends the same request again)
    same_token_again(monkeypatch)
    store = NoticeStore()
    assert store.claim(notice, NOW) is not None
    # When the same claim meets its own condition
    # Then it is the run's claim
    assert store.claim(notice, NOW) == "a" * 32
    # And another run's claim of the same notice is refused
    same_token_again(monkeypatch, "b" * 32)
    assert store.claim(notice, NOW) is None


def test_r14_a_sent_notice_is_never_claimed_again(aws: Any, notice: Notice) -> None:
    store = NoticeStore()
    token = store.claim(notice, NOW)
    assert token is not None
    store.sent(notice, NOW, "ses-1")
    store.release(notice, token)  # a late give-back changes nothing: the token is kept

    assert store.claim(notice, NOW + timedelta(days=1)) is None


def test_r14_giving_back_a_claim_taken_over_leaves_the_new_one(aws: Any, notice: Notice) -> None:
    store = NoticeStore()
    first = store.claim(notice, NOW)
    second = store.claim(notice, NOW + timedelta(seconds=CLAIM_SECONDS + 1))
    assert first is not None and second is not None
    store.release(notice, first)

    item = NoticeModel.get(notice.contractor_id, notice.notice_id)
    assert item.claim_token == second
    assert store.claim(notice, NOW + timedelta(seconds=CLAIM_SECONDS + 2)) is None


class _Mailer:
    sender = "billing@example.com"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, to: str, email: Any) -> str:
        self.sent += 1
        return f"ses-{self.sent}"


def test_r14_a_notice_sent_whose_mark_fails_is_marked_again_not_given_back(
    aws: Any, notice: Notice, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first write of the sent mark (the flow's first Model.update: the claim is
    # written by send_claims, and nothing is given back) fails past botocore's retries
    monkeypatch.setattr(send_claims.time, "sleep", lambda seconds: None)
    update = NoticeModel.update
    failures = [UpdateError("Failed to update item: throttled")]

    def flaky(self: NoticeModel, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return update(self, *args, **kwargs)

    monkeypatch.setattr(NoticeModel, "update", flaky)
    mailer = _Mailer()
    account = make_account(contractor_id="c-1")
    # When the notice is sent
    assert Notifier(NoticeStore(), mailer).send(notice, account, NOW)
    # Then it was sent once and marked sent: no later run sends it again
    assert mailer.sent == 1
    assert not failures
    assert NoticeModel.get(notice.contractor_id, notice.notice_id).sent_at is not None
    assert not Notifier(NoticeStore(), mailer).send(notice, account, NOW + timedelta(days=1))
    assert mailer.sent == 1


# ---------------------------------------------------------------------------- invoices


def test_r5_an_invoice_email_claim_applied_whose_answer_was_lost_is_the_runs_own(
    invoice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = InvoiceStore()
    same_token_again(monkeypatch)
    assert store.claim_email(invoice, NOW) == "a" * 32

    assert store.claim_email(invoice, NOW) == "a" * 32  # botocore's retry, its answer
    same_token_again(monkeypatch, "b" * 32)
    assert store.claim_email(invoice, NOW) is None  # another run's
    assert store.claim_email(invoice, NOW + timedelta(seconds=EMAIL_CLAIM_SECONDS + 1))


def test_r5_an_invoice_email_given_back_is_claimed_again_and_a_sent_one_never(
    invoice: str,
) -> None:
    store = InvoiceStore()
    token = store.claim_email(invoice, NOW)
    assert token is not None
    store.release_email(invoice, token)
    item = InvoiceModel.get(invoice)
    assert (item.email_claimed_at, item.email_claim_token) == (None, None)

    again = store.claim_email(invoice, NOW)
    assert again is not None
    store.email_sent(invoice, NOW)
    store.release_email(invoice, again)
    assert store.claim_email(invoice, NOW + timedelta(days=1)) is None


def test_r5_no_email_claim_for_an_invoice_that_does_not_exist(aws: Any) -> None:
    assert InvoiceStore().claim_email("c-1~W2026-11-27", NOW) is None
    assert InvoiceModel.count() == 0


def test_r5_a_claim_that_got_no_answer_is_given_back_before_the_run_fails(
    invoice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB applies the claim, and every answer is lost (botocore's retries
    # included)
    client = InvoiceModel._get_connection().connection.client
    real = client.update_item

    def applied_then_lost(**kwargs: Any) -> Any:
        real(**kwargs)
        raise ReadTimeoutError(endpoint_url="https://dynamodb")

    # When the run claims the email
    with monkeypatch.context() as patched:
        patched.setattr(client, "update_item", applied_then_lost)
        with pytest.raises(StorageUnavailable):
            InvoiceStore().claim_email(invoice, NOW)
    # Then the claim was given back: the input delivered again claims it at once
    assert InvoiceModel.get(invoice).email_claimed_at is None
    assert InvoiceStore().claim_email(invoice, NOW + timedelta(seconds=1)) is not None


# ---------------------------------------------------------------------------- the mark


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_sent_mark_is_written_again_until_it_holds() -> None:
    clock, tries = _Clock(), []

    def write() -> None:
        tries.append(clock.now)
        if len(tries) < 4:
            raise StorageUnavailable("throttled")

    send_claims.keep_trying(write, "mark", sleep=clock.sleep, monotonic=lambda: clock.now)

    assert len(tries) == 4
    assert clock.slept == [0.1, 0.2, 0.4]


def test_a_sent_mark_that_never_holds_fails_the_run_within_its_patience() -> None:
    clock = _Clock()

    def write() -> None:
        raise StorageUnavailable("DynamoDB is down")

    with pytest.raises(StorageUnavailable, match="not marked sent"):
        send_claims.keep_trying(write, "mark", sleep=clock.sleep, monotonic=lambda: clock.now)

    assert clock.now <= send_claims.MARK_PATIENCE_SECONDS
    assert max(clock.slept) <= send_claims.LONGEST_DELAY_SECONDS
    assert len(clock.slept) >= 5  # it did keep trying


def test_a_sent_mark_is_given_well_under_the_shortest_timeout_of_a_sender() -> None:
    # card_updated (30 s, infra/card_updated.py) sends invoice emails behind API Gateway
    assert send_claims.MARK_PATIENCE_SECONDS <= 10
