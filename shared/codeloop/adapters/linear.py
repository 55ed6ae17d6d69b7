"""Linear's GraphQL API (``LINEAR_API_URL``, default https://api.linear.app/graphql): every query
and mutation codeloop sends, typed, in this one module.

Linear answers a spent rate limit with HTTP 400 and the error extension code ``RATELIMITED``, or
with 429. A call is repeated after the advised wait when that is short (``MAX_RATE_WAIT_SECONDS``
in all, so a Lambda never idles long); otherwise it fails with :class:`LinearRateLimited`
saying when Linear will take calls again. Every other failure is a :class:`LinearError`.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from codeloop.settings import get_settings

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_RATE_WAIT_SECONDS = 5.0
DEFAULT_RATE_WAIT_SECONDS = 60.0


class LinearError(RuntimeError):
    """Linear refused a call or could not be reached; the message says which call and why."""


class LinearRateLimited(LinearError):
    def __init__(self, what: str, retry_after: float):
        super().__init__(f"{what}: Linear's rate limit is spent; it takes calls again in {retry_after:.0f} s")
        self.retry_after = retry_after


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class LinearTeam(_Model):
    id: str
    key: str


class LinearProject(_Model):
    id: str
    name: str


class LinearIssue(_Model):
    id: str
    identifier: str
    number: int
    title: str
    description: str | None = None
    url: str
    team: LinearTeam
    project: LinearProject | None = None


class LinearUser(_Model):
    id: str
    name: str
    email: str | None = None


# -- the documents ------------------------------------------------------------------------------

ISSUE = """
query CodeloopIssue($id: String!) {
  issue(id: $id) {
    id identifier number title description url
    team { id key }
    project { id name }
  }
}"""

COMMENT_CREATE = """
mutation CodeloopCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}"""

COMMENT_UPDATE = """
mutation CodeloopCommentUpdate($id: String!, $input: CommentUpdateInput!) {
  commentUpdate(id: $id, input: $input) { success comment { id } }
}"""

ATTACHMENT_LINK_URL = """
mutation CodeloopAttachPullRequest($issueId: String!, $url: String!, $title: String) {
  attachmentLinkURL(issueId: $issueId, url: $url, title: $title) { success attachment { id } }
}"""

WORKFLOW_STATES = """
query CodeloopWorkflowStates($teamId: ID!, $name: String!) {
  workflowStates(filter: { team: { id: { eq: $teamId } }, name: { eqIgnoreCase: $name } }, first: 5) {
    nodes { id name }
  }
}"""

ISSUE_UPDATE_STATE = """
mutation CodeloopMoveIssue($id: String!, $stateId: String!) {
  issueUpdate(id: $id, input: { stateId: $stateId }) { success }
}"""


# -- the calls ----------------------------------------------------------------------------------


def get_issue(issue_id: str) -> LinearIssue:
    data = _call(ISSUE, {"id": issue_id}, "issue")
    if not data.get("issue"):
        raise LinearError(f"issue {issue_id}: Linear has no such issue")
    return LinearIssue.model_validate(data["issue"])


def create_comment(issue_id: str, body: str) -> str:
    """Comment on an issue; returns the comment's id."""
    data = _call(COMMENT_CREATE, {"input": {"issueId": issue_id, "body": body}}, "commentCreate")
    return _succeeded(data, "commentCreate")["comment"]["id"]


def update_comment(comment_id: str, body: str) -> None:
    _succeeded(
        _call(COMMENT_UPDATE, {"id": comment_id, "input": {"body": body}}, "commentUpdate"), "commentUpdate"
    )


def link_url(issue_id: str, url: str, title: str) -> str:
    """Attach a link (the task's pull request) to an issue; Linear keeps one per URL. Returns its id."""
    data = _call(ATTACHMENT_LINK_URL, {"issueId": issue_id, "url": url, "title": title}, "attachmentLinkURL")
    return _succeeded(data, "attachmentLinkURL")["attachment"]["id"]


def workflow_state_id(team_id: str, name: str) -> str | None:
    """The id of the team's workflow state called ``name`` (case-insensitive), if there is one."""
    nodes = _call(WORKFLOW_STATES, {"teamId": team_id, "name": name}, "workflowStates")["workflowStates"][
        "nodes"
    ]
    return nodes[0]["id"] if nodes else None


def move_issue(issue_id: str, state_id: str) -> None:
    _succeeded(_call(ISSUE_UPDATE_STATE, {"id": issue_id, "stateId": state_id}, "issueUpdate"), "issueUpdate")


# -- transport ----------------------------------------------------------------------------------


class _Response(_Model):
    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


@functools.cache
def _client(key: str) -> httpx.Client:
    # A personal API key goes as it is; an OAuth access token as a Bearer token (both are accepted).
    return httpx.Client(timeout=TIMEOUT, headers={"Authorization": key})


def reset_client() -> None:
    """Forget the cached client (tests point LINEAR_API_URL elsewhere)."""
    _client.cache_clear()


def _call(document: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
    settings = get_settings()
    client = _client(settings.secret("linear_api_key"))
    waited = 0.0
    while True:
        try:
            response = client.post(settings.linear_api_url, json={"query": document, "variables": variables})
        except httpx.TransportError as exc:
            raise LinearError(f"{what}: Linear could not be reached ({type(exc).__name__})") from exc
        answer = _parse(response, what)
        wait = _rate_limit_wait(response, answer)
        if wait is None:
            break
        if waited + wait > MAX_RATE_WAIT_SECONDS:
            raise LinearRateLimited(what, wait)
        time.sleep(wait)
        waited += wait
    if answer.errors or answer.data is None or response.status_code >= 400:
        message = "; ".join(str(error.get("message", error))[:200] for error in answer.errors[:3])
        raise LinearError(f"{what}: Linear answered {response.status_code}: {message or response.text[:200]}")
    return answer.data


def _parse(response: httpx.Response, what: str) -> _Response:
    try:
        return _Response.model_validate(response.json())
    except ValueError:
        if response.status_code in (429, 400):
            return _Response()
        raise LinearError(f"{what}: Linear answered {response.status_code} without JSON") from None


def _rate_limit_wait(response: httpx.Response, answer: _Response) -> float | None:
    """Seconds Linear asks to wait, when the answer is a spent rate limit; else None."""
    limited = response.status_code == 429 or any(
        (error.get("extensions") or {}).get("code") == "RATELIMITED" for error in answer.errors
    )
    if not limited:
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    for header in ("x-ratelimit-requests-reset", "x-ratelimit-complexity-reset"):
        reset = response.headers.get(header)  # epoch milliseconds
        if reset and reset.isdigit():
            return max(int(reset) / 1000 - time.time(), 0.0)
    return DEFAULT_RATE_WAIT_SECONDS


def _succeeded(data: dict[str, Any], field: str) -> dict[str, Any]:
    payload = data.get(field) or {}
    if not payload.get("success"):
        raise LinearError(f"{field}: Linear answered success: false")
    return payload
