"""What crosses the trust boundary of a validation, both ways.

The trusted side (the status syncer) prepares a :class:`ValidationRequest`: everything the runner
needs and nothing more (the clone URL, the head commit, the default branch's commands, a token for
one repository with ``contents: read``). The runner holds no database access and no secret of its
own; it answers with a :class:`ValidationResult` on the status queue, which the syncer concludes.
The :class:`ValidationJob` travels through the runner unchanged: it is what the syncer needs to
conclude the step (the runner cannot widen it: the syncer checks its task token against the one
the workflow gave for that step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, field_serializer

from codeloop.domain.repo_config import ReviewConfig, ValidationConfig
from codeloop.domain.validation import CommandResult, DeployedCommand, ValidationReport

REPORT_EVENT = "validation_report"
# SQS takes 256 KiB a message; keep the report well under it (command outputs are cut to fit).
MAX_REPORT_MESSAGE_BYTES = 200_000
_CUT_MARKER = "\n… [output cut to fit the report message] …\n"
_WithOutput = TypeVar("_WithOutput", CommandResult, DeployedCommand)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValidationJob(_Message):
    task_token: str  # the ValidatePR step's; the runner heartbeats it
    execution_name: str
    task_id: str
    attempt: int
    pr_number: int
    head_sha: str
    started_at: datetime
    installation_id: int  # the tenant: runner environments are never shared between installations
    full_name: str
    base_ref: str
    include_repo_checks: bool
    review: ReviewConfig = ReviewConfig()  # asked by the syncer when the report comes back


class ValidationRequest(_Message):
    job: ValidationJob
    clone_url: str
    token: SecretStr  # masked in reprs and logs; revealed only in the JSON sent to the runner
    validation: ValidationConfig
    changed_paths: list[str]

    @field_serializer("token", when_used="json")
    def _reveal_token(self, token: SecretStr) -> str:
        return token.get_secret_value()


class ValidationResult(_Message):
    event: Literal["validation_report"] = REPORT_EVENT
    job: ValidationJob
    report: ValidationReport


def fit_report(report: ValidationReport, max_bytes: int = MAX_REPORT_MESSAGE_BYTES) -> ValidationReport:
    """The report, with command and deploy outputs cut in their middle (head and tail kept) until the whole
    report fits in ``max_bytes`` of JSON."""
    processes = report.deployment.processes if report.deployment else []
    share = max((len(item.output) for item in [*report.commands, *processes]), default=0)
    fitted = report
    while len(fitted.model_dump_json().encode()) > max_bytes and share > 0:
        share //= 2
        update: dict[str, Any] = {"commands": [_cut(command, share) for command in report.commands]}
        if report.deployment is not None:
            update["deployment"] = report.deployment.model_copy(
                update={"processes": [_cut(process, share) for process in processes]}
            )
        fitted = report.model_copy(update=update)
    return fitted


def _cut(item: _WithOutput, keep: int) -> _WithOutput:
    if len(item.output) <= keep:
        return item
    head = keep // 4
    output = item.output[:head] + _CUT_MARKER + item.output[len(item.output) - (keep - head) :]
    return item.model_copy(update={"output": output})
