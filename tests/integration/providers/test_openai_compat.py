"""The OpenAI-compatible diff provider, end to end against an HTTP fake of chat completions."""

import httpx
import pytest

from codeloop.adapters.openai_compat import OpenAICompatProvider
from codeloop.domain.providers import (
    ATTEMPT_KEY,
    TASK_ID_KEY,
    CodeGenerationProvider,
    FinalError,
    RateLimited,
    RetryableCall,
    RunRepository,
    RunRequest,
    RunStatus,
)
from codeloop.settings import reset_settings
from tests.fakes.openai_api import FakeOpenAIApi

REPO = RunRepository(full_name="octo-org/widgets", ref="feature-branch")
FILES = {
    "widgets/cli.py": "import sys\n\n\ndef main():\n    print('hi')\n    return 0\n",
    "OLD.md": "obsolete\n",
}
ANSWER = """\
I added a --verbose flag, a changelog, and removed the obsolete notes.

```diff
--- a/widgets/cli.py
+++ b/widgets/cli.py
@@ -3,4 +3,6 @@


 def main():
-    print('hi')
+    verbose = '--verbose' in sys.argv
+    print('hi', verbose)
+    print('bye')
     return 0
--- /dev/null
+++ b/CHANGELOG.md
@@ -0,0 +1 @@
+- --verbose flag
--- a/OLD.md
+++ /dev/null
@@ -1 +0,0 @@
-obsolete
```
"""


@pytest.fixture
def fake():
    with FakeOpenAIApi(hang_seconds=3.0) as server:
        yield server


@pytest.fixture
def reads():
    return []


@pytest.fixture
def provider(fake, reads):
    def read_file(repository: RunRepository, path: str) -> str | None:
        reads.append((repository.full_name, repository.ref, path))
        return FILES.get(path)

    openai = OpenAICompatProvider(
        base_url=fake.base_url,
        model="local-coder",
        api_key=fake.api_key,
        read_file=read_file,
        timeout=httpx.Timeout(0.5, connect=0.5),
    )
    yield openai
    openai.close()


def request(prompt: str = "Add a --verbose flag") -> RunRequest:
    return RunRequest(task_id="task-9", attempt=1, prompt=prompt, repository=REPO)


def test_the_provider_satisfies_the_interface_and_leaves_pushing_to_the_caller(provider):
    assert isinstance(provider, CodeGenerationProvider)
    assert not provider.opens_pull_requests


def test_a_diff_answer_becomes_changed_files(fake, provider, reads):
    fake.script(ANSWER)
    result = provider.create_run(request())

    assert result.status is RunStatus.COMPLETED
    assert result.changed_files == {
        "widgets/cli.py": (
            "import sys\n\n\ndef main():\n    verbose = '--verbose' in sys.argv\n"
            "    print('hi', verbose)\n    print('bye')\n    return 0\n"
        ),
        "CHANGELOG.md": "- --verbose flag\n",
        "OLD.md": None,
    }
    assert result.summary == "I added a --verbose flag, a changelog, and removed the obsolete notes."
    assert result.run_id == "chatcmpl-fake1"
    assert result.metadata == {TASK_ID_KEY: "task-9", ATTEMPT_KEY: 1}
    assert {ref for _, ref, _ in reads} == {"feature-branch"}
    assert {path for _, _, path in reads} == {"widgets/cli.py", "CHANGELOG.md", "OLD.md"}


def test_the_request_is_a_chat_completion_with_the_prompt(fake, provider):
    fake.script(ANSWER)
    provider.create_run(request("Add a --verbose flag"))

    (call,) = fake.calls
    assert (call.method, call.path) == ("POST", "/v1/chat/completions")
    assert call.headers["authorization"] == f"Bearer {fake.api_key}"
    assert call.body["model"] == "local-coder"
    system, user = call.body["messages"]
    assert system["role"] == "system" and "octo-org/widgets" in system["content"]
    assert "unified diff" in system["content"]
    assert user == {"role": "user", "content": "Add a --verbose flag"}


def test_a_diff_that_does_not_apply_is_a_failed_run_naming_file_and_hunk(fake, provider):
    fake.script(
        "```diff\n--- a/widgets/cli.py\n+++ b/widgets/cli.py\n@@ -4,2 +4,2 @@\n def main():\n"
        "-    print('hello')\n+    print('bonjour')\n```\n"
    )
    result = provider.create_run(request())
    assert result.status is RunStatus.FAILED
    assert result.changed_files is None
    assert result.error is not None
    assert result.error.startswith("widgets/cli.py: hunk 1 (@@ -4,2 +4,2 @@) does not apply")
    assert "print('hello')" in result.error


def test_an_answer_without_a_diff_is_a_failed_run(fake, provider):
    fake.script("I cannot see the repository, so here is some advice instead.", finish_reason="length")
    result = provider.create_run(request())
    assert result.status is RunStatus.FAILED
    assert (
        result.error
        == "the model's answer contains no unified diff (the answer was cut off at the token limit)"
    )


def test_resume_asks_again_with_the_new_prompt(fake, provider):
    fake.script(ANSWER)
    result = provider.resume_run("chatcmpl-old", request("The tests fail: fix them"))
    assert result.status is RunStatus.COMPLETED
    assert fake.calls[-1].body["messages"][1]["content"] == "The tests fail: fix them"


def test_there_is_no_run_to_poll_or_reconcile(provider):
    assert provider.find_run("task-9", 1) is None
    with pytest.raises(FinalError):
        provider.get_run("chatcmpl-fake1")


def test_429_is_rate_limited(fake, provider):
    fake.fail_next(
        1, "status", status=429, retry_after="3", body={"error": {"message": "Rate limit reached"}}
    )
    with pytest.raises(RateLimited, match="Rate limit reached") as caught:
        provider.create_run(request())
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("kind", ["hang", "drop"])
def test_no_answer_is_retryable_because_a_completion_creates_nothing(fake, provider, kind):
    fake.fail_next(1, kind)
    with pytest.raises(RetryableCall):
        provider.create_run(request())


def test_a_local_server_without_a_key_gets_no_authorization_header(monkeypatch):
    with FakeOpenAIApi(api_key=None) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_MODEL", "qwen-coder")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_API_KEY_SECRET_ARN", raising=False)
        reset_settings()
        try:
            provider = OpenAICompatProvider.from_settings(lambda repository, path: FILES.get(path))
            server.script(ANSWER)
            assert provider.create_run(request()).status is RunStatus.COMPLETED
        finally:
            reset_settings()
        (call,) = server.calls
        assert "authorization" not in call.headers
        assert call.body["model"] == "qwen-coder"


def test_every_completion_reports_its_usage_to_the_sink_whoever_asks(fake):
    """The ledger is a property of the call path: the provider's runs and the AI review's chat
    (OpenAIChat, the endpoint's one call path) alike tell the sink what the API reported."""
    from codeloop.adapters.openai_compat import OpenAIChat
    from codeloop.domain.costs import Charge

    told = []
    sink = lambda charge, usage: told.append((charge, usage))  # noqa: E731
    provider = OpenAICompatProvider(
        base_url=fake.base_url, model="local-coder", api_key=fake.api_key, read_file=lambda _repo, path: FILES.get(path),
        usage_sink=sink,
    )  # fmt: skip
    review = OpenAIChat(base_url=fake.base_url, model="local-coder", api_key=fake.api_key, usage_sink=sink)
    fake.script(ANSWER, tokens=(1500, 250))
    fake.script("Looks fine.", tokens=None)

    provider.create_run(request().model_copy(update={"prompt_name": "feature@2"}))
    review.complete([{"role": "user", "content": "Review this diff"}], Charge(task_id="task-9", attempt=2))
    review.close()

    (run_charge, run_usage), (review_charge, review_usage) = told
    assert run_charge == Charge(task_id="task-9", attempt=1, prompt_name="feature@2")
    assert (run_usage.operation, run_usage.provider, run_usage.model) == ("chat", "openai", "local-coder")
    assert (run_usage.input_tokens, run_usage.output_tokens) == (1500, 250)
    assert run_usage.external_id.startswith("chatcmpl-") and run_usage.duration_seconds > 0
    assert review_charge.attempt == 2
    assert (review_usage.input_tokens, review_usage.output_tokens) == (None, None)  # not reported
    provider.close()
