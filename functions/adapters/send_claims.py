"""R5, R14: the claim that lets one run send an email, and the mark that it was sent.

SES has no idempotency key: an email (an invoice's, a notice's) is sent under a claim on
its item, a conditional ``UpdateItem`` that records when it was taken and a token unique
to the claiming run, and the item is marked sent once SES took the message. Two of
DynamoDB's answers need care:

- **A claim applied whose answer was lost.** botocore repeats the ``UpdateItem``, which
  then fails its own condition (the claim it applied is fresh). The claim asks DynamoDB for
  the item as it was when its condition failed (``ReturnValuesOnConditionCheckFailure``
  ``ALL_OLD``: no extra read), and an item holding the run's own token is the run's claim.
  A claim that gets no answer at all (every attempt failed, applied or not) is given back,
  conditioned on the token, before the run fails, so that the input delivered again can
  claim at once rather than wait for the claim to go stale.
- **A mark that fails after SES took the email.** The claim is never given back then: the
  mark is written again (``keep_trying``) for up to ``MARK_PATIENCE_SECONDS``, well inside
  the timeout of every function that sends (``card_updated``'s 30 s is the shortest,
  ``infra/card_updated.py``), and the input fails only after that. Its redelivery takes the
  claim over once it is stale and sends the email a second time: a DynamoDB outage longer
  than ``MARK_PATIENCE_SECONDS`` right after SES took an email is the one case in which a
  contractor receives it twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import Attribute
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from functions.billing.errors import StorageUnavailable

logger = Logger(child=True)

CONDITIONAL_FAILURE = "ConditionalCheckFailedException"
# How long a run keeps writing a sent mark that fails before it fails its input.
MARK_PATIENCE_SECONDS = 8.0
FIRST_DELAY_SECONDS = 0.1
LONGEST_DELAY_SECONDS = 2.0


def new_token() -> str:
    """A claim token, unique to the run that claims."""
    return uuid.uuid4().hex


def claim(
    model: type[Model],
    key: tuple[str, str | None],
    actions: Sequence[Action],
    condition: Condition,
    token: tuple[Attribute[str], str],
    give_back: Sequence[Action],
) -> bool:
    """Apply the claim (``actions``, which set ``token``'s attribute to its value, under
    ``condition``) to the item of ``key`` (hash key, range key); whether the run holds it.

    A condition that fails on an item holding the run's own token is the run's claim,
    applied by an earlier attempt of the same call whose answer was lost. A call that
    fails for any other reason gives the claim back (``give_back``, conditioned on the
    token: a claim never applied is left alone) and raises ``StorageUnavailable``."""
    table = model._get_connection()
    hash_key, range_key = key
    attribute, value = token
    request = table.get_operation_kwargs(
        hash_key,
        range_key=range_key,
        actions=list(actions),
        condition=condition,
        return_values_on_condition_failure=ALL_OLD,
    )
    try:
        table.connection.client.update_item(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITIONAL_FAILURE:
            old: dict[str, Any] = error.response.get("Item") or {}
            return bool(old.get(attribute.attr_name, {}).get("S") == value)
        _give_back_quietly(model, key, token, give_back)
        raise StorageUnavailable(str(error)) from error
    except BotoCoreError as error:
        _give_back_quietly(model, key, token, give_back)
        raise StorageUnavailable(str(error)) from error
    return True


def release(
    model: type[Model],
    key: tuple[str, str | None],
    token: tuple[Attribute[str], str],
    give_back: Sequence[Action],
) -> None:
    """Give the run's claim back (``give_back``) after a failed send, so that a retry sends
    the email; a claim taken over since (its token replaced) is left to its new holder."""
    attribute, value = token
    hash_key, range_key = key
    item = model(hash_key, range_key) if range_key is not None else model(hash_key)
    try:
        item.update(actions=list(give_back), condition=attribute == value)
    except PynamoDBException as error:
        if error.cause_response_code != CONDITIONAL_FAILURE:
            raise StorageUnavailable(str(error)) from error


def _give_back_quietly(
    model: type[Model],
    key: tuple[str, str | None],
    token: tuple[Attribute[str], str],
    give_back: Sequence[Action],
) -> None:
    try:
        release(model, key, token, give_back)
    except StorageUnavailable:
        logger.warning("claim not given back", extra={"key": list(key)})


def keep_trying(
    write: Callable[[], None],
    what: str,
    *,
    patience: float = MARK_PATIENCE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Write the sent mark of an email SES took, again and again (exponential backoff
    from ``FIRST_DELAY_SECONDS``, at most ``LONGEST_DELAY_SECONDS`` apart) while
    ``patience`` seconds have not passed; then ``StorageUnavailable``."""
    started = monotonic()
    delay = FIRST_DELAY_SECONDS
    while True:
        try:
            write()
            return
        except (PynamoDBException, BotoCoreError, StorageUnavailable) as error:
            if monotonic() - started + delay > patience:
                raise StorageUnavailable(f"{what} not marked sent: {error}") from error
            logger.warning("sent mark failed, writing it again", extra={"what": what})
        sleep(delay)
        delay = min(delay * 2, LONGEST_DELAY_SECONDS)
