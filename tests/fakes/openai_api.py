"""An HTTP fake of an OpenAI-compatible chat-completions endpoint (``POST {base}/chat/completions``).

Answers with scripted assistant messages, in order, in the documented response shape (with
``usage.prompt_tokens`` / ``completion_tokens`` / ``total_tokens``, as the API reports them), and
records every call. Failures are injected with ``fail_next`` (see ``RecordingServer``).
"""

from __future__ import annotations

import itertools
import time

from tests.fakes.recording_http import RecordedCall, RecordingServer, Reply


class FakeOpenAIApi(RecordingServer):
    def __init__(self, *, api_key: str | None = "test-openai-key", hang_seconds: float = 10.0):
        super().__init__(hang_seconds=hang_seconds)
        self.api_key = api_key
        self._answers: list[tuple[str, str, dict[str, int] | None]] = []
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def script(
        self,
        content: str,
        *,
        finish_reason: str = "stop",
        tokens: tuple[int, int] | None = (10, 20),
    ) -> None:
        """The assistant message for the next unanswered completion, and the (prompt, completion)
        tokens it reports; None: an answer without ``usage``, as some compatible servers give."""
        usage = None
        if tokens is not None:
            usage = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)}
        self._answers.append((content, finish_reason, usage))

    def route(self, call: RecordedCall) -> Reply:
        if self.api_key is not None and call.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(
                401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
            )
        if call.method != "POST" or call.path != "/v1/chat/completions":
            return Reply(404, {"error": {"message": f"Unknown request URL: {call.method} {call.path}"}})
        body = call.body
        if not isinstance(body, dict) or "model" not in body or not isinstance(body.get("messages"), list):
            return Reply(
                400,
                {
                    "error": {
                        "message": "'model' and 'messages' are required",
                        "type": "invalid_request_error",
                    }
                },
            )
        if not self._answers:
            return Reply(500, {"error": {"message": "the fake has no scripted answer left"}})
        content, finish_reason, usage = self._answers.pop(0)
        answer = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
        }
        if usage is not None:
            answer["usage"] = usage
        return Reply(200, answer)
