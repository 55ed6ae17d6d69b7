"""A Linear request while the installation is over its spending cap: one polite refusal on the
issue, as on GitHub and Slack, and nothing starts."""

from __future__ import annotations

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.services.intake.events import process_delivery
from codeloop.settings import reset_settings
from tests.fakes.linear_webhooks import delivery, post
from tests.integration.dispatch.test_costs import spend
from tests.integration.linear.test_linear_intake import WRITER, link, tasks, world  # noqa: F401 (fixture)


def test_over_the_cap_a_linear_fix_gets_one_refusal_and_starts_nothing(world, db_url, monkeypatch):  # noqa: F811
    link(delivery("comment_created")["actor"]["id"], WRITER)
    first, second = (delivery("comment_created"), delivery("comment_created"))
    second["data"] = second["data"] | {"id": "c-2", "body": "/codeloop fix again, differently"}
    assert process_delivery(post(first)["body"]["delivery_id"])[0].startswith("started ")
    with transaction() as conn:
        [task] = store.list_tasks(conn)
    spend(task, usd="12.50")
    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_MONTH", "10")
    reset_settings()

    assert process_delivery(post(second)["body"]["delivery_id"]) == ["refused: budget"]

    assert len(tasks(db_url)) == 1
    [refusal] = [c["body"] for c in world.comments_on(first["data"]["issueId"]) if c["body"].startswith("Sorry")]
    assert refusal.startswith(f"Sorry @{WRITER}, codeloop is not starting new work here")
    assert "the installation's monthly cap: spent $12.50 of $10.00" in refusal
