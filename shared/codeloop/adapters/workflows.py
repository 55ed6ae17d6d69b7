"""Step Functions: start a task's execution and answer the task tokens its steps wait on."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from codeloop.adapters.aws import client

MAX_ERROR = 256  # SendTaskFailure's `error` limit
MAX_CAUSE = 32_768  # and its `cause` limit


def execution_name(task_id: object, attempt: int) -> str:
    """Executions are named by task and attempt, so starting the same one twice is harmless."""
    return f"{task_id}-{attempt}"


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start (or find, if already started) the named execution; returns its ARN."""
    sfn = client("stepfunctions")
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except sfn.exceptions.ExecutionAlreadyExists:
        return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def stop_execution(execution_arn: str, cause: str) -> None:
    sfn = client("stepfunctions")
    with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):
        sfn.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause[:MAX_CAUSE])


def send_success(task_token: str, output: dict[str, Any]) -> None:
    client("stepfunctions").send_task_success(taskToken=task_token, output=json.dumps(output))


def send_failure(task_token: str, error: str, cause: str) -> None:
    client("stepfunctions").send_task_failure(
        taskToken=task_token, error=error[:MAX_ERROR], cause=cause[:MAX_CAUSE]
    )


def fail_waiting_step(task_token: str, error: str, cause: str) -> None:
    """Fail a step's wait; a token the execution no longer waits on (stopped, timed out) is ignored."""
    with _unless_no_longer_waited_on():
        send_failure(task_token, error, cause)


def succeed_waiting_step(task_token: str, output: dict[str, Any]) -> None:
    """Succeed a step's wait; a token the execution no longer waits on is ignored."""
    with _unless_no_longer_waited_on():
        send_success(task_token, output)


def _unless_no_longer_waited_on() -> contextlib.AbstractContextManager[None]:
    sfn = client("stepfunctions")
    return contextlib.suppress(
        sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist
    )


def send_heartbeat(task_token: str) -> None:
    client("stepfunctions").send_task_heartbeat(taskToken=task_token)


EXECUTION_MISSING = "MISSING"


def execution_status(execution_arn: str) -> tuple[str, str | None]:
    """An execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) and its error, if any.

    An execution Step Functions does not know (its history expired after 90 days, its state
    machine was deleted, or the stack was rebuilt) is over: it reports as ``MISSING``.
    """
    sfn = client("stepfunctions")
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return EXECUTION_MISSING, "Step Functions has no record of this execution"
    return described["status"], described.get("error") or described.get("cause")


def error_code(exc: Exception) -> str | None:
    """The AWS error code of a failed call (``TaskTimedOut``, ``InvalidToken``...), if it is one."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
