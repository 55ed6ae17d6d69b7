"""A pull request codeloop opens itself for a task from Linear names the Linear issue (`Fixes ENG-123`),
so Linear's own GitHub integration links the two."""

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.settings import reset_settings
from tests.integration.dispatch.conftest import dispatch, start_task


def test_the_diff_providers_pull_request_names_the_linear_issue(world, monkeypatch):
    monkeypatch.setenv("PROVIDERS", "openai")
    reset_settings()
    world["openai"].script(
        "The change.\n```diff\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# widgets\n+# Widgets\n```\n"
    )
    task, message = start_task(world)
    with transaction() as conn:
        store.update_task(conn, task.id, metadata={"linear": {"identifier": "ENG-123", "number": 123}})

    assert dispatch(world, message) == {"batchItemFailures": []}

    [pull] = world["repo"].pulls.values()
    assert pull["body"].splitlines()[-1] == "Fixes ENG-123"
