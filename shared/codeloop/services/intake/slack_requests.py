"""A Slack command or button click, on the events queue: the work behind the front's acknowledgement.

The Slack user acts as the GitHub login linked to it (``codeloop link slack``), and the request
goes through the same code as a comment on GitHub
(:func:`codeloop.services.intake.requests.handle_requests`: the permission rule, the rate
limits, the task actions), answering through the command's ``response_url``. The linked login
must see the repository before anything about it is said (even whether the issue exists), and
who may not is told exactly what they would be told of a repository codeloop is not installed on.
The delivery of a linked login that may see the repository takes the repository's installation, so
API keys scoped to it list the delivery.
"""

from __future__ import annotations

from typing import Any

from codeloop.adapters import github, slack
from codeloop.db import identities_store, store
from codeloop.db.pool import transaction
from codeloop.domain.commands import WorkRequest, no_access_text, permission_allows
from codeloop.domain.models import IdentityProvider, Repository, Task
from codeloop.domain.slack import SlackAsk, button_ask, mrkdwn, parse_slack_command, unlinked_text
from codeloop.domain.webhooks import DeliveryEnvelope
from codeloop.services.intake.requests import handle_requests
from codeloop.services.intake.slack import COMMAND_EVENT


def handle_slack_delivery(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> list[str]:
    """Do what a stored Slack command or button click asks; answers go to its ``response_url``."""
    if envelope.event == COMMAND_EVENT:
        user_id, response_url = str(payload.get("user_id") or ""), str(payload.get("response_url") or "")
        ask = parse_slack_command(str(payload.get("text") or ""))
    else:
        user_id = str((payload.get("user") or {}).get("id") or "")
        response_url = str(payload.get("response_url") or "")
        ask = button_ask(payload)
        if ask is None:
            return ["ignored: not a codeloop button"]

    def say(text: str) -> None:
        slack.respond(response_url, mrkdwn(text))

    with transaction() as conn:
        task: Task | None = store.get_task(conn, ask.task_id) if ask.task_id else None
        repository = (
            store.get_repository(conn, task.repository_id) if task else store.get_repository_by_name(conn, ask.repository or "")
        )
        identity = identities_store.get(conn, IdentityProvider.SLACK, user_id)
    if identity is None:
        say(unlinked_text(user_id))
        return ["refused: unlinked Slack user"]
    if ask.task_id and task is None:
        say(f"I know no codeloop task `{ask.task_id}`.")
        return ["no such task"]
    login = identity.github_login
    # As the user wrote it: codeloop's own spelling of a name would tell that it knows the repository.
    named = ask.repository or (repository.full_name if repository else "that repository")
    if repository is None or repository.installation_id is None or not repository.active:
        say(no_access_text(login, named))
        return ["refused: not installed"]
    permission = github.collaborator_permission(repository.installation_id, repository.full_name, login)
    if not permission_allows(permission, "read"):
        say(no_access_text(login, named))
        return ["refused: cannot see the repository"]
    # The delivery named no installation: it joins its repository's now, once the asker may see it
    # (the repository is whatever they typed: no one may put words in another installation's log).
    with transaction() as conn:
        store.place_delivery(conn, envelope.delivery_id, repository)
    request, facts = _work_request(envelope, ask, task, repository, login, say)
    if request is None:
        return ["no such thread"]
    outcomes = handle_requests([request], facts, say=say, permission=permission)
    _tell_what_was_done(outcomes, request, say)
    return outcomes


def _work_request(
    envelope: DeliveryEnvelope, ask: SlackAsk, task: Task | None, repository: Repository, login: str, say: Any
) -> tuple[WorkRequest | None, dict[str, Any]]:
    """The request as if written on the thread by ``login``, and the thread's facts (the issue,
    the repository) that a comment's webhook would carry."""
    assert repository.installation_id is not None
    number = (task.issue_number or task.pr_number) if task else ask.number
    if number is None:
        say("That task is not on an issue or pull request, so I can't act on it from Slack.")
        return None, {}
    try:
        issue = github.get_issue(repository.installation_id, repository.full_name, number)
    except github.GitHubNotFound:
        say(f"There is no issue or pull request {repository.full_name}#{number}.")
        return None, {}
    request = WorkRequest(
        command=ask.command,
        source="slack",
        delivery_id=envelope.delivery_id,
        installation_id=repository.installation_id,
        repository_id=repository.id,
        repository_full_name=repository.full_name,
        number=number,
        is_pull_request="pull_request" in issue,
        requester_login=login,
        requester_is_bot=False,
        task_id=ask.task_id,
    )
    return request, {"issue": issue, "repository": repository.model_dump(mode="json")}


def _tell_what_was_done(outcomes: list[str], request: WorkRequest, say: Any) -> None:
    """On GitHub the task's comment is the answer; in Slack, say what started or stopped."""
    where = f"{request.repository_full_name}#{request.number}"
    for outcome in outcomes:
        verb, _, task_id = outcome.partition(" ")
        done = {"started": "Started", "retry": "Retrying", "cancel": "Cancelled", "validate": "Validating again"}
        if verb in done and task_id:
            say(f"{done[verb]} task `{task_id}` on {where}. Its status comment there stays up to date.")
