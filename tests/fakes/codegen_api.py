"""An HTTP fake of the Codegen API, speaking the shapes of its published description
(tests.fixtures.CODEGEN_API_DESCRIPTION).

Implements: create, get, list and resume agent runs, and list repositories, under
``/v1/organizations/{org_id}``, with Bearer authentication. Tests drive runs forward with
``set_status`` / ``complete_run`` / ``attach_pull_request`` and inject failures with
``fail_next`` (see ``RecordingServer``); ``fail_next(1, "after_handling_hang")`` creates the run
and then never answers, as when a create times out after the server received it.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from tests.fakes.recording_http import RecordedCall, RecordingServer, Reply

_RUN = re.compile(r"^/v1/organizations/(\d+)/agent/run/(\d+)$")
_ORG = re.compile(r"^/v1/organizations/(\d+)(/.*)$")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _validation_error(field: str, message: str) -> Reply:
    return Reply(422, {"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]})


class FakeCodegenApi(RecordingServer):
    def __init__(self, *, api_key: str = "test-codegen-key", org_id: int = 42, hang_seconds: float = 10.0):
        super().__init__(hang_seconds=hang_seconds)
        self.api_key = api_key
        self.org_id = org_id
        self.runs: dict[int, dict[str, Any]] = {}
        self.repos: list[dict[str, Any]] = []
        self.banned_runs: set[int] = set()  # runs whose PR's check suites Codegen no longer fixes
        self._run_ids = itertools.count(1000)
        self._repo_ids = itertools.count(500)
        self._pr_ids = itertools.count(9000)

    # -- test controls --------------------------------------------------------------------------

    def add_repo(self, full_name: str, github_id: int) -> int:
        repo_id = next(self._repo_ids)
        _owner, name = full_name.split("/")
        self.repos.append(
            {
                "id": repo_id,
                "name": name,
                "full_name": full_name,
                "description": None,
                "github_id": str(github_id),
                "organization_id": self.org_id,
                "visibility": "private",
                "archived": False,
                "setup_status": "COMPLETE",
                "language": "Python",
            }
        )
        return repo_id

    def add_run(self, *, metadata: dict[str, Any] | None = None, status: str = "ACTIVE") -> int:
        """A run created by someone else (e.g. to fill the list before the one a test looks for)."""
        return self._create({"prompt": "other work", "metadata": metadata}, status=status)["id"]

    def set_status(self, run_id: int, status: str) -> None:
        self.runs[run_id]["status"] = status

    def complete_run(self, run_id: int, *, status: str = "COMPLETE", summary: str = "Done.") -> None:
        self.runs[run_id].update(status=status, summary=summary, result=summary)

    def attach_pull_request(self, run_id: int, *, url: str, title: str, head_branch: str) -> int:
        pr_id = next(self._pr_ids)
        self.runs[run_id]["github_pull_requests"].append(
            {"id": pr_id, "title": title, "url": url, "created_at": _now(), "head_branch_name": head_branch}
        )
        return pr_id

    # -- the API ----------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any], *, status: str = "queued") -> dict[str, Any]:
        run_id = next(self._run_ids)
        run = {
            "id": run_id,
            "organization_id": self.org_id,
            "status": status,
            "created_at": _now(),
            "web_url": f"https://codegen.com/agent/trace/{run_id}",
            "result": None,
            "summary": None,
            "source_type": "API",
            "github_pull_requests": [],
            "metadata": body.get("metadata"),
            "prompt": body["prompt"],  # not in the response shape; kept for tests
            "repo_id": body.get("repo_id"),
        }
        self.runs[run_id] = run
        return run

    def _public(self, run: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in run.items() if key not in ("prompt", "repo_id")}

    def route(self, call: RecordedCall) -> Reply:
        if call.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(403, {"message": "Invalid API token.", "status_code": 403})
        org = _ORG.match(call.path)
        if org is None:
            return Reply(404, {"detail": "Not Found"})
        if int(org.group(1)) != self.org_id:
            return Reply(403, {"message": "You do not have access to this organization.", "status_code": 403})
        rest = org.group(2)
        if call.method == "POST" and rest == "/agent/run":
            return self._post_run(call.body)
        if call.method == "POST" and rest == "/agent/run/resume":
            return self._resume(call.body)
        if call.method == "POST" and rest == "/agent/run/ban":
            return self._ban(call.body)
        if call.method == "GET" and rest == "/agent/runs":
            return self._page(list(reversed(self.runs.values())), call.query)
        if call.method == "GET" and rest == "/repos":
            return self._page(self.repos, call.query)
        run = _RUN.match(call.path)
        if call.method == "GET" and run is not None:
            found = self.runs.get(int(run.group(2)))
            if found is None:
                return Reply(404, {"message": "Agent run not found.", "status_code": 404})
            return Reply(200, self._public(found))
        return Reply(404, {"detail": "Not Found"})

    def _post_run(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _validation_error("prompt", "Field required")
        if body.get("repo_id") is not None and body["repo_id"] not in {repo["id"] for repo in self.repos}:
            return Reply(404, {"message": "No repos found in the organization.", "status_code": 404})
        return Reply(200, self._public(self._create(body)))

    def _resume(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _validation_error("prompt", "Field required")
        run = self.runs.get(body.get("agent_run_id"))
        if run is None:
            return Reply(404, {"message": "Agent run not found.", "status_code": 404})
        run.update(status="ACTIVE", prompt=body["prompt"])
        return Reply(200, self._public(run))

    def _ban(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("agent_run_id"), int):
            return _validation_error("agent_run_id", "Field required")
        if body["agent_run_id"] not in self.runs:
            return Reply(404, {"message": "Agent run not found.", "status_code": 404})
        self.banned_runs.add(body["agent_run_id"])
        return Reply(200, {"message": "ok"})

    def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> Reply:
        skip = int(query.get("skip", ["0"])[0])
        limit = int(query.get("limit", ["100"])[0])
        if limit < 1 or limit > 100 or skip < 0:
            return _validation_error("limit", "out of range")
        window = [self._public(item) if "prompt" in item else item for item in items[skip : skip + limit]]
        return Reply(
            200,
            {
                "items": window,
                "total": len(items),
                "page": skip // limit + 1,
                "size": limit,
                "pages": (len(items) + limit - 1) // limit,
            },
        )
