"""The adapter's models read GitHub's real shapes: the objects inside its published webhook examples."""

from __future__ import annotations

import json

import pytest

from codeloop.adapters import github as gh
from codeloop.adapters.github.client import _trim
from tests.fixtures import WEBHOOK_EXAMPLES


def examples(event: str) -> list[dict]:
    paths = sorted((WEBHOOK_EXAMPLES / event).glob("*.json"))
    assert paths, f"no examples for {event} in {WEBHOOK_EXAMPLES}"
    return [json.loads(path.read_text()) for path in paths]


@pytest.mark.parametrize("payload", examples("pull_request"))
def test_pull_request(payload: dict):
    pull = gh.PullRequest.model_validate(payload["pull_request"])

    assert pull.number == payload["pull_request"]["number"]
    assert pull.head_sha == payload["pull_request"]["head"]["sha"]
    assert pull.base_ref == payload["pull_request"]["base"]["ref"]
    assert pull.user_login == payload["pull_request"]["user"]["login"]


@pytest.mark.parametrize("payload", examples("issue_comment"))
def test_issue_comment(payload: dict):
    comment = gh.IssueComment.model_validate(payload["comment"])

    assert (comment.id, comment.user_type) == (payload["comment"]["id"], payload["comment"]["user"]["type"])


@pytest.mark.parametrize("payload", examples("check_run"))
def test_check_run(payload: dict):
    run = gh.CheckRun.model_validate(payload["check_run"])

    assert (run.id, run.head_sha, run.app_slug) == (
        payload["check_run"]["id"],
        payload["check_run"]["head_sha"],
        payload["check_run"]["app"].get("slug"),
    )


@pytest.mark.parametrize("payload", examples("check_suite"))
def test_check_suite(payload: dict):
    suite = gh.CheckSuite.model_validate(payload["check_suite"])

    assert suite.conclusion == payload["check_suite"]["conclusion"]


@pytest.mark.parametrize("payload", examples("pull_request")[:3] + examples("push")[:3])
def test_repository(payload: dict):
    repository = gh.Repository.model_validate(payload["repository"])

    assert repository.full_name == payload["repository"]["full_name"]
    assert repository.owner_login == payload["repository"]["owner"]["login"]


def test_trimming_keeps_texts_within_githubs_limit():
    assert _trim("short") == "short"
    trimmed = _trim("x" * (gh.GITHUB_TEXT_LIMIT + 1))
    assert len(trimmed) == gh.GITHUB_TEXT_LIMIT and trimmed.endswith("(truncated)")


def test_check_run_actions_follow_githubs_limits():
    with pytest.raises(ValueError):
        gh.CheckRunAction(label="a label that is too long", description="d", identifier="i")
