"""Operations in template.yaml: alarms on function errors, failed executions and the product's own
metrics, all to one encrypted topic; encrypted log groups; and every checkov skip with its reason."""

from __future__ import annotations

import re
from typing import Any

import pytest

from codeloop.observability import metrics
from codeloop.services.intake.receiver import enqueue_delivery
from tests.unit.deploy.cloudformation import REPO_ROOT, as_list, ref_target, resources_of_type
from tests.unit.deploy.test_template import HANDLER_FOLDERS
from tests.unit.ingress.payloads import envelope_for

FUNCTIONS = {*HANDLER_FOLDERS, "DatabaseMigratorFunction"}
STATE_MACHINES = ("TaskStateMachine", "BatchStateMachine")
EXECUTION_METRICS = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
SOURCE = REPO_ROOT / "shared" / "codeloop"


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"] for name, r in resources_of_type(template, "AWS::CloudWatch::Alarm").items()
    }


def test_every_function_has_an_errors_alarm(template):
    watched = {
        ref_target(alarm["Dimensions"][0]["Value"]): alarm
        for alarm in alarms(template).values()
        if alarm.get("Namespace") == "AWS/Lambda"
    }
    assert set(watched) == FUNCTIONS
    for alarm in watched.values():
        assert alarm["MetricName"] == "Errors"
        assert [d["Name"] for d in alarm["Dimensions"]] == ["FunctionName"]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanThreshold",
            0,
        )


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_each_state_machine_alarms_on_failed_timed_out_and_aborted_executions(template, machine):
    (alarm,) = [
        alarm
        for alarm in alarms(template).values()
        if any(
            ref_target(dimension["Value"]) == machine
            for query in alarm.get("Metrics", [])
            for dimension in query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        )
    ]
    stats = {query["Id"]: query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query}
    assert {stat["Metric"]["MetricName"] for stat in stats.values()} == EXECUTION_METRICS
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/States"
        assert [d["Name"] for d in stat["Metric"]["Dimensions"]] == ["StateMachineArn"]
        assert stat["Stat"] == "Sum"
    (expression,) = [query for query in alarm["Metrics"] if "Expression" in query]
    assert expression["ReturnData"] is True
    # Each series filled with 0, so a period with only one kind of ending still counts.
    assert set(re.findall(r"FILL\((\w+), 0\)", expression["Expression"])) == set(stats)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert ref_target(alarm["Threshold"]) == "ExecutionAlarmThreshold"
    assert template["Parameters"]["ExecutionAlarmThreshold"]["Default"] == 0


def emitted_dimensions() -> tuple[str, dict[str, str], list[str]]:
    """Namespace, dimensions and metric names of what the receiver emits when an enqueue fails."""
    metrics.clear_metrics()
    envelope, _ = envelope_for("issue_comment/created.payload.json")
    assert enqueue_delivery(envelope) is False  # no events queue configured: the enqueue fails
    try:
        document = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (dimension_names,) = directive["Dimensions"]
    names = [metric["Name"] for metric in directive["Metrics"]]
    return directive["Namespace"], {name: document[name] for name in dimension_names}, names


def test_the_product_metric_alarms_watch_what_the_code_emits(template, monkeypatch):
    monkeypatch.delenv("EVENTS_QUEUE_URL", raising=False)
    namespace, dimensions, names = emitted_dimensions()
    assert names == ["EnqueueFailed"]
    product = {
        alarm["MetricName"]: alarm
        for alarm in alarms(template).values()
        if alarm.get("Namespace") == namespace
    }
    assert set(product) == {"EnqueueFailed", "WebhookDatabaseUnavailable"}
    code = "\n".join(path.read_text() for path in SOURCE.rglob("*.py"))
    for name, alarm in product.items():
        assert f'add_metric(name="{name}"' in code, f"nothing emits {name}"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)


def test_every_alarm_goes_to_the_encrypted_alarm_topic(template):
    for name, alarm in alarms(template).items():
        assert [ref_target(action) for action in alarm["AlarmActions"]] == ["AlarmTopic"], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    key = ref_target(topic["KmsMasterKeyId"])
    statements = template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(cloudwatch["Action"]))
    assert template["Resources"][key]["Properties"]["EnableKeyRotation"] is True


def test_every_log_group_is_encrypted_with_a_key_the_logs_service_may_use(template):
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    keys = {ref_target(group["Properties"]["KmsKeyId"]) for group in groups.values()}
    assert keys == {"OperationsKey"}
    statements = template["Resources"]["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if "logs." in str(s["Principal"].get("Service"))]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_the_public_front_and_the_migrator_have_reserved_concurrency(template):
    resources = template["Resources"]
    receiver = resources["WebhookReceiverFunction"]["Properties"]
    assert ref_target(receiver["ReservedConcurrentExecutions"]) == "ReceiverConcurrency"
    assert resources["DatabaseMigratorFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_every_checkov_skip_says_why():
    text = (REPO_ROOT / "template.yaml").read_text()
    skips = [line.strip() for line in text.splitlines() if "checkov:skip" in line]
    assert skips, "template.yaml has no checkov skips to check"
    for line in skips:
        match = re.fullmatch(r"# checkov:skip=(CKV_AWS_\d+):(.+)", line)
        assert match and len(match.group(2).split()) >= 6, f"a skip without its reason: {line}"
