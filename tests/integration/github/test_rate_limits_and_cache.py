"""Rate limits waited out when short, raised when long, never a hot loop; transient failures; ETags."""

from __future__ import annotations

import pytest

from codeloop.adapters import github as gh
from tests.fakes.github import FakeRepo, GitHubFake
from tests.integration.github.conftest import INSTALLATION, REPO

REPO_PATH = "/repos/octo/hello"


def statuses(fake: GitHubFake, method: str, path: str) -> list[int]:
    return [call.status for call in fake.calls_to(method, path)]


@pytest.mark.parametrize("status", [403, 429])
def test_a_short_secondary_rate_limit_is_waited_out(github_fake: GitHubFake, repo: FakeRepo, status: int):
    github_fake.fail_next(1, status, retry_after=1, path_prefix=REPO_PATH)

    assert gh.get_repository(INSTALLATION, REPO).full_name == REPO
    assert statuses(github_fake, "GET", REPO_PATH) == [status, 200]


def test_a_short_primary_rate_limit_is_waited_out(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.fail_next(1, 403, rate_limit_reset_in=1, path_prefix=REPO_PATH)

    assert gh.get_repository(INSTALLATION, REPO).full_name == REPO
    assert statuses(github_fake, "GET", REPO_PATH) == [403, 200]


def test_a_long_secondary_rate_limit_is_raised_for_the_queue(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.fail_next(1, 429, retry_after=120, path_prefix=REPO_PATH)

    with pytest.raises(gh.GitHubRateLimited) as raised:
        gh.get_repository(INSTALLATION, REPO)

    assert raised.value.retry_after == 120
    assert statuses(github_fake, "GET", REPO_PATH) == [429]


def test_an_exhausted_primary_rate_limit_is_raised_with_its_reset(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.fail_next(1, 403, rate_limit_reset_in=3600, path_prefix=REPO_PATH)

    with pytest.raises(gh.GitHubRateLimited) as raised:
        gh.get_repository(INSTALLATION, REPO)

    assert 3500 < raised.value.retry_after <= 3600
    assert statuses(github_fake, "GET", REPO_PATH) == [403]


@pytest.mark.parametrize("fault", [{"retry_after": 1}, {"rate_limit_reset_in": -5}])
def test_a_rate_limit_that_persists_is_tried_a_bounded_number_of_times(
    github_fake: GitHubFake, repo: FakeRepo, fault: dict
):
    # A reset time already past means "no wait": it must still not become a hot loop (nor 60 s).
    github_fake.fail_next(10, 429 if "retry_after" in fault else 403, path_prefix=REPO_PATH, **fault)

    with pytest.raises(gh.GitHubRateLimited):
        gh.get_repository(INSTALLATION, REPO)

    assert len(github_fake.calls_to("GET", REPO_PATH)) == gh.MAX_RETRIES + 1


def test_a_forbidden_answer_that_is_not_a_rate_limit_is_an_error(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.fail_next(1, 403, path_prefix=REPO_PATH)

    with pytest.raises(gh.GitHubError) as raised:
        gh.get_repository(INSTALLATION, REPO)

    assert type(raised.value) is gh.GitHubError
    assert raised.value.status == 403
    assert len(github_fake.calls_to("GET", REPO_PATH)) == 1


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_a_read_is_retried_after_a_server_error_or_dropped_connection(
    github_fake: GitHubFake, repo: FakeRepo, kind: str
):
    github_fake.fail_next(1, 502, kind=kind, path_prefix=REPO_PATH)

    assert gh.get_repository(INSTALLATION, REPO).full_name == REPO
    assert statuses(github_fake, "GET", REPO_PATH) == [502 if kind == "status" else 0, 200]


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_a_write_is_not_repeated_after_a_server_error(github_fake: GitHubFake, repo: FakeRepo, kind: str):
    number = repo.add_issue()
    github_fake.fail_next(1, 503, kind=kind, path_prefix=f"{REPO_PATH}/issues")

    with pytest.raises(gh.GitHubRetryable):
        gh.create_issue_comment(INSTALLATION, REPO, number, "hello")

    assert len(github_fake.calls_to("POST", f"{REPO_PATH}/issues/{number}/comments")) == 1
    assert repo.comments == {}


def test_a_repeated_read_is_a_304_that_returns_the_cached_content(github_fake: GitHubFake, repo: FakeRepo):
    path = f"{REPO_PATH}/contents/.github/codeloop.yml"

    first = gh.get_file_content(INSTALLATION, REPO, ".github/codeloop.yml")
    second = gh.get_file_content(INSTALLATION, REPO, ".github/codeloop.yml")
    repo.commit_files("main", {".github/codeloop.yml": "iterations: 5\n"})
    third = gh.get_file_content(INSTALLATION, REPO, ".github/codeloop.yml")

    assert (first, second, third) == ("iterations: 2\n", "iterations: 2\n", "iterations: 5\n")
    calls = github_fake.calls_to("GET", path)
    assert [call.status for call in calls] == [200, 304, 200]
    assert "if-none-match" not in calls[0].headers
    assert calls[1].headers["if-none-match"] == calls[2].headers["if-none-match"]


def test_json_reads_are_conditional_too(github_fake: GitHubFake, repo: FakeRepo):
    first = gh.get_repository(INSTALLATION, REPO)
    second = gh.get_repository(INSTALLATION, REPO)

    assert first == second
    assert statuses(github_fake, "GET", REPO_PATH) == [200, 304]
