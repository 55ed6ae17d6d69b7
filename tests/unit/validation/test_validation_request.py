"""What crosses the validation's trust boundary: the request, its Lambda invoke, the report back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import botocore.session
from botocore.validate import ParamValidator

from codeloop.adapters.validation_launcher import invoke_arguments
from codeloop.domain.repo_config import ValidationConfig
from codeloop.domain.validation import CommandResult, ValidationReport
from codeloop.domain.validation_request import ValidationJob, ValidationRequest, fit_report

TOKEN = "ghs_RequestTokenValue0123456789"
JOB = ValidationJob(
    task_token="task-token",
    execution_name="task-1",
    task_id="00000000-0000-0000-0000-000000000001",
    attempt=1,
    pr_number=4,
    head_sha="a" * 40,
    started_at=datetime(2026, 1, 1, tzinfo=UTC),
    installation_id=4242,
    full_name="octo/calc",
    base_ref="main",
    include_repo_checks=True,
)
REQUEST = ValidationRequest(
    job=JOB,
    clone_url="https://github.com/octo/calc.git",
    token=TOKEN,
    validation=ValidationConfig(test=["pytest"]),
    changed_paths=["calc.py"],
)


def test_the_token_is_masked_in_reprs_and_sent_only_in_the_request_json():
    assert TOKEN not in repr(REQUEST) and TOKEN not in str(REQUEST.model_dump())
    sent = json.loads(REQUEST.model_dump_json())
    assert sent["token"] == TOKEN
    assert ValidationRequest.model_validate(sent).token.get_secret_value() == TOKEN


def test_the_runner_is_invoked_asynchronously_with_the_installation_as_its_tenant():
    arguments = invoke_arguments("codeloop-ValidationRunner", REQUEST)
    model = botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")
    report = ParamValidator().validate(arguments, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert (arguments["InvocationType"], arguments["TenantId"]) == ("Event", "4242")
    assert ValidationRequest.model_validate_json(arguments["Payload"]) == REQUEST


def test_a_report_too_large_for_a_message_keeps_each_outputs_head_and_tail():
    output = "HEAD" + "x" * 300_000 + "TAIL"
    command = CommandResult(
        phase="test",
        command="pytest",
        exit_code=1,
        duration_seconds=1.0,
        output=output,
        output_bytes=len(output),
    )
    report = ValidationReport(verdict="failed", summary="1 failed", commands=[command, command])
    fitted = fit_report(report, max_bytes=100_000)
    assert len(fitted.model_dump_json().encode()) <= 100_000
    for cut in fitted.commands:
        assert cut.output.startswith("HEAD") and cut.output.endswith("TAIL") and "output cut" in cut.output
    small = ValidationReport(verdict="passed", summary="ok")
    assert fit_report(small) is small
