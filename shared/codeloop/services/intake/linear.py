"""Requests from Linear: the worker that acts on a delivery ``linear_receiver`` stored.

It asks Linear for the issue, finds the repository the issue's team
(or project) is mapped to and the GitHub login its Linear user is linked to, and then applies
GitHub's rules for that login: the repository permission ``commands.min_permission``, the same
work rate limits, the same commands. Whoever cannot start work is told on the Linear issue: an
unlinked user how to get linked; a linked one the same words whether the repository lacks
codeloop or the login lacks the access (``no_access_text``). The delivery takes the mapped
repository's installation, so API keys scoped to it list the delivery.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from codeloop.adapters import github, linear
from codeloop.db import identities_store, intake_store, linear_store, store
from codeloop.db.pool import transaction
from codeloop.domain.commands import (
    RATE_LIMITED_WORK,
    help_text,
    limit_note_text,
    no_access_text,
    permission_allows,
    unknown_command_text,
)
from codeloop.domain.delivery_log import ReplayRequest
from codeloop.domain.linear import (
    LinearIssueTask,
    LinearMapping,
    LinearRequest,
    acceptance_criteria,
    github_only_text,
    issue_text,
    requests_from_payload,
    unlinked_user_text,
    unmapped_team_text,
)
from codeloop.domain.models import IdentityProvider, NewTask, Repository, Task, TaskSource, TaskType
from codeloop.domain.repo_config import RepoConfig
from codeloop.observability import logger
from codeloop.services.intake import limits as command_limits
from codeloop.services.intake.requests import config_text, over_budget_text, remember_settings, status_text
from codeloop.services.linear.report import comment_on_issue
from codeloop.services.reporting.publisher import publish_task
from codeloop.services.repository_config import load_repo_config
from codeloop.services.tasks import actions as tasks
from codeloop.settings import get_settings

LINEAR_COMMANDS = frozenset({"fix", "retry", "cancel", "status", "help", "unknown"})


# -- the worker -------------------------------------------------------------------------------------


def handle_linear_delivery(
    delivery_id: str, payload: dict[str, Any], replay: ReplayRequest | None
) -> list[str]:
    """Do what one stored Linear delivery asks; a short outcome per request."""
    requests = requests_from_payload(payload)
    if not requests:
        return ["no request"]
    first = requests[0]
    issue = linear.get_issue(first.issue_id)
    with transaction() as conn:
        mapping = linear_store.mapping_for(
            conn,
            issue.team.key,
            issue.project.id if issue.project else None,
            issue.project.name if issue.project else None,
        )
        identity = identities_store.get(conn, IdentityProvider.LINEAR, first.actor_id)
        repository = store.get_repository_by_name(conn, mapping.repository_full_name) if mapping else None
        if repository is not None:  # the delivery named no installation: its repository's is now known
            store.place_delivery(conn, delivery_id, repository)
    if mapping is None:
        comment_on_issue(issue.id, unmapped_team_text(issue.team.key))
        return ["unmapped team"]
    installed = None
    if repository is not None and repository.installation_id is not None and repository.active:
        installed = repository
    login = identity.github_login if identity else _link_by_email(first, installed) if installed else None
    if login is None:
        comment_on_issue(issue.id, unlinked_user_text(first.actor_name, first.actor_id))
        return ["unlinked user"]
    if installed is None:
        comment_on_issue(issue.id, no_access_text(login, mapping.repository_full_name))
        return ["not installed"]
    asker = _Asker(login, installed, mapping, issue)
    key_suffix = f":replay:{replay.id}" if replay is not None and replay.new_task else ""
    return [asker.handle(request, f"{delivery_id}:{request.position}{key_suffix}") for request in requests]


def _link_by_email(request: LinearRequest, repository: Repository) -> str | None:
    """With ``LINEAR_LINK_BY_EMAIL``, the GitHub account that committed to the repository from the
    Linear user's email (GitHub ties a commit to an account only by a verified email of it),
    linked from now on (``linked_by`` email); None when the operator does not allow it or none did."""
    if not get_settings().linear_link_by_email or request.actor_email is None:
        return None
    commits = github.list_commits(
        repository.installation_id or 0, repository.full_name, author=request.actor_email, limit=1
    )
    login = commits[0].author_login if commits else None
    if login is not None:
        with transaction(actor="linear") as conn:
            identities_store.link(conn, IdentityProvider.LINEAR, request.actor_id, login, linked_by="email")
        logger.info("Linear user linked by email", extra={"github_login": login})
    return login


class _Asker:
    """One Linear user asking about one issue, as the GitHub login they are linked to."""

    def __init__(self, login: str, repository: Repository, mapping: LinearMapping, issue: linear.LinearIssue):
        self.login = login
        self.repository = repository
        self.installation = repository.installation_id or 0
        self.mapping = mapping
        self.issue = issue

    @functools.cached_property
    def permission(self) -> str:
        return github.collaborator_permission(self.installation, self.repository.full_name, self.login)

    def reply(self, body: str) -> None:
        comment_on_issue(self.issue.id, body)

    def handle(self, request: LinearRequest, request_key: str) -> str:
        command = request.command
        if not command.starts_work and not self.within_limits("replies"):
            return f"{command.name}: quiet"
        if command.name not in LINEAR_COMMANDS:
            self.reply(github_only_text(command))
            return f"{command.name}: on GitHub"
        if command.name == "help":
            self.reply(help_text())
            return "help"
        if command.name == "unknown":
            self.reply(unknown_command_text(command))
            return "unknown"
        if command.name == "status":
            self.reply(status_text(self.latest_task()))
            return "status"
        config, problem = load_repo_config(self.installation, self.repository.full_name)
        if not permission_allows(self.permission, config.commands.min_permission):
            self.reply(no_access_text(self.login, self.mapping.repository_full_name))
            return "refused"
        if problem is not None:
            self.reply(config_text(config, problem))
            return "refused: config"
        if command.name in RATE_LIMITED_WORK and not self.within_limits("work"):
            return "limited"
        if (refusal := over_budget_text(command.name, self.installation, self.login)) is not None:
            self.reply(refusal)
            return "refused: budget"
        if command.name == "fix":
            return self.start(request, request_key, config)
        task = self.latest_task()
        if task is None:
            self.reply(f"There is no codeloop task on this issue to {command.name}.")
            return f"{command.name}: no task"
        try:
            if command.name == "retry":
                task = tasks.retry(task.id, actor=self.login)
            else:
                task = tasks.cancel(task.id, actor=self.login, reason=f"cancelled by @{self.login} in Linear")
        except tasks.TaskConflict as conflict:
            self.reply(f"I can't {command.name} that: {conflict}.")
            return f"{command.name}: conflict"
        publish_task(str(task.id))
        return f"{command.name} {task.id}"

    def within_limits(self, kind: command_limits.Kind) -> bool:
        """GitHub's command limits for the linked login; over one, a single note until it lifts."""
        now = datetime.now(UTC)
        refusal = command_limits.take(kind, self.login, self.installation, now)
        if refusal is None:
            return True
        with transaction() as conn:
            first_notice = intake_store.claim_limit_notice(conn, self.login, refusal.retry_at, now)
        if first_notice:
            self.reply(limit_note_text(self.login, kind, refusal.scope, refusal.retry_at, now))
        return False

    def latest_task(self) -> Task | None:
        """The issue's latest task in the repository the issue asks work of now. One made before
        the team was mapped elsewhere belongs to a repository whose rule was not asked here."""
        with transaction() as conn:
            linked = linear_store.latest_task_for_issue(conn, self.issue.id)
            task = store.get_task(conn, linked.task_id) if linked and linked.task_id else None
        return task if task is not None and task.repository_id == self.repository.id else None

    def start(self, request: LinearRequest, request_key: str, config: RepoConfig) -> str:
        issue = self.issue
        repository = remember_settings(self.repository.id, config)
        criteria = acceptance_criteria(issue.description)
        instructions = request.command.args.strip()
        new = NewTask(
            repository_id=repository.id,
            title=issue.title[:200] or issue.identifier,
            description=instructions,
            type=TaskType.ISSUE_TO_PR,
            source=TaskSource.LABEL if request.trigger == "label" else TaskSource.COMMENT,
            requested_by=self.login,
            request_key=f"linear:{request_key}",
            base_branch=repository.default_branch,
            # The issue's text is untrusted data; the prompt builder fences it.
            metadata={
                "subject_body": issue_text(issue.description, criteria)[:65_535],
                "instructions": instructions,
                "linear": {"identifier": issue.identifier, "number": issue.number, "url": issue.url},
            },
        )
        linked = LinearIssueTask(
            issue_id=issue.id,
            identifier=issue.identifier,
            url=issue.url,
            team_id=issue.team.id,
            done_state=self.mapping.done_state or config.linear.done_state,
        )
        task = tasks.create_and_start(
            new,
            actor=self.login,
            correlation_id=request_key,
            on_created=lambda conn, created: linear_store.link_task(conn, created.id, linked),
        )
        logger.info("task started from Linear", extra={"task_id": str(task.id), "issue": issue.identifier})
        publish_task(str(task.id))
        return f"started {task.id}"
