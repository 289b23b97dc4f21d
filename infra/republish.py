"""republish: the unpublished events queue, and the function that empties it onto the bus.

Every function that publishes billing events keeps the entries EventBridge refuses (an
error per entry, or the whole call throttled or failing once botocore's retries are spent)
on the unpublished events queue (``functions/adapters/event_bus.py``); it is granted
``sqs:SendMessage`` on that queue and nothing else of it. The republish function consumes
the queue through an SQS mapping that reports partial batch failures: it puts each entry
on the bus again, and fails the messages whose entry the bus refuses again. SQS delivers a
failed message again once its visibility timeout has passed, and after
``MAX_RECEIVES`` receives moves it to the dead-letter queue, which is alarmed: an
operator redrives it once the bus takes events again. Consumers deduplicate on the
events' ids, so an entry published twice is harmless.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import names
from infra.function import BillingFunction
from infra.nag import acknowledge
from infra.queues import QUEUE_RETENTION, messages_visible_alarm, retained_queue

# Ten PutEvents calls at most per batch.
TIMEOUT = Duration.seconds(30)
MEMORY_SIZE = 256
BATCH_SIZE = 10
# Lambda's advice for a queue a function consumes: six times the function's timeout. A
# refused entry is tried again every three minutes, ten times: half an hour of
# EventBridge refusing before it reaches the dead-letter queue.
VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
MAX_RECEIVES = 10
# The fewest concurrent batches a mapping allows: a bus that throttles is not pressed
# harder by the queue's backlog.
MAX_CONCURRENCY = 2


def publishing_environment(bus: events.IEventBus, unpublished: sqs.IQueue) -> dict[str, str]:
    """The variables a publishing function's settings read: the bus, and the queue that
    keeps what the bus refuses."""
    return {
        names.EVENT_BUS_NAME: bus.event_bus_name,
        names.UNPUBLISHED_EVENTS_QUEUE_URL: unpublished.queue_url,
    }


def grant_publishing(
    function: BillingFunction, bus: events.IEventBus, unpublished: sqs.IQueue
) -> None:
    """Put events on the bus; send what it refuses to the unpublished events queue."""
    bus.grant_put_events_to(function.role)
    unpublished.grant(function.role, "sqs:SendMessage")


class Republish(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = retained_queue(
            self, "DeadLetterQueue", names.UNPUBLISHED_EVENTS_DEAD_LETTER_QUEUE_LOGICAL_ID
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the unpublished events queue; an "
            "operator redrives its messages once the bus takes events again.",
        )
        self.queue = retained_queue(
            self,
            "Queue",
            names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID,
            retention_period=QUEUE_RETENTION,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=self.dead_letter_queue
            ),
        )

        self.function = BillingFunction(
            self,
            "Function",
            name=names.REPUBLISH,
            description="Puts the billing events the bus refused, kept on the unpublished "
            "events queue, on the bus again",
            environment={names.EVENT_BUS_NAME: bus.event_bus_name},
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        bus.grant_put_events_to(self.function.role)
        self.queue.grant_consume_messages(self.function.role)

        self.mapping = lambda_.EventSourceMapping(
            self,
            "QueueMapping",
            target=self.function.function,
            event_source_arn=self.queue.queue_arn,
            batch_size=BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=MAX_CONCURRENCY,
        )
        cast(lambda_.CfnEventSourceMapping, self.mapping.node.default_child).override_logical_id(
            names.REPUBLISH_MAPPING_LOGICAL_ID
        )
        # Creating the mapping checks that the role can receive from the queue.
        self.mapping.node.add_dependency(self.function.role)

        messages_visible_alarm(
            self,
            "DeadLettersAlarm",
            self.dead_letter_queue,
            "Billing events the bus refused for half an hour were not published: the lead "
            "distribution system has not seen them. Redrive the dead-letter queue once the "
            "bus takes events again.",
        )
