"""Act on what a person asked: a slash-command, the ``codeloop`` label, a check-run button.

Bots never trigger anything (no answer either, so two bots cannot loop). Commands that start
work need the repository permission ``commands.min_permission`` of ``.github/codeloop.yml``
(default write); others get a short, polite refusal. A comment's commands are acknowledged
with one 👀 reaction, before the first answer or work. Who has no repository permission gets at
most one reply per comment; commands that start work and replies are rate limited per user and
per installation (``services/intake/limits.py``), and a user over a limit is told once when to
try again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from codeloop.adapters import github
from codeloop.db import intake_store, store
from codeloop.db.pool import transaction
from codeloop.domain import costs
from codeloop.domain.commands import (
    PREFIX,
    RATE_LIMITED_WORK,
    WorkRequest,
    decide,
    fork_refusal_text,
    from_fork,
    help_text,
    is_stranger,
    limit_note_text,
    no_access_text,
    permission_allows,
    refusal_text,
    trusted_reviewers,
    unknown_command_text,
)
from codeloop.domain.models import NewTask, Repository, RepositoryRef, Task, TaskSource, TaskType
from codeloop.domain.repo_config import CONFIG_PATH, ConfigProblem, RepoConfig
from codeloop.observability import logger
from codeloop.services.costs import budgets
from codeloop.services.intake import limits as command_limits
from codeloop.services.reporting.publisher import publish_task
from codeloop.services.repository_config import load_repo_config
from codeloop.services.tasks import actions as tasks


def config_text(config: RepoConfig, problem: ConfigProblem | None) -> str:
    if problem is not None:
        lines = "\n".join(f"- {item}" for item in problem.problems)
        return f"`{CONFIG_PATH}` has problems, so I won't start work here until they are fixed:\n\n{lines}"
    shown = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    return f"The effective `{CONFIG_PATH}` (defaults filled in):\n\n```yaml\n{shown}```"


def status_text(task: Task | None) -> str:
    if task is None:
        return f"No codeloop task here yet. `{PREFIX} fix` starts one."
    lines = [f"Task `{task.id}`: **{task.status}** (attempt {task.attempt})."]
    if task.pr_url:
        lines.append(f"Pull request: {task.pr_url}")
    if task.error_log:
        lines.append(f"Last error: {task.error_log[-1].get('error')}")
    return "\n".join(lines)


def _remember_repository(request: WorkRequest, payload: dict[str, Any], config: RepoConfig) -> Repository:
    data = payload.get("repository") or {}
    ref = RepositoryRef(
        id=request.repository_id or data["id"],
        full_name=request.repository_full_name,
        default_branch=data.get("default_branch"),
        private=bool(data.get("private")),
    )
    with transaction() as conn:
        store.ensure_installation(conn, request.installation_id, ref.full_name.split("/")[0])
        store.upsert_repository(conn, ref, request.installation_id)
    return remember_settings(ref.id, config)


def remember_settings(repository_id: int, config: RepoConfig) -> Repository:
    """Store what the workflow reads of ``.github/codeloop.yml`` as the task starts."""
    with transaction() as conn:
        return store.update_repository_settings(
            conn,
            repository_id,
            setup_commands=config.validation.setup,
            test_commands=config.validation.test,
            deploy_commands=config.validation.deploy,
            auto_merge=config.auto_merge_method is not None,
            iteration_budget=config.iterations,
        )


def _new_task(
    request: WorkRequest,
    payload: dict[str, Any],
    repository: Repository,
    *,
    reviewers: list[str],
    from_fork: bool,
) -> NewTask:
    """A fix on a pull request is review feedback when asked in a review comment, or when the pull
    request has unresolved review threads opened by ``reviewers`` (the only threads its prompt
    gives as things to address); otherwise a bug fix (an issue: issue to PR)."""
    subject = payload.get("issue") or payload.get("pull_request") or {}
    title = str(subject.get("title") or f"#{request.number}")[:200]
    instructions = request.command.args.strip()
    metadata: dict[str, Any] = {
        "subject_body": str(subject.get("body") or "")[:65_535],
        "instructions": instructions,
    }
    if request.is_pull_request:
        metadata |= {"trusted_reviewers": reviewers, "from_fork": from_fork}
    return NewTask(
        repository_id=repository.id,
        title=title,
        # The subject's text is untrusted data; the prompt builder fences it.
        description=instructions,
        type=TaskType.REVIEW_FEEDBACK
        if request.on_review_comment or reviewers
        else TaskType.BUG_FIX
        if request.is_pull_request
        else TaskType.ISSUE_TO_PR,
        source={"label": TaskSource.LABEL, "slack": TaskSource.SLACK}.get(request.source, TaskSource.COMMENT),
        requested_by=request.requester_login,
        request_key=request.idempotency_key,
        issue_number=request.number,
        comment_id=request.comment_id,
        pr_number=request.number if request.is_pull_request else None,
        base_branch=repository.default_branch,
        metadata=metadata,
    )


def may_start_work(installation_id: int, full_name: str, login: str) -> bool:
    """The rule for commands that start work, for a caller outside a comment (the dashboard): the
    user's role on the repository reaches its ``commands.min_permission``."""
    config, _ = load_repo_config(installation_id, full_name)
    role = github.collaborator_permission(installation_id, full_name, login)
    return permission_allows(role, config.commands.min_permission)


class Conversation:
    """What the requests of one delivery share: who asks, where, with which permission.

    A comment may hold up to ten commands; between them they make one permission lookup per user
    (the requester's, and those of review threads' authors a fix weighs), at most one
    configuration read and one 👀. Someone without repository permission (a stranger) gets
    at most one reply per comment, edits included, and none for an unknown command. A user over
    a rate limit gets one note saying when to try again, and silence after it until then.
    """

    def __init__(
        self,
        request: WorkRequest,
        installation_id: int,
        say: Callable[[str], object] | None = None,
        permission: str | None = None,
    ):
        self.first = request
        self.say = say  # where answers go instead of a comment on the thread (Slack's response_url)
        self.installation = installation_id
        self.repo = request.repository_full_name
        self.login = request.requester_login
        # Roles on the repository by login, each looked up once; the requester's may be known
        # already by the caller (Slack).
        self.permissions: dict[str, str] = {} if permission is None else {self.login: permission}
        self.acknowledged = False
        self.stranger_answered = False
        self.noticed = False

    @property
    def permission(self) -> str:
        return self.permission_of(self.login)

    def permission_of(self, login: str) -> str:
        if login not in self.permissions:
            self.permissions[login] = github.collaborator_permission(self.installation, self.repo, login)
        return self.permissions[login]

    @functools.cached_property
    def config(self) -> tuple[RepoConfig, ConfigProblem | None]:
        return load_repo_config(self.installation, self.repo)

    def acknowledge(self) -> None:
        """👀 on the comment, once, before the first answer or work."""
        if not self.acknowledged and self.first.source == "comment" and self.first.comment_id is not None:
            github.add_reaction_to_comment(
                self.installation,
                self.repo,
                self.first.comment_id,
                "eyes",
                on_review_comment=self.first.on_review_comment,
            )
        self.acknowledged = True

    def may_reply(self, request: WorkRequest) -> bool:
        """Whether ``request`` may be answered: the stranger rule first, then the reply limits."""
        if is_stranger(self.permission):
            if request.command.name == "unknown" or self.stranger_answered:
                return False
            self.stranger_answered = True
            if request.comment_id is not None:
                with transaction() as conn:
                    if not intake_store.claim_comment_reply(conn, request.comment_id):
                        return False
        return self._within("replies")

    def may_work(self) -> bool:
        return self._within("work")

    def answer(self, request: WorkRequest, body: str) -> bool:
        if not self.may_reply(request):
            return False
        self.post(body)
        return True

    def post(self, body: str) -> None:
        if self.say is not None:
            self.say(body)
            return
        self.acknowledge()
        github.create_issue_comment(self.installation, self.repo, self.first.number, body)

    def _within(self, kind: command_limits.Kind) -> bool:
        now = datetime.now(UTC)
        refusal = command_limits.take(kind, self.login, self.installation, now)
        if refusal is None:
            return True
        if not self.noticed:
            self.noticed = True
            with transaction() as conn:
                first_notice = intake_store.claim_limit_notice(conn, self.login, refusal.retry_at, now)
            if first_notice:
                self.post(limit_note_text(self.login, kind, refusal.scope, refusal.retry_at, now))
        return False


def handle_requests(
    requests: list[WorkRequest],
    payload: dict[str, Any],
    say: Callable[[str], object] | None = None,
    permission: str | None = None,
) -> list[str]:
    """Do what one delivery asks; returns a short outcome per request for the logs and the record.

    ``say`` answers somewhere else than the thread (a Slack command's ``response_url``);
    ``permission`` is the requester's role on the repository when the caller knows it already."""
    if not requests:
        return []
    first = requests[0]
    if first.requester_is_bot:
        return ["ignored: bot"] * len(requests)
    if first.installation_id is None:
        return ["ignored: no installation"] * len(requests)
    conversation = Conversation(first, first.installation_id, say, permission)
    return [_handle(request, payload, conversation) for request in requests]


# Commands that lead to agent calls: refused while the installation is over its spending cap.
AGENT_WORK = ("fix", "retry")


def over_budget_text(command: str, installation_id: int, login: str) -> str | None:
    """The one polite refusal of agent work while the installation is over its spending cap (any
    channel: GitHub, Slack, Linear), or None when the command may go on."""
    if command not in AGENT_WORK or (over := budgets.installation_refusal(installation_id)) is None:
        return None
    return costs.refusal_text(over, login)


def _handle(request: WorkRequest, payload: dict[str, Any], talk: Conversation) -> str:
    command = request.command.name
    if request.unsupported_reason:
        return "unsupported" if talk.answer(request, request.unsupported_reason) else "unsupported: quiet"
    if not request.command.starts_work:
        permission = talk.permission if request.source == "slack" else None
        if decide(request, permission, "read") == "refuse":
            talk.answer(request, no_access_text(request.requester_login, request.repository_full_name))
            return f"{command}: refused"
        if not talk.may_reply(request):
            return f"{command}: quiet"
        if command == "help":
            talk.post(help_text())
        elif command == "unknown":
            talk.post(unknown_command_text(request.command))
        elif command == "config":
            talk.post(config_text(*talk.config))
        else:
            talk.post(status_text(_latest_task(request)))
        return command

    config, problem = talk.config
    if decide(request, talk.permission, config.commands.min_permission) == "refuse":
        if request.source == "slack":  # from outside GitHub, the one refusal (see no_access_text)
            talk.answer(request, no_access_text(request.requester_login, request.repository_full_name))
        else:
            talk.answer(request, refusal_text(request.requester_login, config.commands.min_permission))
        return "refused"
    if problem is not None:
        talk.answer(request, config_text(config, problem))
        return "refused: config"
    if command in RATE_LIMITED_WORK and not talk.may_work():
        return "limited"
    if (refusal := over_budget_text(command, talk.installation, request.requester_login)) is not None:
        talk.answer(request, refusal)
        return "refused: budget"
    talk.acknowledge()
    return _start_work(request, payload, config, talk)


def _reviewers(request: WorkRequest, talk: Conversation, min_permission: str) -> list[str]:
    """Who opened the pull request's unresolved review threads and may instruct a fix
    (:func:`~codeloop.domain.commands.trusted_reviewers`), by the first comment of each thread.

    A refused GraphQL read (e.g. the App lost access) is logged, and no thread counts."""
    try:
        threads = github.list_review_threads(talk.installation, request.repository_full_name, request.number)
    except github.GraphQLRefused as refused:
        logger.warning("review threads unreadable", extra={"reason": str(refused)})
        return []
    openers = [
        thread.comments[0].author_login for thread in threads if not thread.is_resolved and thread.comments
    ]
    return trusted_reviewers(openers, talk.permission_of, min_permission)


def _latest_task(request: WorkRequest) -> Task | None:
    """The task a request names, else the latest of its thread."""
    if request.repository_id is None:
        return None
    with transaction() as conn:
        if request.task_id is not None:
            return store.get_task(conn, request.task_id)
        return store.latest_task_for_thread(conn, request.repository_id, request.number)


def _start_work(request: WorkRequest, payload: dict[str, Any], config: RepoConfig, talk: Conversation) -> str:
    """Start, retry, cancel or validate. A fork's pull request gets no agent work (a fix, or a retry
    of a task on one) unless ``validation.forks`` allows running its code: the agent's pull request
    would carry the fork's code onto a branch of this repository, run by its CI with its secrets."""
    actor = request.requester_login
    command = request.command.name

    def reply(body: str) -> None:
        talk.answer(request, body)

    if command == "fix" and request.source == "check_run":
        command = "retry"  # "Fix again" on a task's check run: a new attempt of that task
    if command == "fix":
        pull = (
            github.get_pull_request(talk.installation, request.repository_full_name, request.number)
            if request.is_pull_request
            else None
        )
        forked = pull is not None and from_fork(pull.head_repo_full_name, request.repository_full_name)
        if forked and not config.validation.forks:
            reply(fork_refusal_text(actor))
            return "refused: fork"
        repository = _remember_repository(request, payload, config)
        reviewers = _reviewers(request, talk, config.commands.min_permission) if pull is not None else []
        new = _new_task(request, payload, repository, reviewers=reviewers, from_fork=forked)
        if pull is not None:  # the PR's head is what the first check run reports on
            new = new.model_copy(update={"head_sha": pull.head_sha, "base_branch": pull.base_ref})
        task = tasks.create_and_start(new, actor=actor, correlation_id=request.delivery_id)
        logger.info("task started", extra={"task_id": str(task.id), "command": command})
        publish_task(str(task.id))
        return f"started {task.id}"

    task = _latest_task(request)
    if task is None:
        reply(f"There is no codeloop task here to {command}. `{PREFIX} fix` starts one.")
        return f"{command}: no task"
    if command == "retry" and task.metadata.get("from_fork") and not config.validation.forks:
        reply(fork_refusal_text(actor))
        return "retry: refused: fork"
    try:
        if command == "retry":
            task = tasks.retry(task.id, actor=actor)
        elif command == "cancel":
            task = tasks.cancel(task.id, actor=actor, reason=f"cancelled by @{actor}")
        else:  # validate: the pull request as it is now
            head = None
            if task.pr_number is not None:
                head = github.get_pull_request(
                    request.installation_id, request.repository_full_name, task.pr_number
                ).head_sha
            task = tasks.revalidate(task.id, actor=actor, head_sha=head)
    except tasks.TaskConflict as conflict:
        reply(f"I can't {command} that: {conflict}.")
        return f"{command}: conflict"
    publish_task(str(task.id))
    return f"{command} {task.id}"
