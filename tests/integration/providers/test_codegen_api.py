"""The Codegen API provider against an HTTP fake of the API on loopback."""

import json
import re

import httpx
import pytest
from jsonschema import Draft202012Validator

from codeloop.adapters.codegen_api import CodegenApiProvider
from codeloop.domain.call_retries import CallRetryPolicies, CallRetryPolicy, Jitter, next_call_delay
from codeloop.domain.providers import (
    ATTEMPT_KEY,
    TASK_ID_KEY,
    CodeGenerationProvider,
    ErrorClass,
    FinalError,
    OutcomeUnknown,
    PlanLimitReached,
    RateLimited,
    RetryableCall,
    RunRepository,
    RunRequest,
    RunStatus,
)
from codeloop.settings import reset_settings
from tests.fakes.codegen_api import FakeCodegenApi
from tests.fixtures import CODEGEN_API_DESCRIPTION

CLIENT_TIMEOUT = httpx.Timeout(0.5, connect=0.5)
REPO = RunRepository(full_name="octo-org/widgets", github_id=1296269)


@pytest.fixture
def fake():
    with FakeCodegenApi(hang_seconds=3.0) as server:
        server.repo_id = server.add_repo("octo-org/widgets", 1296269)
        yield server


@pytest.fixture
def provider(fake):
    codegen = CodegenApiProvider(
        base_url=fake.url, api_key=fake.api_key, org_id=fake.org_id, timeout=CLIENT_TIMEOUT
    )
    yield codegen
    codegen.close()


def request(attempt: int = 0, prompt: str = "Add a --verbose flag") -> RunRequest:
    return RunRequest(
        task_id="task-7", attempt=attempt, prompt=prompt, repository=REPO, metadata={"kind": "issue"}
    )


def test_the_provider_satisfies_the_interface(provider):
    assert isinstance(provider, CodeGenerationProvider)
    assert provider.opens_pull_requests


def test_create_run_sends_the_documented_request(fake, provider):
    result = provider.create_run(request())

    org = f"/v1/organizations/{fake.org_id}"
    assert [(call.method, call.path) for call in fake.calls] == [
        ("GET", f"{org}/repos"),
        ("POST", f"{org}/agent/run"),
    ]
    create = fake.calls[-1]
    assert create.headers["authorization"] == f"Bearer {fake.api_key}"
    assert create.body == {
        "prompt": "Add a --verbose flag",
        "metadata": {"kind": "issue", TASK_ID_KEY: "task-7", ATTEMPT_KEY: 0},
        "repo_id": fake.repo_id,
    }
    run = fake.runs[int(result.run_id)]
    assert result.status is RunStatus.QUEUED
    assert result.web_url == run["web_url"]
    assert result.matches("task-7", 0)


def test_the_repository_id_is_looked_up_once(fake, provider):
    provider.create_run(request(0))
    provider.create_run(request(1))
    assert len(fake.calls_to("GET", f"/v1/organizations/{fake.org_id}/repos")) == 1
    assert len(fake.calls_to("POST", f"/v1/organizations/{fake.org_id}/agent/run")) == 2


def test_a_repository_found_by_github_id_under_a_new_name(fake, provider):
    renamed = RunRepository(full_name="octo-org/gadgets", github_id=1296269)
    provider.create_run(request().model_copy(update={"repository": renamed}))
    assert fake.calls[-1].body["repo_id"] == fake.repo_id


def test_a_repository_not_connected_to_codegen_is_final_and_nothing_is_created(fake, provider):
    stranger = RunRepository(full_name="someone/else", github_id=1)
    with pytest.raises(FinalError, match="someone/else is not connected to Codegen organization 42"):
        provider.create_run(request().model_copy(update={"repository": stranger}))
    assert fake.runs == {}


def test_get_run_reports_status_pull_requests_and_summary(fake, provider):
    run_id = provider.create_run(request()).run_id
    fake.set_status(int(run_id), "ACTIVE")
    assert provider.get_run(run_id).status is RunStatus.RUNNING

    fake.attach_pull_request(
        int(run_id),
        url="https://github.com/octo-org/widgets/pull/12",
        title="Add --verbose",
        head_branch="codegen/v",
    )
    fake.complete_run(int(run_id), summary="Added the flag and a test.")
    result = provider.get_run(run_id)

    assert result.status is RunStatus.COMPLETED
    assert result.raw_status == "COMPLETE"
    assert result.summary == "Added the flag and a test."
    assert result.error is None
    assert [(pr.url, pr.title, pr.head_branch) for pr in result.pull_requests] == [
        ("https://github.com/octo-org/widgets/pull/12", "Add --verbose", "codegen/v")
    ]


def test_a_failed_run_carries_its_error(fake, provider):
    run_id = provider.create_run(request()).run_id
    fake.complete_run(int(run_id), status="ERROR", summary="Could not install dependencies.")
    result = provider.get_run(run_id)
    assert (result.status, result.error) == (RunStatus.FAILED, "Could not install dependencies.")


def test_resume_run_sends_the_run_id_and_the_new_prompt(fake, provider):
    run_id = provider.create_run(request()).run_id
    fake.complete_run(int(run_id))
    result = provider.resume_run(run_id, request(1, prompt="The tests fail: fix test_cli"))
    assert fake.calls[-1].path == f"/v1/organizations/{fake.org_id}/agent/run/resume"
    assert fake.calls[-1].body == {"agent_run_id": int(run_id), "prompt": "The tests fail: fix test_cli"}
    assert (result.run_id, result.status) == (run_id, RunStatus.RUNNING)


def test_stop_check_fixes_bans_codegens_own_fixes_on_the_runs_pull_request(fake, provider):
    run_id = provider.create_run(request()).run_id
    provider.stop_check_fixes(run_id)
    assert fake.calls[-1].path == f"/v1/organizations/{fake.org_id}/agent/run/ban"
    assert fake.calls[-1].body == {"agent_run_id": int(run_id)}
    assert fake.banned_runs == {int(run_id)}


def _operation(description: dict, method: str, path: str) -> dict:
    """The operation of the published description that a recorded request is a call of."""
    for template, operations in description["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the Codegen API")


def test_every_request_is_a_documented_operation_with_a_valid_body(fake, provider):
    run_id = provider.create_run(request()).run_id
    provider.get_run(run_id)
    fake.complete_run(int(run_id))
    provider.resume_run(run_id, request(1, prompt="The tests fail: fix test_cli"))
    provider.find_run("task-7", 0)
    provider.stop_check_fixes(run_id)

    description = json.loads(CODEGEN_API_DESCRIPTION.read_text())
    assert {(call.method, call.path.split("/")[-1]) for call in fake.calls} >= {
        ("POST", "run"),
        ("GET", run_id),
        ("POST", "resume"),
        ("GET", "runs"),
        ("POST", "ban"),
        ("GET", "repos"),
    }
    for call in fake.calls:
        operation = _operation(description, call.method, call.path)
        if call.method == "POST":
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            Draft202012Validator({**schema, "components": description["components"]}).validate(call.body)


def test_an_unknown_run_is_final(provider):
    with pytest.raises(FinalError, match=r"404: Agent run not found\."):
        provider.get_run("999999")


def test_a_wrong_token_is_final(fake):
    codegen = CodegenApiProvider(
        base_url=fake.url, api_key="wrong", org_id=fake.org_id, timeout=CLIENT_TIMEOUT
    )
    with pytest.raises(FinalError) as caught:
        codegen.get_run("1")
    assert caught.value.status_code == 403
    assert "wrong" not in str(caught.value)


# -- errors and their classes --------------------------------------------------------------------


def test_402_plan_limit_is_final_and_never_retried(fake, provider):
    provider.repo_id_for(REPO)
    fake.fail_next(
        1, "status", status=402, body={"message": "Alloted agent runs ... reached.", "status_code": 402}
    )
    with pytest.raises(PlanLimitReached) as caught:
        provider.create_run(request())
    assert caught.value.status_code == 402
    assert next_call_delay(CallRetryPolicies(), caught.value.error_class, 1, 0.0, random_half()) is None


@pytest.mark.parametrize(("header", "expected"), [("17", 17.0), ("0", 0.0), (None, 60.0)])
def test_429_is_rate_limited_with_the_servers_retry_after(fake, provider, header, expected):
    provider.repo_id_for(REPO)
    fake.fail_next(1, "status", status=429, retry_after=header, body={"message": "Rate limit exceeded."})
    with pytest.raises(RateLimited) as caught:
        provider.create_run(request())
    assert caught.value.retry_after == expected
    assert fake.runs == {}


@pytest.mark.parametrize(
    ("kind", "status"), [("status", 500), ("status", 503), ("drop", None), ("hang", None)]
)
def test_server_errors_drops_and_hangs_on_a_read_are_retryable(fake, provider, kind, status):
    run_id = provider.create_run(request()).run_id
    fake.fail_next(1, kind, status=status or 500)
    with pytest.raises(RetryableCall):
        provider.get_run(run_id)
    assert provider.get_run(run_id).run_id == run_id  # and the next call goes through


def test_a_refused_connection_is_retryable_even_for_a_create():
    with FakeCodegenApi() as stopped:
        url = stopped.url
    codegen = CodegenApiProvider(base_url=url, api_key="k", org_id=1, timeout=CLIENT_TIMEOUT)
    with pytest.raises(RetryableCall):
        codegen.create_run(
            request().model_copy(update={"repository": REPO.model_copy(update={"codegen_repo_id": 5})})
        )


@pytest.mark.parametrize("kind", ["hang", "drop"])
def test_a_create_that_gets_no_answer_is_an_unknown_outcome(fake, provider, kind):
    provider.repo_id_for(REPO)
    fake.fail_next(1, kind)
    with pytest.raises(OutcomeUnknown):
        provider.create_run(request())
    assert provider.find_run("task-7", 0) is None  # nothing was created: safe to create again


def test_a_create_that_timed_out_after_the_run_was_made_is_reconciled_by_find_run(fake, provider):
    provider.repo_id_for(REPO)
    fake.add_run(metadata={TASK_ID_KEY: "task-7", ATTEMPT_KEY: 1})  # the same task's other attempt
    fake.fail_next(1, "after_handling_hang")
    with pytest.raises(OutcomeUnknown):
        provider.create_run(request(attempt=0))

    (created,) = [run for run in fake.runs.values() if run["metadata"][ATTEMPT_KEY] == 0]
    found = provider.find_run("task-7", 0)
    assert found is not None
    assert found.run_id == str(created["id"])
    assert fake.calls[-1].query == {"skip": ["0"], "limit": ["100"]}


def test_find_run_pages_through_newer_runs(fake, provider):
    provider.create_run(request(attempt=2))
    for _ in range(130):
        fake.add_run(metadata={"someone": "else"})
    found = provider.find_run("task-7", 2)
    assert found is not None and found.matches("task-7", 2)
    pages = fake.calls_to("GET", f"/v1/organizations/{fake.org_id}/agent/runs")
    assert [call.query["skip"] for call in pages] == [["0"], ["100"]]


def test_find_run_stops_after_its_page_budget(fake):
    codegen = CodegenApiProvider(
        base_url=fake.url, api_key=fake.api_key, org_id=fake.org_id, timeout=CLIENT_TIMEOUT, find_run_pages=2
    )
    for _ in range(250):
        fake.add_run(metadata={})
    assert codegen.find_run("task-7", 0) is None
    assert len(fake.calls_to("GET", f"/v1/organizations/{fake.org_id}/agent/runs")) == 2


# -- retrying by strategy ------------------------------------------------------------------------


class random_half:
    def random(self) -> float:
        return 0.5


def test_retries_follow_the_policy_for_each_error_class(fake, provider):
    """What a dispatcher does: on each failure, ask the policy for the wait (re-queue, never sleep)."""
    run_id = provider.create_run(request()).run_id
    policies = CallRetryPolicies(
        by_error_class={
            ErrorClass.RETRYABLE: CallRetryPolicy(
                base_seconds=1.0, multiplier=2.0, max_attempts=5, jitter=Jitter.EQUAL
            ),
            ErrorClass.RATE_LIMITED: CallRetryPolicy(backoff="fixed", base_seconds=5.0, jitter=Jitter.NONE),
        }
    )
    fake.fail_next(1, "status", status=502)
    fake.fail_next(1, "status", status=429, retry_after="30")
    fake.fail_next(1, "drop")
    waits: list[tuple[ErrorClass, float | None]] = []
    result = None
    for attempt in range(1, 10):
        try:
            result = provider.get_run(run_id)
            break
        except (RetryableCall, RateLimited) as exc:
            wait = next_call_delay(
                policies,
                exc.error_class,
                attempt,
                sum(w for _, w in waits if w),
                random_half(),
                retry_after=getattr(exc, "retry_after", None),
            )
            waits.append((exc.error_class, wait))
    assert waits == [
        (ErrorClass.RETRYABLE, 0.75),
        (ErrorClass.RATE_LIMITED, 30.0),
        (ErrorClass.RETRYABLE, 3.0),
    ]
    assert result is not None and result.run_id == run_id


def test_from_settings_reads_url_token_and_organization(fake, monkeypatch):
    monkeypatch.setenv("CODEGEN_API_URL", fake.url + "/")
    monkeypatch.setenv("CODEGEN_API_KEY", fake.api_key)
    monkeypatch.setenv("CODEGEN_ORG_ID", str(fake.org_id))
    reset_settings()
    try:
        codegen = CodegenApiProvider.from_settings()
        assert codegen.create_run(request()).status is RunStatus.QUEUED
    finally:
        reset_settings()
