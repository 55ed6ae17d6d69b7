"""Small patches to moto, applied in the emulation's own process: one race fixed, and the cost
per request kept flat.

- Heartbeat race: a ``.waitForTaskToken`` task with ``HeartbeatSeconds`` sends its message, then
  sets up the heartbeat it waits on. A worker that answers in between (a fast test, a loaded
  machine) notifies a callback with no heartbeat yet, so the execution waited on the new,
  unnotified heartbeat for its whole ``HeartbeatSeconds`` (600 s for ValidatePR), RUNNING though
  answered. A heartbeat set up after the answer now starts notified. (This stopped CI once.)

- Backend discovery: moto's server lists its package folder (``list_of_moto_modules``: a
  ``listdir`` and an ``isdir`` per module) on every request to find the backend for a host. The
  folder does not change while the server runs, so the list is read once.
- SQS visibility: ``Message.visible`` / ``delayed`` built two naive datetimes per message per
  check (``utcnow`` − ``utcfromtimestamp(0)``), and ``Queue.messages`` checked every message of the
  queue on each receive. The same comparisons against one ``time.time()`` read per walk give the
  same answers (moto stores those instants as Unix milliseconds) at a small fraction of the cost.
- SQS SendMessage read ``Queue.attributes`` three times for one flag, and that property converts
  every attribute name from CamelCase (a character loop each time) and counts the delayed,
  in-flight and visible messages by walking the whole queue: 6 ms a send at a depth of 400. The
  flag is now read alone, and the name conversion is memoised. ReceiveMessage asked
  GetQueueAttributes for the retention period once per message it returned (three such walks
  each); it now reads the queue's retention period.
- SQS DeleteMessage asked every message of the queue, twice, whether it ever had the receipt
  handle (a Python call per message: ~1 ms a delete at a depth of 1,500, ten per batch). Each
  receipt handle now names its message as it is handed out. SendMessage to a FIFO queue compared
  every message's deduplication id in a Python loop; a C-level pass over them now says whether
  moto's own check is needed at all.
- Long polling: a receive that found nothing to deliver waited with ``wait_for(lambda:
  queue.messages)``, which returns at once while a FIFO queue holds visible messages whose group
  is in flight, so every waiting poller of that queue spun, walking it, for its whole wait. And
  it read the groups in flight once, at its start, so a group freed meanwhile stayed closed to
  it until its wait ended (up to 20 s). A long poll is now a series of immediate receives, each
  reading the groups afresh, sleeping in between until a deliverable message is added (not one
  whose group is in flight: a burst on one pull request woke every poller for each message), a
  message is deleted (its group may be free), or a second passes (a visibility timeout running out).

Upstream, these belong in moto itself: ``backends.list_of_moto_modules`` behind ``functools.cache``,
``moto.core.utils.unix_time`` as ``time.time()`` (``sqs/models.py`` reading it once per walk),
``camelcase_to_underscores`` behind ``functools.lru_cache``, and ``SQSBackend`` reading
``queue.content_based_deduplication`` and ``queue.message_retention_period`` instead of the whole
``queue.attributes``; ``Queue`` keeping its messages by receipt handle and deduplication id, and
notifying waiters only of deliverable messages; ``Queue.wait_for_messages`` waiting for a change, not for visible messages,
and ``receive_message`` reading the pending groups on each pass of its loop; and
``CallbackEndpoint.setup_heartbeat_endpoint`` notifying the heartbeat when an outcome is in.
"""

from __future__ import annotations

import functools
import operator
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any


class _Attributes(Mapping[str, Any]):
    """``Queue.attributes`` as moto computes it, except the one flag every SendMessage reads
    (``ContentBasedDeduplication``, three times a send), answered without computing the rest."""

    def __init__(self, queue: Any, compute: Any):
        self._queue = queue
        self._compute = compute
        self._all: dict[str, Any] | None = None

    def _values(self) -> dict[str, Any]:
        if self._all is None:
            self._all = self._compute(self._queue)
        return self._all

    def get(self, key: str, default: Any = None) -> Any:
        if key == "ContentBasedDeduplication" and self._all is None:
            if not self._queue.fifo_queue:
                return default
            return str(bool(self._queue.content_based_deduplication)).lower()
        return self._values().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def apply() -> None:
    answer_before_heartbeat_ends_the_wait()
    keep_costs_flat()


def answer_before_heartbeat_ends_the_wait() -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint

    setup = CallbackEndpoint.setup_heartbeat_endpoint

    def setup_heartbeat_endpoint(endpoint: CallbackEndpoint, heartbeat_seconds: int) -> HeartbeatEndpoint:
        heartbeat = setup(endpoint, heartbeat_seconds)
        if endpoint.get_outcome() is not None:
            heartbeat.notify()
        return heartbeat

    CallbackEndpoint.setup_heartbeat_endpoint = setup_heartbeat_endpoint  # type: ignore[method-assign]


def keep_costs_flat() -> None:
    from moto import backends
    from moto.core import responses, utils
    from moto.sqs import models

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]

    def visible(message: Any) -> bool:
        return time.time() * 1000 > message.visible_at

    def delayed(message: Any) -> bool:
        return time.time() * 1000 < message.delayed_until

    def messages(queue: Any) -> list[Any]:
        now = time.time() * 1000
        return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

    models.Message.visible = property(visible)  # type: ignore[method-assign,assignment]
    models.Message.delayed = property(delayed)  # type: ignore[method-assign,assignment]
    models.Queue.messages = property(messages)  # type: ignore[method-assign,assignment]

    convert = functools.lru_cache(maxsize=None)(utils.camelcase_to_underscores)
    models.camelcase_to_underscores = responses.camelcase_to_underscores = convert  # type: ignore[attr-defined]
    compute = models.Queue.attributes.fget
    models.Queue.attributes = property(lambda queue: _Attributes(queue, compute))  # type: ignore[method-assign,assignment]

    def retained(backend: Any, queue_name: str, message: Any) -> bool:
        period = int(backend.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > time.time()

    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]

    def wait_for_messages(queue: Any, timeout: int) -> None:
        with queue._messages_lock:
            queue._messages_lock.wait(timeout)

    received: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
    mark_received = models.Message.mark_received

    def mark_received_and_index(message: Any, visibility_timeout: int | None = None) -> None:
        mark_received(message, visibility_timeout)
        received[message.receipt_handle] = message

    def delete_message(queue: Any, receipt_handle: str) -> None:
        """moto's delete (the message that ever had this receipt handle, else the same error),
        found by the handle instead of asking every message of the queue twice."""
        if receipt_handle in queue.deleted_messages:
            return
        message = received.get(receipt_handle)
        if message is None or not any(kept is message for kept in queue._messages):
            raise models.ReceiptHandleIsInvalid()
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)
        with queue._messages_lock:  # as sends append: a message sent meanwhile is not lost
            queue._messages = [kept for kept in queue._messages if kept is not message]
            queue._messages_lock.notify_all()  # its group may be free: a waiting receive can look

    models.Message.mark_received = mark_received_and_index  # type: ignore[method-assign]
    models.Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
    models.Queue.delete_message = delete_message  # type: ignore[method-assign]

    add = models.Queue.add_message
    deduplication_id = operator.attrgetter("deduplication_id")

    def add_message(queue: Any, message: Any) -> None:
        """moto's add, without its walk of the whole FIFO queue comparing deduplication ids in
        Python when no message there has this one (a C-level pass finds that), and waking the
        waiting receives only when the message can be delivered now (its group not in flight)."""
        duplicate = queue.fifo_queue and message.deduplication_id in map(deduplication_id, queue._messages)
        if duplicate or queue.lambda_event_source_mappings:
            add(queue, message)
            return
        with queue._messages_lock:
            queue._messages.append(message)
            in_flight = tuple(queue._pending_messages)  # one C-level copy: receives change the set
            if not (queue.fifo_queue and any(m.group_id == message.group_id for m in in_flight)):
                queue._messages_lock.notify_all()

    models.Queue.add_message = add_message  # type: ignore[method-assign]

    receive = models.SQSBackend.receive_message

    def receive_message(
        backend: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            result = receive(backend, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            backend.get_queue(queue_name).wait_for_messages(min(remaining, 1))

    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
