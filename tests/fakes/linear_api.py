"""Linear's GraphQL API on loopback, checked against Linear's published schema.

Every request is recorded; its document is parsed and validated with graphql-core against
``tests/fixtures/linear-api/schema.graphql`` (a field, argument or type Linear does not have is
an error, answered as Linear would and kept in ``invalid``), then executed against that schema
with this fake's data as the root value, so the answer has exactly the shape the schema gives it.

:meth:`FakeLinearApi.rate_limit_next` answers the next calls of one operation as Linear does when
a rate limit is spent (HTTP 400, ``extensions.code`` ``RATELIMITED``, the ``X-RateLimit-Requests-*``
headers with the reset in epoch milliseconds); they are recorded, and change nothing.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLSchema, build_schema, execute, parse, validate
from graphql.error import GraphQLError

from tests.fakes.recording_http import RecordedCall, RecordingServer, Reply
from tests.fixtures import LINEAR_SCHEMA


@functools.cache
def linear_schema() -> GraphQLSchema:
    return build_schema(LINEAR_SCHEMA.read_text())


def schema_problems(document: str, variables: dict[str, Any] | None = None) -> list[str]:
    """Why Linear would refuse ``document`` (empty when it is valid against the schema)."""
    try:
        ast = parse(document)
    except GraphQLError as error:
        return [error.message]
    return [error.message for error in validate(linear_schema(), ast)]


class FakeLinearApi(RecordingServer):
    api_key = "lin_api_fake_key"

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}  # id -> {issueId, body, edits}
        self.attachments: dict[tuple[str, str], dict[str, Any]] = {}  # (issue id, url) -> attachment
        self.states: dict[str, list[dict[str, str]]] = {}  # team id -> workflow states
        self.invalid: list[tuple[str, list[str]]] = []
        self._rate_limited: dict[str, list[float]] = {}  # operation -> reset delays of its next calls
        self._data_lock = threading.Lock()

    # -- scripting ----------------------------------------------------------------------------

    def add_issue(self, webhook_data: dict[str, Any], project: dict[str, str] | None = None) -> None:
        """An issue as the API shows it, from the ``data`` of an Issue webhook."""
        self.issues[webhook_data["id"]] = {
            "id": webhook_data["id"],
            "identifier": webhook_data["identifier"],
            "number": webhook_data["number"],
            "title": webhook_data["title"],
            "description": webhook_data.get("description"),
            "url": webhook_data["url"],
            "team": {"id": webhook_data["team"]["id"], "key": webhook_data["team"]["key"]},
            "project": project,
            "state": webhook_data["state"]["name"],
        }
        self.states.setdefault(
            webhook_data["team"]["id"],
            [
                {"id": str(uuid.uuid4()), "name": name}
                for name in ("Todo", "In Progress", "In Review", "Done")
            ],
        )

    def rate_limit_next(self, operation: str, count: int, reset_in_seconds: float) -> None:
        """Refuse the next ``count`` calls of ``operation`` (e.g. commentUpdate) with Linear's spent
        rate limit, the limit resetting ``reset_in_seconds`` after each refusal."""
        with self._data_lock:
            self._rate_limited.setdefault(operation, []).extend([reset_in_seconds] * count)

    def comments_on(self, issue_id: str) -> list[dict[str, Any]]:
        return [comment for comment in self.comments.values() if comment["issueId"] == issue_id]

    def operations(self) -> list[str]:
        """The root fields of every call, in order (e.g. issue, commentCreate, commentUpdate)."""
        names: list[str] = []
        for call in self.calls:
            document = parse(call.body["query"])
            for definition in document.definitions:
                names += [selection.name.value for selection in definition.selection_set.selections]
        return names

    # -- serving ------------------------------------------------------------------------------

    def route(self, call: RecordedCall) -> Reply:
        if call.method != "POST" or call.path != "/graphql":
            return Reply(404, {"errors": [{"message": f"no route {call.method} {call.path}"}]})
        if call.headers.get("authorization") != self.api_key:
            return Reply(
                400,
                {
                    "errors": [
                        {"message": "Authentication required", "extensions": {"code": "AUTHENTICATION_ERROR"}}
                    ]
                },
            )
        body = call.body if isinstance(call.body, dict) else {}
        document, variables = body.get("query") or "", body.get("variables") or {}
        problems = schema_problems(document)
        if problems:
            self.invalid.append((document, problems))
            return Reply(
                400,
                {
                    "errors": [
                        {"message": problem, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
                        for problem in problems
                    ]
                },
            )
        limited = self._rate_limit(document)
        if limited is not None:
            return limited
        with self._data_lock:
            result = execute(
                linear_schema(), parse(document), root_value=_Root(self), variable_values=variables
            )
        if result.errors:
            self.invalid.append((document, [error.message for error in result.errors]))
            return Reply(
                200, {"data": result.data, "errors": [{"message": e.message} for e in result.errors]}
            )
        return Reply(200, {"data": result.data})

    def _rate_limit(self, document: str) -> Reply | None:
        """Linear's answer to a call whose operation is to be refused now (None: answer it)."""
        with self._data_lock:
            for definition in parse(document).definitions:
                for selection in definition.selection_set.selections:
                    delays = self._rate_limited.get(selection.name.value)
                    if delays:
                        reset_ms = int((time.time() + delays.pop(0)) * 1000)
                        return Reply(
                            400,
                            {
                                "errors": [
                                    {
                                        "message": "Rate limit exceeded",
                                        "extensions": {"code": "RATELIMITED", "type": "Ratelimited"},
                                    }
                                ]
                            },
                            headers={
                                "X-RateLimit-Requests-Limit": "1500",
                                "X-RateLimit-Requests-Remaining": "0",
                                "X-RateLimit-Requests-Reset": str(reset_ms),
                            },
                        )
        return None


class _Root:
    """Query and Mutation fields codeloop uses; graphql-core calls them with (info, **arguments)."""

    def __init__(self, fake: FakeLinearApi):
        self.fake = fake

    def issue(self, info: Any, id: str) -> dict[str, Any] | None:
        return self.fake.issues.get(id)

    def commentCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        if input.get("issueId") not in self.fake.issues:
            raise GraphQLError("Entity not found: Issue")
        comment_id = input.get("id") or str(uuid.uuid4())
        self.fake.comments[comment_id] = {
            "id": comment_id,
            "issueId": input["issueId"],
            "body": input.get("body") or "",
            "edits": 0,
        }
        return {"success": True, "lastSyncId": 1.0, "comment": {"id": comment_id}}

    def commentUpdate(self, info: Any, id: str, input: dict[str, Any], **_: Any) -> dict[str, Any]:
        comment = self.fake.comments.get(id)
        if comment is None:
            raise GraphQLError("Entity not found: Comment")
        comment["body"] = input.get("body", comment["body"])
        comment["edits"] += 1
        return {"success": True, "lastSyncId": 2.0, "comment": {"id": id}}

    def attachmentLinkURL(
        self, info: Any, issueId: str, url: str, title: str | None = None, **_: Any
    ) -> dict[str, Any]:
        if issueId not in self.fake.issues:
            raise GraphQLError("Entity not found: Issue")
        known = self.fake.attachments.setdefault((issueId, url), {"id": str(uuid.uuid4()), "url": url})
        known["title"] = title
        return {"success": True, "lastSyncId": 3.0, "attachment": {"id": known["id"]}}

    def workflowStates(self, info: Any, filter: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        filter = filter or {}
        team = ((filter.get("team") or {}).get("id") or {}).get("eq")
        name = ((filter.get("name") or {}).get("eqIgnoreCase") or "").lower()
        states = [
            state
            for team_id, states in self.fake.states.items()
            if team in (None, team_id)
            for state in states
            if not name or state["name"].lower() == name
        ]
        return {"nodes": states, "pageInfo": {"hasNextPage": False, "hasPreviousPage": False}}

    def issueUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        issue = self.fake.issues.get(id)
        if issue is None:
            raise GraphQLError("Entity not found: Issue")
        names = {state["id"]: state["name"] for states in self.fake.states.values() for state in states}
        if "stateId" in input:
            issue["state"] = names[input["stateId"]]
        return {"success": True, "lastSyncId": 4.0}


@contextlib.contextmanager
def linear_fake_environment(monkeypatch: Any) -> Iterator[FakeLinearApi]:
    """The fake, with LINEAR_API_URL, LINEAR_API_KEY and LINEAR_WEBHOOK_SECRET pointing at it;
    at the end, every document codeloop sent must have been valid against Linear's schema."""
    from codeloop.adapters.linear import reset_client
    from codeloop.settings import reset_settings
    from tests.fakes.linear_webhooks import SECRET

    with FakeLinearApi() as fake:
        monkeypatch.setenv("LINEAR_API_URL", f"{fake.url}/graphql")
        monkeypatch.setenv("LINEAR_API_KEY", fake.api_key)
        monkeypatch.setenv("LINEAR_WEBHOOK_SECRET", SECRET)
        reset_settings()
        reset_client()
        yield fake
        reset_client()
    assert fake.invalid == [], "documents Linear's schema refuses"
