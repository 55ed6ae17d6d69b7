"""The status syncer's batches: message groups side by side, each group in order, a failure
holding back the rest of its group only."""

from __future__ import annotations

import threading

from codeloop.services.tasks.steps import sqs_batch_by_group


def record(message_id: str, group: str | None, body: str) -> dict:
    attributes = {"MessageGroupId": group} if group else {}
    return {"messageId": message_id, "body": body, "attributes": attributes}


def test_groups_run_at_once_and_each_group_in_order():
    meet = threading.Barrier(2, timeout=10)  # passes only if both groups are in flight together
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def handle(body: str) -> None:
        group, step = body.split(":")
        if step == "1":
            meet.wait()
        seen[group].append(step)

    event = {"Records": [record(f"{g}{n}", g, f"{g}:{n}") for n in (1, 2, 3) for g in ("a", "b")]}
    assert sqs_batch_by_group(event, handle, 10) == {"batchItemFailures": []}
    assert seen == {"a": ["1", "2", "3"], "b": ["1", "2", "3"]}


def test_a_failure_returns_it_and_the_rest_of_its_group_only():
    handled = []

    def handle(body: str) -> None:
        if body == "a:2":
            raise RuntimeError("GitHub is down")
        handled.append(body)

    event = {
        "Records": [
            record("a1", "a", "a:1"),
            record("a2", "a", "a:2"),
            record("b1", "b", "b:1"),
            record("a3", "a", "a:3"),
            record("s1", None, "standard:1"),  # a standard queue's message is a group of one
        ]
    }
    result = sqs_batch_by_group(event, handle, 10)
    assert result == {"batchItemFailures": [{"itemIdentifier": "a2"}, {"itemIdentifier": "a3"}]}
    assert sorted(handled) == ["a:1", "b:1", "standard:1"]


def test_batches_share_the_same_group_workers_and_a_lone_group_runs_in_the_caller():
    threads: dict[str, set[str]] = {"lone": set(), "many": set()}

    def handle(body: str) -> None:
        threads[body.split(":")[0]].add(threading.current_thread().name)

    for _ in range(3):
        assert sqs_batch_by_group({"Records": [record("x", "g", "lone:1")]}, handle, 4) == {"batchItemFailures": []}
        many = {"Records": [record(f"m{n}", f"g{n}", f"many:{n}") for n in range(4)]}
        assert sqs_batch_by_group(many, handle, 4) == {"batchItemFailures": []}
    assert threads["lone"] == {threading.current_thread().name}
    assert len(threads["many"]) <= 4 and all(name.startswith("codeloop-group") for name in threads["many"])


def test_batches_handled_at_once_by_two_callers_do_not_queue_behind_each_other():
    """The local stack's pollers share a process: each gets group workers of its own, as each
    batch had before, so one poller's slow groups never hold up another's."""
    meet = threading.Barrier(4, timeout=10)  # passes only with all four groups in flight together

    def batch(caller: str) -> None:
        event = {"Records": [record(f"{caller}{n}", f"{caller}{n}", "x") for n in range(2)]}
        assert sqs_batch_by_group(event, lambda body: meet.wait(), 2) == {"batchItemFailures": []}

    callers = [threading.Thread(target=batch, args=(name,)) for name in ("a", "b")]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert not meet.broken
