"""What a workflow step's worker receives and how it ends: the messages the state machine sends
(statemachine/task_to_pull_request.asl.json), the two ways a step stops short of an answer, and how
a queued message asks to come back later."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StepMessage(BaseModel):
    """What the state machine sends a worker (see statemachine/task_to_pull_request.asl.json)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    task_token: str
    execution_name: str
    step: str
    task_id: str
    attempt: int

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StepFailed(Exception):
    """A failure that retrying the same message will not fix; ``error`` names its class."""

    def __init__(self, error: str, cause: str):
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}")


class StepPending(Exception):
    """The step has started something long; its task token is stored and answered later."""


class DeliverLater(Exception):
    """The message's work must wait ``seconds`` (an outside service asked for it): SQS hands the
    message back then, and nothing sleeps meanwhile."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(f"{reason}; again in {seconds:.0f} s")
        self.seconds = seconds
