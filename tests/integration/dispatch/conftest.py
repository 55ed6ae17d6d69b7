"""The dispatcher's world: a repository on the GitHub fake and in PostgreSQL, the Codegen and
OpenAI-compatible fakes, moto's queues and real state machine, and helpers that drive an
execution to its DispatchCodegen step with a real task token."""

import json
from datetime import UTC, datetime

import pytest

from codeloop.adapters.aws import client
from codeloop.db import dispatch_store, store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.local.handlers import load
from codeloop.services.agents.providers import breaker_policy, reset_providers
from codeloop.services.tasks.actions import create_and_start
from codeloop.settings import reset_settings
from tests.conftest import sqs_event
from tests.conftest import take_message as take_one
from tests.fakes.codegen_api import FakeCodegenApi
from tests.fakes.openai_api import FakeOpenAIApi

REPO = "octo/widgets"
INSTALLATION = 7
FILES = {
    "README.md": "# widgets\n",
    "src/widgets/core.py": "def parse(text):\n    return text.split()[0]\n",
}


def handler():
    return load("codegen_dispatcher")


@pytest.fixture
def codegen():
    with FakeCodegenApi(hang_seconds=3.0) as fake:
        yield fake


@pytest.fixture
def openai():
    with FakeOpenAIApi(hang_seconds=3.0) as fake:
        yield fake


@pytest.fixture
def world(db_url, aws, github_fake, codegen, openai, monkeypatch):
    repo = github_fake.add_repo(REPO, files=FILES, installation_id=INSTALLATION)
    codegen.add_repo(REPO, repo.id)
    for key, value in {
        "CODEGEN_API_URL": codegen.url,
        "CODEGEN_API_KEY": codegen.api_key,
        "CODEGEN_ORG_ID": str(codegen.org_id),
        "OPENAI_BASE_URL": openai.base_url,
        "OPENAI_API_KEY": openai.api_key,
        "PROVIDERS": "codegen,openai",
        "BREAKER_FAILURE_THRESHOLD": "2",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    reset_providers()
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), installation_id=INSTALLATION)
        conn.execute(
            "insert into prompt_templates (id) values ('test');"
            "insert into prompt_template_versions (template_id, version, body, content_hash)"
            " values ('test', 1, '{{ task.title }}', 'h1')"
        )
    github_fake.clear_calls()
    yield {"github": github_fake, "repo": repo, "codegen": codegen, "openai": openai, "aws": aws}
    reset_providers()


def insert_prompt(task_id, attempt: int, body: str = "Fix the crash on empty input") -> str:
    with transaction() as conn:
        row = conn.execute(
            "insert into rendered_prompts (task_id, attempt, template_id, template_version, selection_reason,"
            " body, size_chars, context_chars, sha256) values (%s, %s, 'test', 1, 'test', %s, %s, 0, 'x')"
            " returning id",
            (task_id, attempt, body, len(body)),
        ).fetchone()
    return str(row["id"])


def start_task(world, title: str = "Fix the crash on empty input", metadata: dict | None = None):
    """A task whose execution waits at DispatchCodegen; returns (task, the codegen queue's message)."""
    repo = world["repo"]
    task = create_and_start(
        NewTask(repository_id=repo.id, title=title, type="bug_fix", metadata=metadata or {}), actor="test"
    )
    build = take_one(world["aws"]["PROMPT_QUEUE_URL"])
    body = json.loads(build["Body"])
    client("sqs").delete_message(
        QueueUrl=world["aws"]["PROMPT_QUEUE_URL"], ReceiptHandle=build["ReceiptHandle"]
    )
    prompt_id = insert_prompt(task.id, body["attempt"])
    with transaction() as conn:  # what the prompt builder's step leaves behind
        store.transition_task(conn, task.id, "prompting")
    client("stepfunctions").send_task_success(
        taskToken=body["task_token"], output=json.dumps({"prompt_id": prompt_id})
    )
    return task, take_one(world["aws"]["CODEGEN_QUEUE_URL"])


def dispatch(world, message: dict) -> dict:
    return handler()(sqs_event(message, world["aws"]["CODEGEN_QUEUE_URL"]), None)


def execution_status(arn: str) -> dict:
    return client("stepfunctions").describe_execution(executionArn=arn)


def codegen_creates(world) -> list:
    return world["codegen"].calls_to("POST", f"/v1/organizations/{world['codegen'].org_id}/agent/run")


def warm_codegen():
    """The process's Codegen provider with the repository's id already looked up, so the next call
    the fake sees from it is the create itself."""
    from codeloop.domain.providers import RunRepository
    from codeloop.services.agents.providers import provider_named

    codegen = provider_named("codegen")
    codegen.repo_id_for(RunRepository(full_name=REPO))
    return codegen


def open_every_breaker() -> None:
    """Both providers fail as often as the breaker allows, now: each one's circuit breaker opens."""
    policy = breaker_policy()
    with transaction() as conn:
        for provider in ("codegen", "openai"):
            for _ in range(policy.failure_threshold):
                dispatch_store.breaker_failure(conn, provider, datetime.now(UTC), policy)
