"""An installation's caps through the task API, and the one polite refusal once it is over them."""

from __future__ import annotations

from codeloop.db import store
from codeloop.db.pool import transaction
from tests.integration.api.test_task_api import TASK, api, call  # noqa: F401 (fixture)
from tests.integration.dispatch.test_costs import spend

BUDGET = "/api/v1/installations/7/budget"


def test_caps_default_to_the_settings_and_an_operator_overrides_them(api, monkeypatch):  # noqa: F811
    from codeloop.settings import reset_settings

    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_MONTH", "300")
    reset_settings()
    status, body = call("GET", BUDGET, key=api["key"])
    assert status == 200
    assert body["caps"] == {"max_usd_per_day": None, "max_usd_per_month": "300"}
    assert body["override"] is None and body["spent"] == {"day_usd": "0", "month_usd": "0"}

    status, body = call("PUT", BUDGET, {"max_usd_per_day": 25}, key=api["key"])
    assert status == 200
    assert body["caps"] == {"max_usd_per_day": "25", "max_usd_per_month": "300"}
    assert body["override"] == {
        "max_usd_per_day": "25",
        "max_usd_per_month": None,
        "updated_by": "api:ci-bot",
    }


def test_unlimited_lifts_the_setting_for_one_installation_and_null_restores_it(api, monkeypatch):  # noqa: F811
    from codeloop.settings import reset_settings

    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_DAY", "2")
    reset_settings()
    status, created = call("POST", "/api/v1/tasks", TASK, key=api["key"])
    with transaction() as conn:
        spend(store.require_task(conn, created["task"]["id"]), usd="3.00")
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 402  # over the setting's cap

    status, body = call("PUT", BUDGET, {"max_usd_per_day": "unlimited"}, key=api["key"])
    assert status == 200
    assert body["caps"] == {"max_usd_per_day": None, "max_usd_per_month": None}
    assert body["override"] == {
        "max_usd_per_day": "unlimited",
        "max_usd_per_month": None,
        "updated_by": "api:ci-bot",
    }
    assert call("GET", BUDGET, key=api["key"])[1]["override"]["max_usd_per_day"] == "unlimited"
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 201

    status, body = call("PUT", BUDGET, {"max_usd_per_day": None}, key=api["key"])
    assert body["caps"]["max_usd_per_day"] == "2"  # not set: the setting's again
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 402


def test_another_installation_is_not_found_and_bad_caps_are_refused(api):  # noqa: F811
    assert call("GET", "/api/v1/installations/8/budget", key=api["key"])[0] == 404
    assert call("PUT", "/api/v1/installations/8/budget", {"max_usd_per_day": 1}, key=api["key"])[0] == 404
    assert call("PUT", BUDGET, {"max_usd_per_day": -1}, key=api["key"])[0] == 422
    assert call("PUT", BUDGET, {"per_day": 1}, key=api["key"])[0] == 422
    assert call("PUT", BUDGET, {"max_usd_per_day": "Infinity"}, key=api["key"])[0] == 422  # say "unlimited"
    assert call("PUT", BUDGET, {"max_usd_per_month": "none"}, key=api["key"])[0] == 422
    assert call("GET", BUDGET)[0] == 401


def test_a_task_request_over_the_cap_gets_one_polite_402_and_nothing_starts(api):  # noqa: F811
    status, created = call("POST", "/api/v1/tasks", TASK, key=api["key"])
    assert status == 201
    with transaction() as conn:
        task = store.require_task(conn, created["task"]["id"])
    spend(task, usd="3.00")
    assert call("PUT", BUDGET, {"max_usd_per_day": 2}, key=api["key"])[0] == 200

    status, body = call("POST", "/api/v1/tasks", TASK, key=api["key"])

    assert status == 402
    assert body["error"] == (
        "codeloop is not starting new work here: the installation's daily cap: spent $3.00 of $2.00. "
        "To go on, an operator raises the installation's cap (`PUT /api/v1/installations/{id}/budget` "
        "with `max_usd_per_day`, or the setting `INSTALLATION_MAX_USD_PER_DAY`); or wait until tomorrow (UTC)."
    )
    with transaction() as conn:
        assert len(store.list_tasks(conn)) == 1
    status, body = call("GET", f"/api/v1/tasks/{task.id}", key=api["key"])
    assert body["cost"]["total"]["usd"] == "3.000000"
    assert call("POST", f"/api/v1/tasks/{task.id}/cancel", key=api["key"])[0] == 200  # stopping is free
    status, body = call("POST", f"/api/v1/tasks/{task.id}/retry", key=api["key"])
    assert status == 402 and "daily cap: spent $3.00 of $2.00" in body["error"]
