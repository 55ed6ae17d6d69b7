"""The whole loop on the local stack's pieces: real PostgreSQL, moto running the real state machine,
the real handlers fed from the queues the way the local stack's pollers feed them, the GitHub
fake (serving real git) and the Codegen fake. The test plays GitHub's webhooks and the agent."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codeloop.adapters.aws import client
from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, RepositoryRef, Task
from codeloop.domain.webhooks import sign
from codeloop.local.handlers import load
from codeloop.local.pollers import QueuePoller
from codeloop.local.stack import CONSUMERS
from codeloop.services.agents.providers import reset_providers
from codeloop.settings import reset_settings
from tests.fakes.codegen_api import FakeCodegenApi
from tests.fakes.github_git import GitHubWithGit, github_with_git_environment

REPO = "octo/calc"
INSTALLATION = 7
SECRET = "e2e-webhook-secret"
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
CALC_BROKEN = "def add(a, b):\n    return a - b\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
PUMP_SECONDS = 60


def config(iterations: int = 2) -> str:
    return f'iterations: {iterations}\nvalidation:\n  test: ["{PYTEST} --junitxml=report.xml"]\n  junit: [report.xml]\n  include_repo_checks: false\n'


class Loop:
    """The stack's pieces, driven step by step by the test."""

    def __init__(self, github: GitHubWithGit, codegen: FakeCodegenApi, env: dict[str, str], repo: str = REPO):
        self.github = github
        self.codegen = codegen
        self.env = env
        self.repo = github.repos[repo]
        handlers = {name: load(name) for name in set(CONSUMERS.values())}
        self.pollers = [
            QueuePoller(queue, env[f"{queue.upper()}_QUEUE_URL"], handlers[function])
            for queue, function in CONSUMERS.items()
        ]
        sqs = client("sqs")
        self._arns = {
            poller.queue_url: sqs.get_queue_attributes(
                QueueUrl=poller.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            for poller in self.pollers
        }

    # -- GitHub's side ----------------------------------------------------------------------------

    def webhook(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {
            "content-type": "application/json",
            "x-github-event": event,
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": sign(body, SECRET),
        }
        result = handle(
            {
                "version": "2.0",
                "rawPath": "/webhooks/github",
                "headers": headers,
                "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}},
                "body": body.decode(),
                "isBase64Encoded": False,
            },
            None,
        )
        assert result["statusCode"] == 202, result
        return json.loads(result["body"])

    def comment(self, number: int, body: str, login: str = "maintainer") -> int:
        comment_id = self.repo.add_comment(number, body, login=login)
        repo_json = self.repo.json()
        pull = self.repo.pulls.get(number)
        issue = {
            "number": number,
            "title": pull["title"] if pull else f"Issue {number}",
            "body": "",
            "user": {"login": login, "type": "User"},
        }
        if pull:
            issue["pull_request"] = {"url": f"{self.github.url}/repos/{self.repo.full_name}/pulls/{number}"}
        self.webhook(
            "issue_comment",
            {
                "action": "created",
                "issue": issue,
                "comment": {"id": comment_id, "body": body, "user": {"login": login, "type": "User"}},
                "repository": repo_json,
                "installation": {"id": self.repo.installation_id},
                "sender": {"login": login, "type": "User", "id": 1},
            },
        )
        return comment_id

    def pull_request_event(self, action: str, number: int, body: str = "") -> None:
        pull = self.github._pull_json(self.repo, self.repo.pulls[number])
        pull["body"] = body
        self.webhook(
            "pull_request",
            {
                "action": action,
                "number": number,
                "pull_request": pull,
                "repository": self.repo.json(),
                "installation": {"id": self.repo.installation_id},
                "sender": {"login": "codegen-sh[bot]", "type": "Bot", "id": 2},
            },
        )

    # -- the agent's side -------------------------------------------------------------------------

    def agent_opens_pull_request(
        self, run_id: int, files: dict[str, str], branch: str = "codegen/fix"
    ) -> int:
        self.github.publish(self.repo.full_name, branch, files, "The agent's change")
        number = self.repo.add_pull_request(head=branch, title="Fix add", user="codegen-sh[bot]")
        self.codegen.attach_pull_request(
            run_id,
            url=f"{self.github.web_url}/{self.repo.full_name}/pull/{number}",
            title="Fix add",
            head_branch=branch,
        )
        self.codegen.complete_run(run_id)
        self.pull_request_event("opened", number)
        return number

    def agent_pushes(self, number: int, files: dict[str, str], branch: str = "codegen/fix") -> None:
        self.github.publish(self.repo.full_name, branch, files, "The agent's next change")
        self.pull_request_event("synchronize", number)

    # -- the stack's side -------------------------------------------------------------------------

    def pump(self, until: Callable[[], bool], seconds: float = PUMP_SECONDS) -> None:
        """Feed every queue to its handler until ``until()`` holds (the state machine runs meanwhile)."""
        sqs = client("sqs")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until():
                return
            for poller in self.pollers:
                poller.poll_once(sqs, self._arns[poller.queue_url], "us-east-1", wait_seconds=0)
            time.sleep(0.05)
        raise AssertionError(
            f"the loop did not reach the expected state within {seconds} s:\n{self.diagnosis()}"
        )

    def diagnosis(self) -> str:
        """What the stack did, for a failing test's message."""
        with transaction() as conn:
            deliveries = conn.execute(
                "select event, action, status, error from webhook_deliveries order by received_at"
            ).fetchall()
            task = self.task()
            history = store.task_history(conn, task.id) if task else []
        steps = [(s.step, s.attempt, s.status, s.error) for e in history for s in e.steps]
        agent_calls = [(call.method, call.path) for call in self.codegen.calls]
        return (
            f"task: {task and (task.status, task.attempt, task.error_log)}\ndeliveries: {deliveries}\n"
            f"steps: {steps}\ncodegen calls: {agent_calls}"
        )

    def task(self) -> Task | None:
        with transaction() as conn:
            tasks = store.list_tasks(conn)
        return tasks[0] if tasks else None

    def task_status(self) -> str | None:
        task = self.task()
        return task.status if task else None

    def latest_run(self) -> dict[str, Any] | None:
        return max(self.codegen.runs.values(), key=lambda run: run["id"]) if self.codegen.runs else None

    def bot_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.repo.comments.values() if c["user"]["type"] == "Bot"]

    def calls(self) -> list[tuple[str, str]]:
        return [(call.method, call.path) for call in self.github.calls_to()]


@pytest.fixture
def loop(db_url, aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    with github_with_git_environment(monkeypatch, tmp_path / "git") as github, FakeCodegenApi() as codegen:
        monkeypatch.setenv("CODEGEN_API_URL", codegen.url)
        monkeypatch.setenv("CODEGEN_API_KEY", codegen.api_key)
        monkeypatch.setenv("CODEGEN_ORG_ID", str(codegen.org_id))
        monkeypatch.setenv("PROVIDERS", "codegen")
        reset_settings()
        reset_providers()
        add_repository(
            github, codegen, REPO, INSTALLATION,
            {".github/codeloop.yml": config(), "calc.py": CALC_BROKEN, "tests/test_calc.py": TESTS},
        )  # fmt: skip
        from codeloop.services.prompting.versions import sync_templates

        with transaction() as conn:
            sync_templates(conn)
        yield Loop(github, codegen, aws)
        reset_providers()


def add_repository(
    github: GitHubWithGit, codegen: FakeCodegenApi, full_name: str, installation: int, files: dict[str, str]
) -> None:
    """A repository with ``files`` on main, where "maintainer" may write, installed and known to codeloop."""
    repo = github.add_repo(full_name, installation_id=installation)
    github.publish(full_name, "main", files)
    repo.set_permission("maintainer", "write")
    codegen.add_repo(full_name, repo.id)
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=installation, account_login=full_name.split("/")[0]))
        store.upsert_repository(
            conn, RepositoryRef(id=repo.id, full_name=full_name, default_branch="main"), installation
        )
