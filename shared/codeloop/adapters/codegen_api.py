"""The Codegen API as a code-generation provider (its published description: tests/fixtures/codegen-api/openapi3.json).

Runs are created with codeloop's task id and attempt in their metadata, so a create whose
outcome is unknown (a timeout after the request was sent) is reconciled with ``find_run``
before anything is retried. The agent opens its own pull requests; ``get_run`` reports them.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from codeloop.adapters.provider_http import DEFAULT_TIMEOUT, request_json
from codeloop.domain.providers import (
    FinalError,
    OpenedPullRequest,
    RunRepository,
    RunRequest,
    RunResult,
    RunStatus,
    normalise_status,
)

PAGE_SIZE = 100  # the most the list endpoints allow
REPO_PAGES_MAX = 20


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _GithubPullRequest(_Lenient):
    id: int | None = None
    title: str | None = None
    url: str | None = None
    head_branch_name: str | None = None


class _AgentRun(_Lenient):
    """AgentRunResponse in the OpenAPI description."""

    id: int
    status: str | None = None
    web_url: str | None = None
    result: str | None = None
    summary: str | None = None
    github_pull_requests: list[_GithubPullRequest] | None = None
    metadata: dict[str, Any] | None = None


class _Repo(_Lenient):
    id: int
    full_name: str
    github_id: str | None = None


class CodegenApiProvider:
    name = "codegen"
    opens_pull_requests = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        org_id: int,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        model: str | None = None,
        find_run_pages: int = 3,
    ):
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._org_id = org_id
        self._timeout = timeout
        self._model = model
        self._find_run_pages = find_run_pages
        self._client: httpx.Client | None = None
        self._repo_ids: dict[str, int] = {}

    @classmethod
    def from_settings(cls) -> CodegenApiProvider:
        from codeloop.settings import get_settings

        settings = get_settings()
        return cls(
            base_url=settings.codegen_api_url,
            api_key=settings.secret("codegen_api_key"),
            org_id=int(settings.require("codegen_org_id")),  # type: ignore[call-overload]
        )

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=f"{self._base_url}/v1/organizations/{self._org_id}",
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
                timeout=self._timeout,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self.name, self._http, method, path, **kwargs)

    # -- the provider interface ---------------------------------------------------------------

    def create_run(self, request: RunRequest) -> RunResult:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "metadata": request.run_metadata(),
            "repo_id": self.repo_id_for(request.repository),
        }
        if self._model:
            body["model"] = self._model
        return self._result(self._call("POST", "/agent/run", json=body, creates=True))

    def get_run(self, run_id: str) -> RunResult:
        return self._result(self._call("GET", f"/agent/run/{int(run_id)}"))

    def resume_run(self, run_id: str, request: RunRequest) -> RunResult:
        body = {"agent_run_id": int(run_id), "prompt": request.prompt}
        return self._result(self._call("POST", "/agent/run/resume", json=body, creates=True))

    def find_run(self, task_id: str, attempt: int) -> RunResult | None:
        """The newest run whose metadata names this task and attempt, among the latest pages.

        The list endpoint cannot filter on metadata; it returns runs newest first, and the run
        being reconciled was created moments ago, so a few pages suffice.
        """
        for page in range(self._find_run_pages):
            body = self._call("GET", "/agent/runs", params={"skip": page * PAGE_SIZE, "limit": PAGE_SIZE})
            items = body.get("items") or []
            for item in items:
                result = self._result(item)
                if result.matches(task_id, attempt):
                    return result
            if len(items) < PAGE_SIZE:
                return None
        return None

    def stop_check_fixes(self, run_id: str) -> None:
        """Stop Codegen's own check-suite auto-fixer on the run's pull request (docs/codegen.md).

        The API's "ban all checks": the PR's future check-suite events are ignored and the agents
        still working on it are stopped, so call it once the run has finished.
        """
        self._call("POST", "/agent/run/ban", json={"agent_run_id": int(run_id)})

    # -- repositories -------------------------------------------------------------------------

    def repo_id_for(self, repository: RunRepository) -> int:
        """Codegen's id for a GitHub repository (its own numbering), looked up once and cached."""
        if repository.codegen_repo_id is not None:
            return repository.codegen_repo_id
        key = repository.full_name.lower()
        if key not in self._repo_ids:
            self._load_repo_ids(repository)
        if key not in self._repo_ids:
            raise FinalError(
                self.name,
                f"repository {repository.full_name} is not connected to Codegen organization {self._org_id}",
            )
        return self._repo_ids[key]

    def _load_repo_ids(self, wanted: RunRepository) -> None:
        for page in range(REPO_PAGES_MAX):
            body = self._call("GET", "/repos", params={"skip": page * PAGE_SIZE, "limit": PAGE_SIZE})
            items = [_Repo.model_validate(item) for item in body.get("items") or []]
            for repo in items:
                self._repo_ids[repo.full_name.lower()] = repo.id
                if wanted.github_id is not None and repo.github_id == str(wanted.github_id):
                    self._repo_ids[wanted.full_name.lower()] = repo.id
            if wanted.full_name.lower() in self._repo_ids or len(items) < PAGE_SIZE:
                return

    # -- answers ------------------------------------------------------------------------------

    def _result(self, body: Any) -> RunResult:
        try:
            run = _AgentRun.model_validate(body)
        except ValueError as exc:
            raise FinalError(self.name, f"unexpected agent run shape: {str(exc)[:300]}") from exc
        status = normalise_status(run.status)
        return RunResult(
            provider=self.name,
            run_id=str(run.id),
            status=status,
            raw_status=run.status,
            web_url=run.web_url,
            pull_requests=tuple(
                OpenedPullRequest(id=pr.id, url=pr.url, title=pr.title, head_branch=pr.head_branch_name)
                for pr in run.github_pull_requests or ()
            ),
            summary=run.summary or run.result,
            error=(run.result or run.summary or run.status) if status is RunStatus.FAILED else None,
            metadata=run.metadata or {},
        )


@functools.cache
def get_codegen_provider() -> CodegenApiProvider:
    """The process's provider, built from settings at first use and reused while warm."""
    return CodegenApiProvider.from_settings()
