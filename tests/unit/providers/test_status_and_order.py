import pytest

from codeloop.domain.providers import (
    ATTEMPT_KEY,
    TASK_ID_KEY,
    NoProviderAvailable,
    RunRepository,
    RunRequest,
    RunResult,
    RunStatus,
    normalise_status,
    order_providers,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("queued", RunStatus.QUEUED),
        ("QUEUED", RunStatus.QUEUED),
        ("in_progress", RunStatus.RUNNING),
        ("In-Progress", RunStatus.RUNNING),
        ("ACTIVE", RunStatus.RUNNING),
        ("active", RunStatus.RUNNING),
        ("completed", RunStatus.COMPLETED),
        ("COMPLETE", RunStatus.COMPLETED),
        (" Complete ", RunStatus.COMPLETED),
        ("failed", RunStatus.FAILED),
        ("FAILED", RunStatus.FAILED),
        ("ERROR", RunStatus.FAILED),
        ("cancelled", RunStatus.CANCELLED),
        ("CANCELED", RunStatus.CANCELLED),
        ("STOPPED", RunStatus.CANCELLED),
        ("PAUSED_FOR_REVIEW", RunStatus.RUNNING),
        ("", RunStatus.RUNNING),
        (None, RunStatus.RUNNING),
    ],
)
def test_status_normalisation(raw, expected):
    assert normalise_status(raw) is expected


def test_only_completed_failed_and_cancelled_are_terminal():
    assert {status for status in RunStatus if status.is_terminal} == {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    }


def test_run_metadata_carries_task_and_attempt_over_caller_keys():
    request = RunRequest(
        task_id="t-1",
        attempt=2,
        prompt="fix it",
        repository=RunRepository(full_name="octo/repo"),
        metadata={"source": "comment", TASK_ID_KEY: "spoofed"},
    )
    assert request.run_metadata() == {"source": "comment", TASK_ID_KEY: "t-1", ATTEMPT_KEY: 2}


def test_result_matches_task_and_attempt_only_when_both_agree():
    result = RunResult(
        provider="codegen",
        run_id="1",
        status=RunStatus.RUNNING,
        metadata={TASK_ID_KEY: "t-1", ATTEMPT_KEY: 2},
    )
    assert result.matches("t-1", 2)
    assert not result.matches("t-1", 1)
    assert not result.matches("t-2", 2)


@pytest.mark.parametrize(
    ("enabled", "repo_choice", "expected"),
    [
        (["codegen", "openai"], None, ["codegen", "openai"]),
        (["codegen", "openai"], ["openai", "codegen"], ["openai", "codegen"]),
        (["codegen", "openai"], ["openai"], ["openai"]),
        (["codegen", "openai"], ["OpenAI", "openai", "other"], ["openai"]),
        (["codegen", "codegen", " openai "], None, ["codegen", "openai"]),
    ],
)
def test_order_providers(enabled, repo_choice, expected):
    assert order_providers(enabled, repo_choice) == expected


def test_a_repository_cannot_add_a_provider_the_deployment_does_not_enable():
    with pytest.raises(
        NoProviderAvailable, match=r"asks for providers \['other'\].*enables only \['codegen'\]"
    ):
        order_providers(["codegen"], ["other"])
