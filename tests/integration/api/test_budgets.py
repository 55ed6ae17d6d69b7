"""An installation's caps through the task API, and the one polite refusal once it is over them."""

from __future__ import annotations

import pytest

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


def test_unlimited_lifts_the_setting_for_one_installation_and_none_restores_it(api, monkeypatch):  # noqa: F811
    from codeloop import cli
    from codeloop.settings import reset_settings

    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_DAY", "2")
    reset_settings()
    status, created = call("POST", "/api/v1/tasks", TASK, key=api["key"])
    assert status == 201
    with transaction() as conn:
        spend(store.require_task(conn, created["task"]["id"]), usd="3.00")
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 402  # over the setting's cap

    lifted = call("PUT", BUDGET, {"max_usd_per_day": "unlimited"}, key=api["key"])
    assert lifted[0] == 403  # the installation's own key may not lift its cap
    assert "`codeloop budget set 7 --max-usd-per-day unlimited`" in lifted[1]["error"]
    assert cli.main(["budget", "set", "7", "--max-usd-per-day", "unlimited"]) == 0
    body = call("GET", BUDGET, key=api["key"])[1]
    assert body["caps"] == {"max_usd_per_day": None, "max_usd_per_month": None}
    assert body["override"] == {"max_usd_per_day": "unlimited", "max_usd_per_month": None, "updated_by": "cli"}
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 201

    assert cli.main(["budget", "set", "7", "--max-usd-per-day", "none"]) == 0
    assert call("GET", BUDGET, key=api["key"])[1]["caps"]["max_usd_per_day"] == "2"  # the setting's again
    assert call("POST", "/api/v1/tasks", TASK, key=api["key"])[0] == 402


def test_another_installation_is_not_found_and_bad_caps_are_refused(api):  # noqa: F811
    assert call("GET", "/api/v1/installations/8/budget", key=api["key"])[0] == 404
    assert call("PUT", "/api/v1/installations/8/budget", {"max_usd_per_day": 1}, key=api["key"])[0] == 404
    assert call("PUT", BUDGET, {"max_usd_per_day": -1}, key=api["key"])[0] == 422
    assert call("PUT", BUDGET, {"per_day": 1}, key=api["key"])[0] == 422
    assert call("PUT", BUDGET, {"max_usd_per_day": "Infinity"}, key=api["key"])[0] == 422  # say "unlimited"
    assert call("PUT", BUDGET, {"max_usd_per_month": "none"}, key=api["key"])[0] == 422
    # beyond what PostgreSQL's numeric holds, or past the ledger's millionth: a 422, never a 500
    for amount in ("1e-1000000", "1e1000000", "2000000000", "0.0000001"):
        assert call("PUT", BUDGET, {"max_usd_per_day": amount}, key=api["key"])[0] == 422, amount
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
        "To go on, an operator raises the installation's cap (`codeloop budget set <installation> "
        "--max-usd-per-day <usd>`, or the setting `INSTALLATION_MAX_USD_PER_DAY`); or wait until tomorrow (UTC)."
    )
    with transaction() as conn:
        assert len(store.list_tasks(conn)) == 1
    status, body = call("GET", f"/api/v1/tasks/{task.id}", key=api["key"])
    assert body["cost"]["total"]["usd"] == "3.000000"
    assert call("POST", f"/api/v1/tasks/{task.id}/cancel", key=api["key"])[0] == 200  # stopping is free
    status, body = call("POST", f"/api/v1/tasks/{task.id}/retry", key=api["key"])
    assert status == 402 and "daily cap: spent $3.00 of $2.00" in body["error"]


def test_a_key_may_lower_its_installations_caps_but_only_an_operator_raises_them(api, monkeypatch, capsys):  # noqa: F811
    """The caps bound what an installation spends of the operator's accounts: a key of that very
    installation must not lift them."""
    from codeloop import cli
    from codeloop.settings import reset_settings

    monkeypatch.setenv("INSTALLATION_MAX_USD_PER_MONTH", "300")
    reset_settings()

    def caps() -> dict:
        return call("GET", BUDGET, key=api["key"])[1]["caps"]

    raised = call("PUT", BUDGET, {"max_usd_per_month": 1000}, key=api["key"])
    assert raised[0] == 403
    assert raised[1]["error"] == (
        "an API key may lower its installation's caps, not raise them: max_usd_per_month would go "
        "from $300.00 to $1000.00; an operator raises it with "
        "`codeloop budget set 7 --max-usd-per-month 1000` "
        "(or through a key made with `codeloop apikey create --may-raise-caps`)"
    )
    assert caps() == {"max_usd_per_day": None, "max_usd_per_month": "300"}
    assert call("PUT", BUDGET, {"max_usd_per_month": 100, "max_usd_per_day": 10}, key=api["key"])[0] == 200
    # neither back up, nor off: null would fall back to the setting's 300, and a missing day cap is none
    assert call("PUT", BUDGET, {"max_usd_per_month": None, "max_usd_per_day": 10}, key=api["key"])[0] == 403
    assert call("PUT", BUDGET, {"max_usd_per_month": 100}, key=api["key"])[0] == 403
    assert caps() == {"max_usd_per_day": "10", "max_usd_per_month": "100"}

    assert cli.main(["budget", "set", "7", "--max-usd-per-month", "1000"]) == 0
    assert caps() == {"max_usd_per_day": "10", "max_usd_per_month": "1000"}  # the day cap stays
    assert cli.main(["budget", "set", "7", "--max-usd-per-day", "none"]) == 0
    with pytest.raises(SystemExit) as refused:  # argparse's clear error, before any database work
        cli.main(["budget", "set", "7", "--max-usd-per-day", "1e-1000000"])
    assert refused.value.code == 2
    body = call("GET", BUDGET, key=api["key"])[1]
    assert body["caps"] == {"max_usd_per_day": None, "max_usd_per_month": "1000"}
    assert body["override"]["updated_by"] == "cli"
    assert "max_usd_per_month" in capsys.readouterr().out


def test_the_operators_key_may_raise_and_lift_caps(api, capsys):  # noqa: F811
    """A key made with --may-raise-caps carries the operator's budget authority over its installations."""
    from codeloop import cli

    assert cli.main(["apikey", "create", "operator", "--installation", "7", "--may-raise-caps"]) == 0
    printed = capsys.readouterr().out
    assert "It may raise or lift their spending caps." in printed
    operator = printed.strip().splitlines()[-1]
    assert call("PUT", BUDGET, {"max_usd_per_day": 5}, key=api["key"])[0] == 200
    assert call("PUT", BUDGET, {"max_usd_per_day": 50}, key=api["key"])[0] == 403

    status, body = call("PUT", BUDGET, {"max_usd_per_day": 50, "max_usd_per_month": "unlimited"}, key=operator)
    assert status == 200
    assert body["caps"] == {"max_usd_per_day": "50", "max_usd_per_month": None}
    assert body["override"]["updated_by"] == "api:operator"
    assert cli.main(["apikey", "list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listed["operator"].endswith("may raise caps") and "may raise caps" not in listed["ci-bot"]


def test_a_key_lowering_while_the_operator_changes_the_caps_is_checked_against_the_change(api, db_url):  # noqa: F811
    """Writers of one installation's caps take turns: a key's "lower" that read the caps before the
    operator's change was committed must not land over it as a raise."""
    import threading
    from decimal import Decimal

    import psycopg

    from codeloop import cli
    from codeloop.db import costs_store
    from codeloop.domain.costs import CapsOverride

    assert cli.main(["budget", "set", "7", "--max-usd-per-day", "100"]) == 0
    answers: list[tuple[int, dict]] = []
    with transaction(actor="cli") as operator:  # the operator lowers the day's cap to 10, not yet committed
        costs_store.lock_installation_caps(operator, 7)
        costs_store.set_installation_caps(operator, 7, CapsOverride(max_usd_per_day=Decimal(10)), "cli")
        key_put = threading.Thread(
            target=lambda: answers.append(call("PUT", BUDGET, {"max_usd_per_day": 50}, key=api["key"]))
        )
        key_put.start()
        with psycopg.connect(db_url, autocommit=True) as watcher:
            for _ in range(200):  # until the key's request waits for the operator's
                if watcher.execute(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                    " and datname = current_database()"
                ).fetchone()[0]:
                    break
                threading.Event().wait(0.05)
    key_put.join(30)
    assert answers[0][0] == 403  # 50 is a raise over the operator's 10
    assert call("GET", BUDGET, key=api["key"])[1]["caps"]["max_usd_per_day"] == "10"
