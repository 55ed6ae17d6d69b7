"""Prompt inputs built from GitHub's example webhook payloads (tests/fixtures/github/).

Text GitHub would not put in a webhook (a README, a CI log, a diff) is written here, small and
plain, and says so.
"""

from __future__ import annotations

import json
from typing import Any

from codeloop.domain.prompt_context import (
    Commit,
    EarlierAttempt,
    Failure,
    FileText,
    IssueRef,
    PromptInputs,
    PullRequestRef,
    RepositoryInfo,
    ReviewComment,
    TaskSpec,
)
from codeloop.domain.repo_config import RepoConfig, parse_repo_config
from codeloop.domain.validation import Annotation
from tests.fixtures import WEBHOOK_EXAMPLES

REPO_CONFIG_TEXT = """
validation:
  setup: ["bundle install"]
  test: ["bundle exec rake test"]
  timeout_minutes: 15
"""

# Not in any webhook: what the worker would fetch from the repository itself.
README = "# Hello-World\n\nMy first repository on GitHub!\n\n## Usage\n\nRun `ruby hello.rb`.\n"
FILE_TREE = ["README.md", "hello.rb", "test/hello_test.rb", "Gemfile", "Rakefile"]
GEMFILE = 'source "https://rubygems.org"\n\ngem "rake"\ngem "minitest"\n'
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head commit in the pull_request payloads
CI_LOG = (
    "Run bundle exec rake test\n"
    "Started with run options --seed 4242\n"
    "HelloTest#test_greeting [test/hello_test.rb:6]:\n"
    'Expected: "Hello, World"\n'
    '  Actual: "Hello World"\n'
    "1 runs, 1 assertions, 1 failures, 0 errors, 0 skips\n"
)


def payload(event: str, name: str) -> dict[str, Any]:
    return json.loads((WEBHOOK_EXAMPLES / event / name).read_text())


def repo_config() -> RepoConfig:
    return parse_repo_config(REPO_CONFIG_TEXT)


def repository_of(event: dict[str, Any]) -> RepositoryInfo:
    repo = event["repository"]
    return RepositoryInfo(
        full_name=repo["full_name"],
        default_branch=repo["default_branch"],
        description=repo["description"],
        html_url=repo["html_url"],
        languages={repo["language"]: 1} if repo.get("language") else {},
    )


def issue_of(event: dict[str, Any]) -> IssueRef:
    issue = event["issue"]
    return IssueRef(
        number=issue["number"],
        title=issue["title"],
        body=issue["body"],
        url=issue["html_url"],
        author=issue["user"]["login"],
    )


def pull_request_of(event: dict[str, Any]) -> PullRequestRef:
    pr = event["pull_request"]
    return PullRequestRef(
        number=pr["number"],
        title=pr["title"],
        body=pr["body"],
        url=pr["html_url"],
        head_branch=pr["head"]["ref"],
        base_branch=pr["base"]["ref"],
        head_sha=pr["head"]["sha"],
        author=pr["user"]["login"],
    )


def review_comment_of(event: dict[str, Any]) -> ReviewComment:
    comment = event["comment"]
    return ReviewComment(
        author=comment["user"]["login"],
        body=comment["body"],
        path=comment["path"],
        line=comment["line"],
        diff_hunk=comment["diff_hunk"],
        url=comment["html_url"],
    )


def _repository_context(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "repository": repository_of(event),
        "readme": README,
        "file_tree": FILE_TREE,
        "manifests": [FileText(path="Gemfile", content=GEMFILE)],
        "commits": [
            Commit(sha=HEAD_SHA, message="Update README.md\n\nNew information.", author="Codertocat")
        ],
    }


def issue_task(task_type: str, complexity: int = 2) -> PromptInputs:
    """A task asked for in a comment on an issue (issue_comment.created)."""
    event = payload("issue_comment", "created.payload.json")
    comment = event["comment"]
    task = TaskSpec(
        type=task_type,  # type: ignore[arg-type]
        complexity=complexity,
        request=comment["body"],
        requested_by=comment["user"]["login"],
        issue=issue_of(event),
        acceptance_criteria=["The README spells 'commit' correctly."],
        paths_in_scope=["README.md"],
    )
    return PromptInputs(task=task, **_repository_context(event))


def labelled_issue_task() -> PromptInputs:
    """An issue handed over whole (issues.opened, then labelled for codeloop)."""
    event = payload("issues", "opened.payload.json")
    task = TaskSpec(type="issue_to_pr", request="Resolve this issue.", issue=issue_of(event))
    return PromptInputs(task=task, **_repository_context(event))


def pull_request_task(task_type: str) -> PromptInputs:
    """A task on an open pull request (pull_request.opened), with its diff in the context."""
    event = payload("pull_request", "opened.payload.json")
    review = payload("pull_request_review_comment", "created.payload.json")
    task = TaskSpec(
        type=task_type,  # type: ignore[arg-type]
        request="Please take care of this pull request.",
        requested_by=event["sender"]["login"],
        pull_request=pull_request_of(event),
    )
    diff = (
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
        f"{review['comment']['diff_hunk']}\n+# Hello World\n"
    )
    return PromptInputs(
        task=task, diff=diff, files=[FileText(path="README.md", content=README)], **_repository_context(event)
    )


def failing_checks_task() -> PromptInputs:
    """The fix round after validation failed on the pull request (check_run.completed names the check)."""
    base = pull_request_task("fix_failing_checks")
    check = payload("check_run", "completed.payload.json")["check_run"]
    return base.model_copy(
        update={
            "task": base.task.model_copy(update={"attempt": 2, "request": "Make the checks pass."}),
            "failures": [
                Failure(source="command bundle exec rake test", exit_code=1, output=CI_LOG),
                Failure(
                    source=f"check run {check['name']}",
                    output=f"conclusion: failure (head {check['head_sha'][:10]})",
                ),
            ],
            "annotations": [
                Annotation(
                    path="test/hello_test.rb",
                    start_line=6,
                    end_line=6,
                    annotation_level="failure",
                    title="HelloTest#test_greeting",
                    message='Expected: "Hello, World", Actual: "Hello World"',
                )
            ],
            "attempts": [
                EarlierAttempt(
                    number=1,
                    outcome="validation failed",
                    summary="1 test failed.",
                    pull_request_url=check["html_url"],
                )
            ],
        }
    )


def review_feedback_task() -> PromptInputs:
    """Review comments to address (pull_request_review_comment.created)."""
    base = pull_request_task("review_feedback")
    review = payload("pull_request_review_comment", "created.payload.json")
    return base.model_copy(
        update={
            "task": base.task.model_copy(update={"request": "Address the review comments."}),
            "review_comments": [review_comment_of(review)],
        }
    )


def fixture_tasks() -> dict[str, PromptInputs]:
    """One task per ship template, keyed by the template it should select."""
    return {
        "feature": issue_task("feature"),
        "feature_large": issue_task("feature", complexity=5),
        "bug_fix": issue_task("bug_fix"),
        "refactor": pull_request_task("refactor"),
        "tests": pull_request_task("tests"),
        "docs": issue_task("docs"),
        "fix_failing_checks": failing_checks_task(),
        "review_feedback": review_feedback_task(),
        "issue_to_pr": labelled_issue_task(),
    }
