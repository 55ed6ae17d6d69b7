"""Merge the agent's pull request when its task ends green, as ``auto_merge`` in the config asks.

The decision is domain/auto_merge.py's; this module reads GitHub, makes the one call the decision
allows (GraphQL ``enablePullRequestAutoMerge``, else REST ``PUT .../merge``, each only while the
head is the validated one), and stores the outcome in the task's ``metadata.auto_merge``, from
which the status syncer renders the comment and the check run. A task whose outcome is stored for
its head is not merged twice (a redelivered note finds it there).

GitHub keeps auto-merge on after later pushes, so a push to a pull request codeloop turned it on
for (``pull_request.synchronize``) turns it off again (GraphQL ``disablePullRequestAutoMerge``)
unless the head is still the validated commit. Turning on and turning off hold one lock per pull
request, so a push that lands while auto-merge is being turned on finds its outcome stored.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from uuid import UUID

from codeloop.adapters import github
from codeloop.db import dispatch_store, report_store, store
from codeloop.db.locks import task_lock
from codeloop.db.pool import transaction
from codeloop.domain.adoption import PullRequestFacts, adoption_refusal
from codeloop.domain.auto_merge import (
    AutoMergeOutcome,
    MergeFacts,
    MergeMethod,
    direct_merge_blocker,
    graphql_method,
    must_turn_off_after_push,
    refusal,
    should_try_auto_merge,
    turned_off_after_push,
)
from codeloop.domain.models import Repository, Task
from codeloop.domain.protected_paths import incomplete_file_list, protected_changes
from codeloop.domain.repo_checks import CheckRunState, others
from codeloop.observability import logger
from codeloop.services.agents.providers import bot_logins
from codeloop.services.reporting.publisher import publish_task
from codeloop.services.repository_config import load_repo_config
from codeloop.settings import get_settings

METADATA_KEY = "auto_merge"
LOCK = "auto_merge"


def _pull_request_lock(repository_id: int, number: int) -> AbstractContextManager[None]:
    """The lock that serializes turning auto-merge on and off for one pull request."""
    return task_lock(LOCK, f"{repository_id}#{number}")


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
        _store(task.id, outcome)
        return outcome
    with _pull_request_lock(repository.id, task.pr_number):
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
        _store(task.id, outcome)
    return outcome


def _store(task_id: UUID, outcome: AutoMergeOutcome) -> None:
    """Keep ``outcome`` as the task's ``metadata.auto_merge``, which the status syncer renders."""
    logger.info("auto-merge", extra={"task_id": str(task_id), "outcome": outcome.model_dump()})
    with transaction(actor="auto_merge") as conn:
        store.update_task(conn, task_id, metadata={METADATA_KEY: outcome.model_dump(mode="json")})


def turn_off_after_push(repository_id: int, number: int, node_id: str, head_sha: str) -> str:
    """A push made ``head_sha`` the head of pull request ``number`` (GraphQL id ``node_id``): turn
    off the auto-merge codeloop turned on for another head, store that on the tasks that turned it
    on, and publish them. Returns what was done (the delivery's outcome).

    The newest of those tasks decides, as its outcome is the last turning on; a redelivered push
    finds none left (their outcome no longer says on).
    """
    with _pull_request_lock(repository_id, number):
        with transaction() as conn:
            tasks = report_store.tasks_with_auto_merge_enabled(conn, repository_id, number)
            repository = store.get_repository(conn, repository_id)
        if not tasks:
            return "auto-merge: not turned on by codeloop"
        if repository is None or repository.installation_id is None:
            return "auto-merge: the repository is not installed"
        enabled = [AutoMergeOutcome.model_validate(task.metadata[METADATA_KEY]) for task in tasks]
        if not must_turn_off_after_push(enabled[0], head_sha):
            return "auto-merge: stays on for the validated head"
        try:
            github.disable_auto_merge(repository.installation_id, repository.full_name, node_id)
            github_refusal = None
        except (github.GitHubRateLimited, github.GitHubRetryable):
            raise  # the delivery is retried, and this with it
        except github.GitHubError as exc:
            github_refusal = str(exc)
        for task, outcome in zip(tasks, enabled, strict=True):
            _store(task.id, turned_off_after_push(outcome, head_sha, github_refusal))
    for task in tasks:
        publish_task(str(task.id))
    return "auto-merge: not turned off, GitHub refused" if github_refusal else "auto-merge: turned off"


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
