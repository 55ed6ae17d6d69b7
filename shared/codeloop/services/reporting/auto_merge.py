"""Merge the agent's pull request when its task ends green, as ``auto_merge`` in the config asks.

The decision is domain/auto_merge.py's; this module reads GitHub, makes the one call the decision
allows (GraphQL ``enablePullRequestAutoMerge``, else REST ``PUT .../merge``, each only while the
head is the validated one), and stores the outcome in the task's ``metadata.auto_merge``, from
which the status syncer renders the comment and the check run. A task whose outcome is stored for
its head is not merged twice (a redelivered note finds it there).
"""

from __future__ import annotations

from uuid import UUID

from codeloop.adapters import github
from codeloop.db import dispatch_store, report_store, store
from codeloop.db.pool import transaction
from codeloop.domain.adoption import PullRequestFacts, adoption_refusal
from codeloop.domain.auto_merge import (
    AutoMergeOutcome,
    MergeFacts,
    MergeMethod,
    direct_merge_blocker,
    graphql_method,
    refusal,
    should_try_auto_merge,
)
from codeloop.domain.models import Repository, Task
from codeloop.domain.protected_paths import incomplete_file_list, protected_changes
from codeloop.domain.repo_checks import CheckRunState, others
from codeloop.observability import logger
from codeloop.services.agents.providers import bot_logins
from codeloop.services.repository_config import load_repo_config
from codeloop.settings import get_settings

METADATA_KEY = "auto_merge"


def merge_if_configured(task_id: UUID | str) -> AutoMergeOutcome | None:
    """For a task that just ended green: enable auto-merge or merge, or record why not.

    Returns None when the repository does not ask for auto-merge (nothing is stored).
    """
    with transaction() as conn:
        task = store.require_task(conn, task_id)
        repository = store.get_repository(conn, task.repository_id)
    if repository is None or repository.installation_id is None or not repository.auto_merge:
        return None  # the stored flag spares GitHub calls; the default branch's config has the method
    stored = task.metadata.get(METADATA_KEY)
    if stored and stored.get("head_sha") == task.head_sha:
        return AutoMergeOutcome.model_validate(stored)
    config, problem = load_repo_config(repository.installation_id, repository.full_name)
    method = config.auto_merge_method
    if method is None or problem is not None:
        return None
    if task.pr_number is None:
        outcome = AutoMergeOutcome(action="not_merged", method=method, reason="the task has no pull request")
    else:
        try:
            outcome = _merge(task, repository, method, config.protected_paths)
        except (github.GitHubRateLimited, github.GitHubRetryable):
            raise  # the status note is retried, and this with it
        except github.GitHubError as exc:
            outcome = AutoMergeOutcome(
                action="not_merged",
                method=method,
                pr_number=task.pr_number,
                head_sha=task.head_sha,
                reason=f"GitHub refused a call: {exc}",
            )
    logger.info("auto-merge", extra={"task_id": str(task.id), "outcome": outcome.model_dump()})
    with transaction(actor="auto_merge") as conn:
        store.update_task(conn, task.id, metadata={METADATA_KEY: outcome.model_dump(mode="json")})
    return outcome


def _merge(
    task: Task, repository: Repository, method: MergeMethod, repo_patterns: list[str]
) -> AutoMergeOutcome:
    assert task.pr_number is not None and repository.installation_id is not None
    installation, repo = repository.installation_id, repository.full_name
    facts, node_id = _facts(task, installation, repo, repo_patterns)

    def outcome(action: str, reason: str | None = None) -> AutoMergeOutcome:
        return AutoMergeOutcome.model_validate(
            {
                "action": action,
                "method": method,
                "pr_number": facts.number,
                "head_sha": facts.validated_sha,
                "reason": reason,
            }
        )

    refused = refusal(facts)
    if refused:
        return outcome("not_merged", refused)
    why_not_auto = "the repository does not allow auto-merge"
    if should_try_auto_merge(facts):
        try:
            github.enable_auto_merge(
                installation, repo, node_id, graphql_method(method), sha=str(facts.validated_sha)
            )
            return outcome("auto_merge_enabled")
        except github.GraphQLRefused as exc:
            why_not_auto = f"GitHub declined auto-merge ({exc})"
    blocker = direct_merge_blocker(facts)
    if blocker:
        return outcome("not_merged", f"{why_not_auto}, and {blocker}")
    try:
        github.merge_pull_request(
            installation, repo, facts.number, sha=str(facts.validated_sha), method=method
        )
    except github.GitHubError as exc:
        if exc.status in (405, 409, 422):  # not mergeable, head moved, or a rule GitHub enforces
            return outcome("not_merged", f"{why_not_auto}, and GitHub refused the merge: {_message(exc)}")
        raise
    return outcome("merged")


# What GitHub's pull request says that the merge decision reads as it is.
_PULL_FACTS = {"number", "state", "merged", "draft", "head_sha", "mergeable", "mergeable_state"}


def _facts(task: Task, installation: int, repo: str, repo_patterns: list[str]) -> tuple[MergeFacts, str]:
    assert task.pr_number is not None
    pull = github.get_merge_state(installation, repo, task.pr_number)
    files = github.list_pull_request_files(installation, repo, task.pr_number)
    changed = {path for file in files for path in (file.filename, file.previous_filename) if path}
    own_app = get_settings().github_app_slug
    checks = [
        CheckRunState(name=run.name, app=run.app_slug, status=run.status, conclusion=run.conclusion)
        for run in github.list_check_runs(installation, repo, pull.head_sha)
    ]
    is_fork = pull.head_repo_full_name is None or pull.head_repo_full_name.lower() != repo.lower()
    facts = MergeFacts(
        **pull.model_dump(include=_PULL_FACTS),
        validated_sha=_validated_head(task),
        is_fork=is_fork,
        not_own_reason=_not_own_reason(task, repo, pull),
        protected_changes=protected_changes(changed, repo_patterns),
        incomplete_file_list=incomplete_file_list(len(files), pull.changed_files),
        checks=others(checks, own_app),
        allow_auto_merge=github.repository_allows_auto_merge(installation, repo),
    )
    return facts, pull.node_id


def _validated_head(task: Task) -> str | None:
    """The head commit of the task's last passed validation: the only commit codeloop may merge."""
    with transaction() as conn:
        validations = report_store.validations(conn, task.id)
    passed = [validation.head_sha for validation in validations if validation.status == "passed"]
    return passed[-1] if passed else None


def _not_own_reason(task: Task, repo: str, pull: github.MergeState) -> str | None:
    """The adoption rule again, at merge time: a branch the agent created, in the repository, by its bot."""
    with transaction() as conn:
        branches = dispatch_store.agent_branches(conn, task.id)
        providers = {run.provider for run in report_store.agent_runs(conn, task.id)}
    logins = sorted({login for provider in providers for login in bot_logins(provider)})
    facts = PullRequestFacts(
        repository=repo,
        number=pull.number,
        head_branch=pull.head_ref,
        head_repository=pull.head_repo_full_name,
        author=pull.user_login,
    )
    return adoption_refusal(facts, agent_branches=branches, bot_logins=logins)


def _message(exc: github.GitHubError) -> str:
    """GitHub's message without the method and path prefix the adapter adds."""
    return str(exc).split(": ", 1)[-1]
