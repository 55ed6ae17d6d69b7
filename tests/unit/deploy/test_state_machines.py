"""The Amazon States Language definitions: structure, reachability, error handling, the worker
messages' contract, and the Passed? decision evaluated on each kind of validation result."""

from __future__ import annotations

import re
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from tests.unit.deploy.cloudformation import REPO_ROOT, all_states, load_definition

TASK_MACHINE = "statemachine/task_to_pull_request.asl.json"
BATCH_MACHINE = "statemachine/batch_tasks.asl.json"
DEFINITIONS = [TASK_MACHINE, BATCH_MACHINE]

RETRYABLE = {"Retryable", "Lambda.ServiceException", "SQS.SdkClientException", "SQS.AmazonSQSException"}
WAIT_FOR_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
SEND_MESSAGE = "arn:aws:states:::sqs:sendMessage"
WORKER_QUEUES = {
    "BuildPrompt": "${PromptQueueUrl}",
    "DispatchCodegen": "${CodegenQueueUrl}",
    "ValidatePR": "${ValidationQueueUrl}",
    "BuildFixPrompt": "${PromptQueueUrl}",
}


@pytest.fixture(scope="module")
def task_machine() -> dict[str, Any]:
    return load_definition(TASK_MACHINE)


@pytest.fixture(scope="module")
def batch_machine() -> dict[str, Any]:
    return load_definition(BATCH_MACHINE)


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


def scopes(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The machine and every nested Map processor: each is its own namespace of states."""
    found = [definition]
    for _, state, _ in all_states(definition):
        processor = state.get("ItemProcessor")
        if processor:
            found.append(processor)
    return found


# -- structure, for both machines ---------------------------------------------------------------


def substituted(path: str) -> str:
    """The definition as deployed: placeholders replaced the way DefinitionSubstitutions does."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("QueueUrl"):
            return f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"

    return re.sub(r"\$\{(\w+)\}", value, (REPO_ROOT / path).read_text())


@pytest.mark.parametrize("path", DEFINITIONS)
def test_the_definition_parses_with_a_real_asl_parser(path):
    AmazonStateLanguageParser.parse(substituted(path))


@pytest.mark.parametrize("path", DEFINITIONS)
def test_every_transition_names_an_existing_state(path):
    for scope in scopes(load_definition(path)):
        names = set(scope["States"])
        assert scope["StartAt"] in names
        for name, state in scope["States"].items():
            for target in transitions(state):
                assert target in names, f"{name} -> {target} (no such state)"


@pytest.mark.parametrize("path", DEFINITIONS)
def test_every_state_is_reachable_from_the_start(path):
    for scope in scopes(load_definition(path)):
        seen, frontier = set(), [scope["StartAt"]]
        while frontier:
            name = frontier.pop()
            if name not in seen:
                seen.add(name)
                frontier.extend(transitions(scope["States"][name]))
        assert seen == set(scope["States"]), f"unreachable: {set(scope['States']) - seen}"


@pytest.mark.parametrize("path", DEFINITIONS)
def test_every_state_ends_or_moves_on(path):
    for name, state, _ in all_states(load_definition(path)):
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        assert terminal != ("Next" in state or state["Type"] == "Choice"), name


@pytest.mark.parametrize("path", DEFINITIONS)
def test_every_task_retries_only_named_transient_errors(path):
    for name, state, _ in all_states(load_definition(path)):
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        for retrier in state["Retry"]:
            errors = set(retrier["ErrorEquals"])
            assert not errors & {"States.ALL", "States.TaskFailed"}, f"{name} retries blindly: {errors}"
            assert retrier["BackoffRate"] > 1, name
            assert retrier["MaxAttempts"] >= 1, name


# -- task_to_pull_request ------------------------------------------------------------------------


def test_the_task_machine_starts_with_the_initial_prompt_or_a_validation_on_request(task_machine):
    start = task_machine["States"][task_machine["StartAt"]]
    assert start["Type"] == "Choice" and start["Default"] == "BuildPrompt"
    assert start["Choices"] == [{"Variable": "$.codegen", "IsPresent": True, "Next": "ValidatePR"}]


def test_task_states_retry_the_contracted_errors(task_machine):
    for name, state in task_machine["States"].items():
        if state["Type"] == "Task":
            assert {e for r in state["Retry"] for e in r["ErrorEquals"]} == RETRYABLE, name


def test_every_task_catches_everything_into_record_failure(task_machine):
    for name, state in task_machine["States"].items():
        if state["Type"] != "Task":
            continue
        (catcher,) = state["Catch"]
        assert catcher["ErrorEquals"] == ["States.ALL"], name
        if name == "RecordFailure":
            assert catcher["Next"] == "Failed"  # catching into itself could loop
        else:
            assert catcher["Next"] == "RecordFailure", name
            assert catcher["ResultPath"] == "$.error", name


def test_the_only_ends_are_succeeded_and_failed(task_machine):
    ends = {name for name, state in task_machine["States"].items() if state["Type"] in ("Succeed", "Fail")}
    assert ends == {"Succeeded", "Failed"}
    assert not any(state.get("End") for state in task_machine["States"].values())
    failed = task_machine["States"]["Failed"]
    assert (failed["ErrorPath"], failed["CausePath"]) == ("$.error.Error", "$.error.Cause")


@pytest.mark.parametrize("step", sorted(WORKER_QUEUES))
def test_worker_steps_wait_for_the_token_with_the_contracted_message(task_machine, step):
    state = task_machine["States"][step]
    assert state["Resource"] == WAIT_FOR_TOKEN
    parameters = state["Parameters"]
    assert parameters["QueueUrl"] == WORKER_QUEUES[step]
    body = parameters["MessageBody"]
    assert body["task_token.$"] == "$$.Task.Token"
    assert body["execution_name.$"] == "$$.Execution.Name"
    assert body["step"] == step
    assert body["task_id.$"] == "$.task_id"
    assert body["attempt.$"] == "$.attempt"
    assert "TimeoutSeconds" in state, f"{step} could wait forever"


def test_worker_results_land_where_the_next_steps_read_them(task_machine):
    states = task_machine["States"]
    assert states["BuildPrompt"]["ResultPath"] == "$.prompt"
    assert states["BuildFixPrompt"]["ResultPath"] == "$.prompt"
    assert states["BuildPrompt"]["Parameters"]["MessageBody"]["kind"] == "initial"
    assert states["BuildFixPrompt"]["Parameters"]["MessageBody"]["kind"] == "fix"
    assert states["DispatchCodegen"]["Parameters"]["MessageBody"]["prompt_id.$"] == "$.prompt.prompt_id"
    assert states["DispatchCodegen"]["ResultPath"] == "$.codegen"
    body = states["ValidatePR"]["Parameters"]["MessageBody"]
    assert (body["pr_number.$"], body["head_sha.$"]) == ("$.codegen.pr_number", "$.codegen.head_sha")
    assert states["ValidatePR"]["ResultPath"] == "$.validation"


def test_step_timeouts(task_machine):
    states = task_machine["States"]
    assert states["DispatchCodegen"]["TimeoutSeconds"] == 14400
    assert "HeartbeatSeconds" not in states["DispatchCodegen"]
    assert states["ValidatePR"]["TimeoutSeconds"] == 7200
    assert states["ValidatePR"]["HeartbeatSeconds"] == 600


@pytest.mark.parametrize(
    ("step", "event"), [("Done", "workflow_succeeded"), ("RecordFailure", "workflow_failed")]
)
def test_outcomes_go_to_the_fifo_status_queue_once_per_attempt(task_machine, step, event):
    state = task_machine["States"][step]
    assert state["Resource"] == SEND_MESSAGE
    parameters = state["Parameters"]
    assert parameters["QueueUrl"] == "${StatusQueueUrl}"
    assert parameters["MessageGroupId.$"] == "$.task_id"
    dedup = parameters["MessageDeduplicationId.$"]
    assert dedup.startswith("States.Format(") and "$.task_id" in dedup and "$.attempt" in dedup
    body = parameters["MessageBody"]
    assert body["event"] == event
    assert (body["task_id.$"], body["attempt.$"], body["execution_name.$"]) == (
        "$.task_id",
        "$.attempt",
        "$$.Execution.Name",
    )
    assert state["ResultPath"] is None
    if event == "workflow_failed":
        assert body["error.$"] == "$.error"


@pytest.mark.parametrize(
    ("step", "error"), [("RepeatedFailure", "RepeatedFailure"), ("BudgetExhausted", "BudgetExhausted")]
)
def test_terminal_verdicts_record_an_error_and_its_cause(task_machine, step, error):
    state = task_machine["States"][step]
    assert state["Type"] == "Pass"
    assert state["ResultPath"] == "$.error"
    assert state["Next"] == "RecordFailure"
    payload = state.get("Result") or state["Parameters"]
    assert payload["Error"] == error
    assert payload.get("Cause") or payload.get("Cause.$")


def test_next_attempt_counts_up_and_keeps_what_the_fix_prompt_needs(task_machine):
    state = task_machine["States"]["NextAttempt"]
    assert state["Type"] == "Pass"
    assert state["Next"] == "BuildFixPrompt"
    assert state["Parameters"]["attempt.$"] == "States.MathAdd($.attempt, 1)"
    for kept in ("task_id", "max_attempts", "codegen", "validation"):
        assert state["Parameters"][f"{kept}.$"] == f"$.{kept}"
    assert task_machine["States"]["BuildFixPrompt"]["Next"] == "DispatchCodegen"


# A small evaluator for the Choice rules the definition uses, so that the decision is tested on
# data rather than by reading it back.


def _lookup(data: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = data
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _matches(rule: dict[str, Any], data: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(_matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], data)
    present, value = _lookup(data, rule["Variable"])
    if "IsPresent" in rule:
        return present == rule["IsPresent"]
    if not present:
        raise AssertionError(f"States.Runtime: {rule['Variable']} is missing (uncatchable)")
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "NumericGreaterThanEqualsPath" in rule:
        return value >= _lookup(data, rule["NumericGreaterThanEqualsPath"])[1]
    raise AssertionError(f"the evaluator does not know {sorted(rule)}")


def decide(choice: dict[str, Any], data: dict[str, Any]) -> str:
    for rule in choice["Choices"]:
        if _matches(rule, data):
            return rule["Next"]
    return choice["Default"]


@pytest.mark.parametrize(
    ("validation", "attempt", "max_attempts", "expected"),
    [
        ({"passed": True, "same_failure": False}, 1, 4, "Done"),
        ({"passed": True, "same_failure": False}, 4, 4, "Done"),
        ({"passed": False, "same_failure": True}, 2, 4, "RepeatedFailure"),
        ({"passed": False, "same_failure": False}, 4, 4, "BudgetExhausted"),
        ({"passed": False, "same_failure": False}, 1, 1, "BudgetExhausted"),
        ({"passed": False, "same_failure": False}, 1, 4, "NextAttempt"),
        ({"passed": False}, 2, 4, "NextAttempt"),
        ({}, 4, 4, "BudgetExhausted"),
    ],
)
def test_passed_choice(task_machine, validation, attempt, max_attempts, expected):
    data = {"task_id": "t", "attempt": attempt, "max_attempts": max_attempts, "validation": validation}
    assert decide(task_machine["States"]["Passed?"], data) == expected


# -- batch_tasks ---------------------------------------------------------------------------------


def test_the_batch_maps_tasks_with_concurrency_and_tolerance_from_its_input(batch_machine):
    (map_state,) = [s for s in batch_machine["States"].values() if s["Type"] == "Map"]
    assert map_state["ItemsPath"] == "$.tasks"
    assert map_state["MaxConcurrencyPath"] == "$.max_concurrency"
    assert map_state["ToleratedFailurePercentagePath"] == "$.tolerated_failure_percentage"
    # ToleratedFailurePercentage is read only in distributed mode; the children wait for hours,
    # beyond an express workflow's five minutes.
    config = map_state["ItemProcessor"]["ProcessorConfig"]
    assert config == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def test_each_batch_item_hands_its_task_to_the_status_syncer_with_a_token(batch_machine):
    """moto runs this (not startExecution.sync), so the batch runs in the emulation too."""
    (map_state,) = [s for s in batch_machine["States"].values() if s["Type"] == "Map"]
    assert map_state["ItemSelector"] == {"task_id.$": "$$.Map.Item.Value.task_id", "batch_id.$": "$.batch_id"}
    (task,) = [s for s in map_state["ItemProcessor"]["States"].values() if s["Type"] == "Task"]
    assert task["Resource"] == WAIT_FOR_TOKEN
    parameters = task["Parameters"]
    assert parameters["QueueUrl"] == "${StatusQueueUrl}"
    assert parameters["MessageGroupId.$"] == "$.task_id"
    assert parameters["MessageBody"] == {
        "event": "batch_item",
        "task_token.$": "$$.Task.Token",
        "task_id.$": "$.task_id",
        "batch_id.$": "$.batch_id",
    }
    assert task["TimeoutSeconds"] == 86400


def test_the_batch_tells_the_status_syncer_how_it_ended(batch_machine):
    states = batch_machine["States"]
    (map_state,) = [s for s in states.values() if s["Type"] == "Map"]
    finished, (catcher,) = states[map_state["Next"]], map_state["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    failed = states[catcher["Next"]]
    for note, event in ((finished, "batch_finished"), (failed, "batch_failed")):
        assert note["Resource"] == SEND_MESSAGE
        assert note["Parameters"]["QueueUrl"] == "${StatusQueueUrl}"
        assert note["Parameters"]["MessageBody"]["event"] == event
    assert failed["Parameters"]["MessageBody"]["error.$"] == catcher["ResultPath"]
    assert states[failed["Next"]]["Type"] == "Fail"


def test_the_batch_keeps_no_per_item_output(batch_machine):
    """Per-item results would grow the batch's state towards the 256 KB payload limit."""
    (map_state,) = [s for s in batch_machine["States"].values() if s["Type"] == "Map"]
    assert map_state["ResultPath"] is None
    for state in map_state["ItemProcessor"]["States"].values():
        if state["Type"] == "Task":
            assert state["ResultPath"] is None and state["OutputPath"] is None
