"""A maintainer's request while the installation is over its spending cap: one polite refusal, nothing runs."""

from __future__ import annotations

from codeloop.settings import reset_settings
from tests.integration.dispatch.test_costs import spend
from tests.integration.ingress.test_requests import comment, replies, tasks_in, world  # noqa: F401 (fixture)


def test_over_the_monthly_cap_a_fix_gets_one_refusal_and_starts_nothing(world, monkeypatch):  # noqa: F811
    assert comment(world, "/codeloop fix")[0].startswith("started ")
    [task] = tasks_in(world)
    spend(task, usd="12.50")
    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_MONTH", "10")
    reset_settings()
    before = len(replies(world))

    assert comment(world, "/codeloop fix again\n/codeloop retry", delivery_id="d-2") == [
        "refused: budget",
        "refused: budget",
    ]

    assert tasks_in(world) == [task]
    refusals = replies(world)[before:]
    assert len(refusals) == 2  # one per request
    assert all(r.startswith("Sorry @maintainer, codeloop is not starting new work here") for r in refusals)
    assert "the installation's monthly cap: spent $12.50 of $10.00" in refusals[0]
    assert "INSTALLATION_MAX_USD_PER_MONTH" in refusals[0]
    assert comment(world, "/codeloop status", delivery_id="d-3") == ["status"]  # answers still flow
