"""The database migrator (functions/database_migrator/app.py, the DatabaseMigrations custom resource),
run against a real PostgreSQL, answering a real HTTP endpoint that stands for CloudFormation's
presigned response URL."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from codeloop import settings as settings_module
from codeloop.db import migrations
from codeloop.local import handlers
from tests.fakes.cloudformation_response import CloudFormationResponseUrl


@pytest.fixture
def migrator() -> types.ModuleType:
    """The function's module, loaded as Lambda imports it."""
    return handlers.load_module("database_migrator")


@pytest.fixture
def response_url() -> Iterator[CloudFormationResponseUrl]:
    with CloudFormationResponseUrl() as server:
        yield server


def request(request_type: str, response_url: CloudFormationResponseUrl) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": f"{response_url.url}/cloudformation-response?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/codeloop/1",
        "RequestId": "request-1",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceType": "Custom::DatabaseMigrations",
        "ResourceProperties": {"LayerVersion": "arn:aws:lambda:us-east-1:123456789012:layer:deps:7"},
    }


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    settings_module.reset_settings()


def applied_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("select version from codeloop_migrations order by version")]


def test_create_applies_every_migration_and_answers_success(
    migrator, response_url, empty_db_url, monkeypatch
):
    use_database(monkeypatch, empty_db_url)
    migrator.lambda_handler(request("Create", response_url), None)

    (answer,) = response_url.answers
    expected = [migration.version for migration in migrations.discover()]
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"] == {"Applied": len(expected)}
    assert answer["PhysicalResourceId"] == "codeloop-database-migrations"
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/codeloop/1",
        "request-1",
        "DatabaseMigrations",
    )
    assert applied_versions(empty_db_url) == expected
    (call,) = response_url.calls
    assert call.path == "/cloudformation-response"
    assert call.query == {"X-Amz-Signature": ["abc"]}
    assert call.headers.get("content-type") == ""  # what the presigned URL was signed for


def test_an_update_on_a_current_database_applies_nothing(migrator, response_url, empty_db_url, monkeypatch):
    use_database(monkeypatch, empty_db_url)
    migrator.lambda_handler(request("Create", response_url), None)
    migrator.lambda_handler(request("Update", response_url), None)

    first, second = response_url.answers
    assert second["Status"] == "SUCCESS"
    assert second["Data"] == {"Applied": 0}
    assert second["PhysicalResourceId"] == first["PhysicalResourceId"]  # an update, never a replacement


def test_delete_keeps_the_database_and_never_connects(migrator, response_url, monkeypatch):
    use_database(monkeypatch, "postgresql://codeloop:unused@127.0.0.1:1/codeloop?connect_timeout=1")
    migrator.lambda_handler(request("Delete", response_url), None)

    (answer,) = response_url.answers
    assert answer["Status"] == "SUCCESS"


def test_an_unreachable_database_fails_the_deploy_with_a_reason_and_no_password(
    migrator, response_url, monkeypatch
):
    use_database(monkeypatch, "postgresql://codeloop:hunter2secret@127.0.0.1:1/codeloop?connect_timeout=1")
    monkeypatch.setattr(migrator, "CONNECT_DEADLINE_SECONDS", 0)
    migrator.lambda_handler(request("Create", response_url), None)

    (answer,) = response_url.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("database migration failed: OperationalError")
    assert "hunter2secret" not in answer["Reason"]


def test_a_database_that_comes_up_late_is_waited_for(migrator, response_url, empty_db_url, monkeypatch):
    """The first connection attempts fail (the proxy target is still registering), then succeed."""
    use_database(monkeypatch, empty_db_url)
    real_migrate = migrations.migrate
    attempts: list[str] = []

    def not_yet_then_real(url: str) -> list[migrations.Migration]:
        attempts.append(url)
        if len(attempts) < 3:
            raise psycopg.OperationalError("connection refused")
        return real_migrate(url)

    monkeypatch.setattr(migrations, "migrate", not_yet_then_real)
    monkeypatch.setattr(migrator, "RETRY_SECONDS", 0)
    migrator.lambda_handler(request("Create", response_url), None)

    (answer,) = response_url.answers
    assert answer["Status"] == "SUCCESS"
    assert len(attempts) == 3
    assert applied_versions(empty_db_url) == [migration.version for migration in migrations.discover()]
