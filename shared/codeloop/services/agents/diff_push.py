"""A diff provider's changes pushed as a branch and pull request through the GitHub App.

No clone: the Git Data API writes the blobs, tree and commit (``github.push_branch_with_files``).
codeloop pushes only to a branch it saw its agent create (``agent_branches``): a fix attempt
goes on top of the task's branch when it is one, so the pull request stays the same one;
otherwise codeloop creates a new branch of its own, and refuses one that already exists.
Paths are checked again here, whichever provider produced them, against the repository's tree:
nothing is written at or below a symlink or submodule, and executables stay executable.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from codeloop.adapters import github
from codeloop.db import dispatch_store
from codeloop.db.pool import transaction
from codeloop.domain.diffs import DiffRefused, PatchRules, path_refusal, push_mode, push_refusal
from codeloop.domain.linear import linear_reference
from codeloop.domain.models import Task
from codeloop.domain.providers import RunResult
from codeloop.settings import get_settings

SUMMARY_LIMIT = 3000
CREATED_BY = "codeloop"


class PushedChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    branch: str
    head_sha: str
    pr_number: int
    pr_url: str


def branch_for(task: Task, agent_branches: Sequence[str]) -> tuple[str, bool]:
    """The branch to push to, and whether it is one the agent already created.

    The task's branch when the agent created it (a fix attempt), else codeloop's own new one.
    """
    if task.branch and task.branch in agent_branches:
        return task.branch, True
    own = f"codeloop/task-{str(task.id)[:8]}"
    return own, own in agent_branches


def push_as_pull_request(
    installation_id: int,
    repo: str,
    base_branch: str,
    task: Task,
    attempt: int,
    result: RunResult,
    protected_paths: Sequence[str] = (),
) -> PushedChange:
    """Commit ``result.changed_files`` on the task's branch and open (or find) its pull request.

    Raises ``DiffRefused`` (naming the path and the rule) before anything is written.
    """
    if not result.changed_files:
        raise ValueError("the run changed no files")
    settings = get_settings()
    _check_paths(
        result.changed_files,
        PatchRules(tuple(protected_paths), settings.diff_max_files, settings.diff_max_bytes),
    )
    with transaction() as conn:
        branch, exists = branch_for(task, dispatch_store.agent_branches(conn, task.id))
    existing_modes = _tree_modes(installation_id, repo, branch if exists else base_branch)
    for path in result.changed_files:
        if reason := push_refusal(path, existing_modes):
            raise DiffRefused(path, reason)
    modes = {
        path: push_mode(path, result.file_modes, existing_modes)
        for path, content in result.changed_files.items()
        if content is not None
    }
    message = (
        f"{task.title}\n\ncodeloop task {task.id}, attempt {attempt} ({result.provider} run {result.run_id})"
    )
    head_sha = github.push_branch_with_files(
        installation_id,
        repo,
        base_branch,
        branch,
        result.changed_files,
        message,
        modes=modes,
        new_branch=not exists,
    )
    with transaction() as conn:
        dispatch_store.record_agent_branches(
            conn, task.id, [branch], created_by=CREATED_BY, run_id=result.run_id
        )
    body = "\n\n".join(
        part
        for part in (
            f"codeloop task `{task.id}` (attempt {attempt}), {result.provider} run `{result.run_id}`.",
            (result.summary or "")[:SUMMARY_LIMIT],
            linear_reference(task.metadata),
        )
        if part
    )
    pull = github.create_pull_request(
        installation_id, repo, head=branch, base=base_branch, title=task.title, body=body
    )
    return PushedChange(branch=branch, head_sha=head_sha, pr_number=pull.number, pr_url=pull.html_url)


def _check_paths(files: dict[str, str | None], rules: PatchRules) -> None:
    if len(files) > rules.max_files:
        raise DiffRefused(
            "(the change)", f"it changes {len(files)} files, more than the {rules.max_files} allowed"
        )
    for path in files:
        if reason := path_refusal(path, rules):
            raise DiffRefused(path, reason)


def _tree_modes(installation_id: int, repo: str, branch: str) -> dict[str, str]:
    """path → mode of every entry at the branch's head (empty when the branch is gone)."""
    head = github.branch_head(installation_id, repo, branch)
    if head is None:
        return {}
    tree = github.get_tree(installation_id, repo, head)
    return {entry.path: entry.mode for entry in tree.entries if entry.mode}
