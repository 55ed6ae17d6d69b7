"""The fallback provider: any OpenAI-compatible chat-completions endpoint, asked for a unified diff.

It needs no agent service (hosted models and local servers alike). It answers within
``create_run``: the diff is applied to the repository's files as read through ``read_file``,
and the result carries ``changed_files`` for the caller to push as a branch and pull request.
A diff that cannot be used is a failed run (its error names the file and hunk, or the path and
the rule it breaks), which the fix loop treats like any failed attempt.

:class:`OpenAIChat` is the endpoint's one call path: the provider's runs and the validation's
AI review (``services.validation.review``) both go through it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from codeloop.adapters.provider_http import DEFAULT_TIMEOUT, request_json
from codeloop.domain.costs import Charge, Usage, openai_usage
from codeloop.domain.diffs import DiffProblem, PatchRules, apply_unified_diff, extract_diff
from codeloop.domain.providers import FinalError, RunRepository, RunRequest, RunResult, RunStatus

# Reads a file of the repository at ``repository.ref``; None when it does not exist.
FileReader = Callable[[RunRepository, str], str | None]
# Told of every completion's usage, whatever it was asked for (services/costs records it).
UsageSink = Callable[[Charge, Usage], object]

SYSTEM_PROMPT = """\
You change code in the git repository {repository}. Answer with the complete change as ONE \
unified diff in a single ```diff fenced block: paths relative to the repository root with \
a/ and b/ prefixes, '--- /dev/null' for a new file, '+++ /dev/null' for a deleted one, and \
three lines of unchanged context around every change, copied exactly from the file. \
Outside the block, explain the change in at most five sentences."""

SUMMARY_LIMIT = 2000


class OpenAIChat:
    """One OpenAI-compatible chat-completions endpoint: the one path every call to it takes
    (the diff provider's runs and the validation's AI review alike)."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        usage_sink: UsageSink | None = None,
    ):
        self._base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._timeout = timeout
        self._usage_sink = usage_sink
        self._client: httpx.Client | None = None

    @classmethod
    def from_settings(cls, usage_sink: UsageSink | None = None) -> OpenAIChat:
        return cls(**_endpoint_settings(), usage_sink=usage_sink)

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.Client(base_url=self._base_url, headers=headers, timeout=self._timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def complete(self, messages: list[dict[str, str]], charge: Charge, **options: Any) -> Any:
        """The chat completion's answer (JSON) for ``messages`` at temperature 0; its usage goes
        to the sink, charged to ``charge``, so no call escapes the ledger and its telemetry."""
        body = {"model": self.model, "temperature": 0, "messages": messages, **options}
        started = time.monotonic()
        # A chat completion creates nothing remote: repeating it after a timeout is safe.
        answer = request_json(self.name, self._http, "POST", "chat/completions", json=body)
        if self._usage_sink is not None:
            input_tokens, output_tokens = openai_usage(answer)
            answer_id = answer.get("id") if isinstance(answer, dict) else None
            usage = Usage(
                operation="chat",
                provider=self.name,
                model=self.model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                duration_seconds=time.monotonic() - started,
                external_id=str(answer_id) if answer_id else None,
            )
            self._usage_sink(charge, usage)
        return answer


def _endpoint_settings() -> dict[str, Any]:
    from codeloop.settings import get_settings

    settings = get_settings()
    return {
        "base_url": str(settings.require("openai_base_url")),
        "model": settings.openai_model,
        "api_key": settings.optional_secret("openai_api_key"),  # local servers may need none
    }


def first_message(provider: str, answer: Any) -> tuple[str, dict[str, Any]]:
    """The text of a chat completion's first choice, and the choice."""
    try:
        choice = answer["choices"][0]
        return choice["message"]["content"] or "", choice
    except (KeyError, IndexError, TypeError) as exc:
        raise FinalError(provider, "chat completion without choices[0].message.content") from exc


class OpenAICompatProvider:
    name = "openai"
    opens_pull_requests = False

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        read_file: FileReader,
        api_key: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_files: int = PatchRules.max_files,
        max_bytes: int = PatchRules.max_bytes,
        usage_sink: UsageSink | None = None,
    ):
        self._chat = OpenAIChat(
            base_url=base_url, model=model, api_key=api_key, timeout=timeout, usage_sink=usage_sink
        )
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._read_file = read_file

    @classmethod
    def from_settings(cls, read_file: FileReader, usage_sink: UsageSink | None = None) -> OpenAICompatProvider:
        from codeloop.settings import get_settings

        settings = get_settings()
        return cls(
            **_endpoint_settings(),
            read_file=read_file,
            max_files=settings.diff_max_files,
            max_bytes=settings.diff_max_bytes,
            usage_sink=usage_sink,
        )

    def close(self) -> None:
        self._chat.close()

    # -- the provider interface ---------------------------------------------------------------

    def create_run(self, request: RunRequest) -> RunResult:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT.format(repository=request.repository.full_name)},
            {"role": "user", "content": request.prompt},
        ]
        charge = Charge(task_id=request.task_id, attempt=request.attempt, prompt_name=request.prompt_name)
        return self._result(request, self._chat.complete(messages, charge))

    def resume_run(self, run_id: str, request: RunRequest) -> RunResult:
        """A fresh completion: the model keeps no run; the prompt carries the failure to fix."""
        return self.create_run(request)

    def get_run(self, run_id: str) -> RunResult:
        raise FinalError(self.name, f"run {run_id}: this provider answers in create_run and keeps no runs")

    def find_run(self, task_id: str, attempt: int) -> RunResult | None:
        return None

    # -- answers ------------------------------------------------------------------------------

    def _result(self, request: RunRequest, answer: Any) -> RunResult:
        content, choice = first_message(self.name, answer)
        run_id = str(answer.get("id") or uuid.uuid4())
        base = {"provider": self.name, "run_id": run_id, "metadata": request.run_metadata()}
        diff = extract_diff(content)
        if diff is None:
            problem = "the model's answer contains no unified diff"
            if choice.get("finish_reason") == "length":
                problem += " (the answer was cut off at the token limit)"
            return RunResult(**base, status=RunStatus.FAILED, error=problem, summary=content[:SUMMARY_LIMIT])
        rules = PatchRules(request.protected_paths, self._max_files, self._max_bytes)
        try:
            applied = apply_unified_diff(diff, lambda path: self._read_file(request.repository, path), rules)
        except DiffProblem as exc:
            return RunResult(**base, status=RunStatus.FAILED, error=str(exc), summary=content[:SUMMARY_LIMIT])
        return RunResult(
            **base,
            status=RunStatus.COMPLETED,
            raw_status=choice.get("finish_reason"),
            summary=_explanation(content, diff)[:SUMMARY_LIMIT],
            changed_files=applied.files,
            file_modes=applied.modes,
        )


def _explanation(content: str, diff: str) -> str:
    """The model's words around the diff, without the diff."""
    fence_start = content.find("```")
    if fence_start == -1:
        return content.replace(diff, "").strip()
    fence_end = content.rfind("```")
    return (content[:fence_start] + content[fence_end + 3 :]).strip()
