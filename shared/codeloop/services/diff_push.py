"""A diff provider's changes pushed as a branch and pull request through the GitHub App.

No clone: the Git Data API writes the blobs, tree and commit (``github.push_branch_with_files``).
A fix attempt pushes on top of the task's branch, so the pull request stays the same one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from codeloop.adapters import github
from codeloop.domain.models import Task
from codeloop.domain.providers import RunResult

SUMMARY_LIMIT = 3000


class PushedChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    branch: str
    head_sha: str
    pr_number: int
    pr_url: str


def branch_for(task: Task) -> str:
    """The task's branch: the one it already has (a fix attempt), else a new one named after it."""
    return task.branch or f"codeloop/task-{str(task.id)[:8]}"


def push_as_pull_request(
    installation_id: int, repo: str, base_branch: str, task: Task, attempt: int, result: RunResult
) -> PushedChange:
    """Commit ``result.changed_files`` on the task's branch and open (or find) its pull request."""
    if not result.changed_files:
        raise ValueError("the run changed no files")
    branch = branch_for(task)
    message = (
        f"{task.title}\n\ncodeloop task {task.id}, attempt {attempt} ({result.provider} run {result.run_id})"
    )
    head_sha = github.push_branch_with_files(
        installation_id, repo, base_branch, branch, result.changed_files, message
    )
    body = "\n\n".join(
        part
        for part in (
            f"codeloop task `{task.id}` (attempt {attempt}), {result.provider} run `{result.run_id}`.",
            (result.summary or "")[:SUMMARY_LIMIT],
        )
        if part
    )
    pull = github.create_pull_request(
        installation_id, repo, head=branch, base=base_branch, title=task.title, body=body
    )
    return PushedChange(branch=branch, head_sha=head_sha, pr_number=pull.number, pr_url=pull.html_url)
