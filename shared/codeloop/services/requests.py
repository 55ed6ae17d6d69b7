"""Act on what a person asked: a slash-command, the ``codeloop`` label, a check-run button.

Bots never trigger anything (no answer either, so two bots cannot loop). Commands that start
work need the repository permission ``commands.min_permission`` of ``.github/codeloop.yml``
(default write); others get a short, polite refusal. A received comment command is
acknowledged at once with a 👀 reaction.
"""

from __future__ import annotations

from typing import Any

import yaml

from codeloop.adapters import github
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.commands import (
    PREFIX,
    WorkRequest,
    decide,
    help_text,
    refusal_text,
    unknown_command_text,
)
from codeloop.domain.models import NewTask, Repository, RepositoryRef, Task, TaskSource, TaskType
from codeloop.domain.repo_config import CONFIG_PATH, ConfigProblem, RepoConfig, parse_repo_config
from codeloop.observability import logger
from codeloop.services import tasks
from codeloop.services.publisher import publish_task


def load_repo_config(installation_id: int, repo: str) -> tuple[RepoConfig, ConfigProblem | None]:
    """The default branch's ``.github/codeloop.yml`` (defaults when absent) and what is wrong with it."""
    text = github.get_file_content(installation_id, repo, CONFIG_PATH)
    try:
        return parse_repo_config(text), None
    except ConfigProblem as problem:
        return RepoConfig(), problem


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
        return store.update_repository_settings(
            conn,
            ref.id,
            setup_commands=config.validation.setup,
            test_commands=config.validation.test,
            auto_merge=config.auto_merge_method is not None,
            iteration_budget=config.iterations,
        )


def _new_task(request: WorkRequest, payload: dict[str, Any], repository: Repository) -> NewTask:
    subject = payload.get("issue") or payload.get("pull_request") or {}
    title = str(subject.get("title") or f"#{request.number}")[:200]
    instructions = request.command.args.strip()
    return NewTask(
        repository_id=repository.id,
        title=title,
        # The subject's text is untrusted data; the prompt builder fences it.
        description=instructions,
        type=TaskType.REVIEW_FEEDBACK
        if request.on_review_comment
        else TaskType.BUG_FIX
        if request.is_pull_request
        else TaskType.ISSUE_TO_PR,
        source=TaskSource.LABEL if request.source == "label" else TaskSource.COMMENT,
        requested_by=request.requester_login,
        request_key=request.idempotency_key,
        issue_number=request.number,
        comment_id=request.comment_id,
        pr_number=request.number if request.is_pull_request else None,
        base_branch=repository.default_branch,
        metadata={"subject_body": str(subject.get("body") or "")[:65_535], "instructions": instructions},
    )


def handle_request(request: WorkRequest, payload: dict[str, Any]) -> str:
    """Do what ``request`` asks; returns a short outcome for the logs and the delivery record."""
    if request.requester_is_bot:
        return "ignored: bot"
    installation, repo = request.installation_id, request.repository_full_name
    if installation is None:
        return "ignored: no installation"

    def reply(body: str) -> None:
        github.create_issue_comment(installation, repo, request.number, body)

    if request.source == "comment" and request.comment_id is not None:
        react = (
            github.add_reaction_to_review_comment
            if request.on_review_comment
            else github.add_reaction_to_comment
        )
        react(installation, repo, request.comment_id, "eyes")
    if request.unsupported_reason:
        reply(request.unsupported_reason)
        return "unsupported"

    config, problem = load_repo_config(installation, repo)
    command = request.command.name
    permission = (
        github.collaborator_permission(installation, repo, request.requester_login)
        if request.command.starts_work
        else None
    )
    if decide(request, permission, config.commands.min_permission) == "refuse":
        reply(refusal_text(request.requester_login, config.commands.min_permission))
        return "refused"

    if command == "help":
        reply(help_text())
        return "help"
    if command == "unknown":
        reply(unknown_command_text(request.command))
        return "unknown"
    if command == "config":
        reply(config_text(config, problem))
        return "config"
    if command == "status":
        reply(status_text(_latest_task(request)))
        return "status"
    if problem is not None:
        reply(config_text(config, problem))
        return "refused: config"
    return _start_work(request, payload, config, reply)


def _latest_task(request: WorkRequest) -> Task | None:
    if request.repository_id is None:
        return None
    with transaction() as conn:
        return store.latest_task_for_thread(conn, request.repository_id, request.number)


def _start_work(request: WorkRequest, payload: dict[str, Any], config: RepoConfig, reply: Any) -> str:
    actor = request.requester_login
    command = request.command.name
    if command == "fix" and request.source == "check_run":
        command = "retry"  # "Fix again" on a task's check run: a new attempt of that task
    if command == "fix":
        repository = _remember_repository(request, payload, config)
        new = _new_task(request, payload, repository)
        if request.is_pull_request:  # the PR's head is what the first check run reports on
            pull = github.get_pull_request(
                request.installation_id, request.repository_full_name, request.number
            )
            new = new.model_copy(update={"head_sha": pull.head_sha, "base_branch": pull.base_ref})
        task = tasks.create_and_start(new, actor=actor, correlation_id=request.delivery_id)
        logger.info("task started", extra={"task_id": str(task.id), "command": command})
        publish_task(str(task.id))
        return f"started {task.id}"

    task = _latest_task(request)
    if task is None:
        reply(f"There is no codeloop task here to {command}. `{PREFIX} fix` starts one.")
        return f"{command}: no task"
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
