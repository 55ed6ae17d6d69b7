"""Two small patches that keep moto's cost per request flat, applied in the emulation's own process.

- Backend discovery: moto's server lists its package folder (``list_of_moto_modules``: a
  ``listdir`` and an ``isdir`` per module) on every request to find the backend for a host. The
  folder does not change while the server runs, so the list is read once.
- SQS visibility: ``Message.visible`` / ``delayed`` built two naive datetimes per message per
  check (``utcnow`` − ``utcfromtimestamp(0)``), and ``Queue.messages`` checked every message of the
  queue on each receive. The same comparisons against one ``time.time()`` read per walk give the
  same answers (moto stores those instants as Unix milliseconds) at a small fraction of the cost.

Upstream, both belong in moto itself: ``backends.list_of_moto_modules`` behind ``functools.cache``,
and ``moto.core.utils.unix_time`` as ``time.time()`` (``sqs/models.py`` reading it once per walk).
"""

from __future__ import annotations

import time
from typing import Any


def apply() -> None:
    from moto import backends
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
