"""The deploy stage of a validation: start the app, wait until it is ready, run the HTTP checks.

``validation.deploy`` commands start after setup, in the background, in the same sandbox as the
other commands (same user, directories, environment, limits), each under a supervisor that holds
everything it starts until the validation ends (:class:`codeloop.adapters.sandbox.Background`).
``validation.ready`` (a URL polled until it answers 2xx or 3xx, or a command run until it exits
0) bounds the wait; then every ``validation.checks`` entry is one HTTP request whose status and
body are compared with what the configuration expects. The tests run after the checks, against
the same deployment, which stays up until :meth:`DeployStage.stop` (the validation's end).

Only loopback URLs are accepted (the configuration refuses others); requests never follow a
redirect and never use a proxy, so a check cannot reach another host.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from codeloop.adapters import sandbox
from codeloop.domain.repo_config import HttpCheck, ReadyConfig, ValidationConfig
from codeloop.domain.validation import CheckResult, DeployedCommand, Deployment

POLL_SECONDS = 0.1
READY_REQUEST_SECONDS = 2.0  # one poll of the ready URL
MAX_BODY_BYTES = 1024**2  # of a check's answer, searched for `contains`
BODY_EXCERPT_CHARS = 2_000  # of it, kept in the report
STOPPED_AT_END = 128 + 15  # the supervisor's status when it was stopped with the command running


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def request(method: str, url: str, timeout_seconds: float) -> Answer:
    """One HTTP request, no proxy, no redirect followed; the body up to MAX_BODY_BYTES.
    Raises OSError (refused, timed out) or http.client.HTTPException."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout_seconds
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout_seconds)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, headers={"User-Agent": "codeloop-check"})
        response = connection.getresponse()
        body = bytearray()
        while len(body) < MAX_BODY_BYTES and (chunk := response.read1(65_536)):
            body += chunk
            if time.monotonic() > deadline:
                raise TimeoutError("the answer took longer than the time limit")
        return Answer(response.status, bytes(body[:MAX_BODY_BYTES]))
    finally:
        connection.close()


def _why(exc: Exception) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer within the time limit"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def run_check(check: HttpCheck) -> CheckResult:
    started = time.monotonic()
    try:
        answer = request(check.method, check.url, check.timeout_seconds)
    except (OSError, http.client.HTTPException) as exc:
        return CheckResult(
            name=check.name,
            method=check.method,
            url=check.url,
            status=None,
            passed=False,
            problem=f"no answer: {_why(exc)}",
            duration_seconds=time.monotonic() - started,
        )
    text = answer.body.decode(errors="replace")
    problems = []
    if answer.status != check.status:
        problems.append(f"expected status {check.status}, got {answer.status}")
    if check.contains is not None and check.contains not in text:
        problems.append(f"the body does not contain {check.contains!r}")
    return CheckResult(
        name=check.name,
        method=check.method,
        url=check.url,
        status=answer.status,
        passed=not problems,
        problem="; ".join(problems) or None,
        body=text[:BODY_EXCERPT_CHARS],
        duration_seconds=time.monotonic() - started,
    )


def deployment_urls(validation: ValidationConfig) -> list[str]:
    """Where the app is reached: scheme://host:port of the ready URL and of each check."""
    urls = ([validation.ready.url] if validation.ready and validation.ready.url else []) + [
        check.url for check in validation.checks
    ]
    return list(dict.fromkeys(f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls)))


class DeployStage:
    """The deploy stage of one validation, as a ``with`` block: entering starts the deploy
    commands, waits until the app is ready and runs the checks (``problem`` says why the app never
    got ready; ``checks`` holds the results); leaving kills and reaps everything the deploy
    commands started and sets ``deployment`` for the report. The tests run inside the block."""

    def __init__(
        self,
        validation: ValidationConfig,
        *,
        checkout: Path,
        env: Mapping[str, str],
        limits: sandbox.Limits,
        user: sandbox.SandboxUser | None,
        deadline: float,
        heartbeat: Callable[[], None] | None = None,
    ):
        self.validation = validation
        self._sandbox = {"cwd": checkout, "env": env, "limits": limits, "user": user}
        self.deadline = deadline
        self.heartbeat = heartbeat
        self.processes: list[tuple[str, sandbox.Background]] = []
        self.started = 0.0
        self.ready_seconds: float | None = None
        self.problem: str | None = None
        self.checks: list[CheckResult] = []
        self.deployment: Deployment | None = None

    def __enter__(self) -> DeployStage:
        self.started = time.monotonic()
        try:
            for command in self.validation.deploy:
                timeout = max(1.0, self.deadline - self.started)
                background = sandbox.Background(
                    ["/bin/sh", "-c", command], timeout_seconds=timeout, **self._sandbox
                )
                self.processes.append((command, background))
            self.problem = self._wait_until_ready()
            if self.problem is None:
                self.ready_seconds = time.monotonic() - self.started
                self.checks = [run_check(check) for check in self.validation.checks]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if not self.validation.deploy:
            return
        processes = []
        for command, background in self.processes:
            result = background.stop()
            ended = (
                "stopped at the end of the validation"
                if result.exit_code == STOPPED_AT_END
                else f"ended by itself before the end, with status {result.exit_code}"
            )
            processes.append(
                DeployedCommand(
                    command=command, ended=ended, output=result.output, output_bytes=result.output_bytes
                )
            )
        self.deployment = Deployment(
            urls=deployment_urls(self.validation),
            ready=self.problem is None,
            ready_seconds=self.ready_seconds,
            problem=self.problem,
            processes=processes,
        )

    @property
    def ready(self) -> bool:
        return self.problem is None

    def _wait_until_ready(self) -> str | None:
        """None once the app answers (at once without ``validation.ready``), else why not."""
        ready = self.validation.ready
        if ready is None:
            return None
        deadline = min(self.deadline, self.started + ready.timeout_seconds)
        next_beat = time.monotonic() + sandbox.HEARTBEAT_SECONDS
        while True:
            answered, last = self._poll(ready, deadline)
            if answered:
                return None
            now = time.monotonic()
            if not any(background.command_running() for _, background in self.processes):
                return f"the deploy commands ended before the app was ready ({last})"
            if now + POLL_SECONDS >= deadline:
                return f"not ready after {ready.timeout_seconds:g} s ({last})"
            if self.heartbeat is not None and now >= next_beat:
                self.heartbeat()
                next_beat = now + sandbox.HEARTBEAT_SECONDS
            time.sleep(POLL_SECONDS)

    def _poll(self, ready: ReadyConfig, deadline: float) -> tuple[bool, str]:
        remaining = max(0.1, deadline - time.monotonic())
        if ready.url is not None:
            try:
                answer = request("GET", ready.url, min(READY_REQUEST_SECONDS, remaining))
            except (OSError, http.client.HTTPException) as exc:
                return False, f"last try: {_why(exc)}"
            return answer.status < 400, f"last answer: status {answer.status}"
        assert ready.command is not None
        result = sandbox.run(["/bin/sh", "-c", ready.command], timeout_seconds=remaining, **self._sandbox)
        return result.exit_code == 0, f"`{ready.command}` last exited with {result.exit_code}"
