"""A merge queue's merge_group checks_requested, from the signed webhook to codeloop's check run on
the merge group's head: concluded at once (neutral, or success when codeloop validated the same
git tree green), so the queue never waits on codeloop."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from codeloop.api.front import handle
from codeloop.db import store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.domain.validation import ValidationReport
from codeloop.services.intake.events import process_delivery
from codeloop.settings import reset_settings
from tests.conftest import receive_all
from tests.unit.ingress.payloads import SECRET, load, signed_headers

REPO = "octo-org/octo-repo"  # the example payload's repository
INSTALLATION = 4242
EXAMPLE = load("merge_group/checks_requested.payload.json")
HEAD = EXAMPLE["merge_group"]["head_sha"]
TREE = EXAMPLE["merge_group"]["head_commit"]["tree_id"]


@pytest.fixture
def world(db_url, aws, github_fake, monkeypatch):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    reset_settings()
    repo = github_fake.add_repo(REPO, installation_id=INSTALLATION)
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo-org"))
        store.upsert_repository(
            conn, RepositoryRef(id=repo.id, full_name=REPO, default_branch="main"), INSTALLATION
        )
    return {"fake": github_fake, "repo": repo, "aws": aws}


def validated(world, status: str, tree_sha: str) -> None:
    """A validation of a pull request of the repository that ended ``status`` on ``tree_sha``."""
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=world["repo"].id, title="Some change"))
        report = ValidationReport(verdict=status, summary=status, head_sha="a" * 40)
        validation_store.save_validation_run(
            conn,
            task_id=task.id,
            attempt=1,
            report=report,
            status=status,
            head_sha="a" * 40,
            started_at=datetime.now(UTC),
            tree_sha=tree_sha,
        )


def merge_group_delivered(world) -> list[str]:
    """GitHub's example merge_group delivery, signed, through the receiver and the events queue."""
    payload = load("merge_group/checks_requested.payload.json")
    payload["installation"]["id"] = INSTALLATION
    payload["repository"]["id"] = world["repo"].id
    body = json.dumps(payload).encode()
    answer = handle(
        {
            "version": "2.0",
            "rawPath": "/webhooks/github",
            "headers": signed_headers(body, "merge_group", "mq-1"),
            "body": body.decode(),
            "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}},
            "isBase64Encoded": False,
        },
        None,
    )
    assert answer["statusCode"] == 202, answer
    [message] = receive_all(world["aws"]["EVENTS_QUEUE_URL"])
    world["fake"].clear_calls()
    return process_delivery(message["body"]["delivery_id"])


def check_run_calls(world) -> list[dict]:
    """Every write to check runs, as bodies: the test states the exact call."""
    calls = world["fake"].calls_to()
    assert [(c.method, c.path) for c in calls if "check-runs" in c.path] == [
        ("POST", f"/repos/{REPO}/check-runs")
    ]
    return [c.body for c in calls if "check-runs" in c.path]


def test_a_merge_group_codeloop_never_saw_gets_a_neutral_check_at_once(world):
    validated(world, "failed", TREE)  # the same tree failing is no reason to pass it
    validated(world, "passed", "f" * 40)  # another tree passing neither

    assert merge_group_delivered(world) == ["merge group check run neutral"]

    assert check_run_calls(world) == [
        {
            "name": "codeloop",
            "head_sha": HEAD,
            "status": "completed",
            "conclusion": "neutral",
            "external_id": f"merge_group:{HEAD}",
            "output": {
                "title": "Not validated in the merge queue",
                "summary": "codeloop validates pull requests, not merge groups: this merge group's files differ "
                "from every tree codeloop saw pass, so this check is neutral and the merge queue need not wait. "
                "The repository's own CI decides.",
            },
        }
    ]


def test_a_merge_group_of_a_tree_validated_green_gets_a_success(world):
    validated(world, "passed", TREE)

    assert merge_group_delivered(world) == ["merge group check run success"]

    [body] = check_run_calls(world)
    assert (body["head_sha"], body["status"], body["conclusion"]) == (HEAD, "completed", "success")
    assert body["output"]["title"] == "Validated: the same tree passed on its pull request"
    [run] = world["repo"].check_runs.values()
    assert (run["name"], run["status"], run["conclusion"]) == ("codeloop", "completed", "success")


def test_another_repositorys_green_tree_does_not_count(world):
    other = world["fake"].add_repo("someone/else", installation_id=INSTALLATION)
    with transaction() as conn:
        store.upsert_repository(
            conn, RepositoryRef(id=other.id, full_name="someone/else", default_branch="main"), INSTALLATION
        )
    validated({"repo": other}, "passed", TREE)

    assert merge_group_delivered(world) == ["merge group check run neutral"]
