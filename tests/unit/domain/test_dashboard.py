"""The dashboard's pure rules: signed cookies, cookie attributes, the tasks filter and cursor, and the
SVG charts (escaped, and never told apart by colour alone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from codeloop.domain.dashboard import (
    BadFilter,
    Point,
    Series,
    Session,
    TaskCursor,
    bar_chart,
    confirmed,
    cookie,
    duration_text,
    legend,
    line_chart,
    parse_filter,
    read_cookies,
    recheck_due,
    same_token,
    sign,
    unsign,
)
from codeloop.settings import Settings


def test_a_signed_value_comes_back_only_unchanged_and_with_the_same_key():
    signed = sign("session-id", "key")
    assert unsign(signed, "key") == "session-id"
    assert unsign(signed, "another key") is None
    assert unsign("other-id." + signed.rsplit(".", 1)[1], "key") is None
    assert unsign(signed + "x", "key") is None
    assert unsign("no-signature", "key") is None
    assert unsign(None, "key") is None


NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def session_of(checked: datetime, *, operator: bool = False) -> Session:
    return Session(
        login="alice", operator=operator, repository_ids=[1, 2, 3],
        permissions={"1": "admin", "2": "write", "3": "read"}, csrf_token="c",
        expires_at=NOW + timedelta(hours=8), access_checked_at=checked,
    )  # fmt: skip


def test_a_users_repositories_are_rechecked_once_the_interval_has_passed_an_operators_never():
    interval = timedelta(minutes=10)
    assert not recheck_due(session_of(NOW - interval + timedelta(seconds=1)), NOW, interval)
    assert recheck_due(session_of(NOW - interval), NOW, interval)
    assert not recheck_due(session_of(NOW - timedelta(days=1), operator=True), NOW, interval)


def test_a_recheck_keeps_the_repositories_still_readable_with_their_new_roles():
    """Read is enough to see; none, an unknown role or a repository nobody asked about is dropped."""
    checked = confirmed(session_of(NOW - timedelta(hours=1)), {1: "triage", 2: "none", 4: "admin"}, NOW)
    assert (checked.repository_ids, checked.permissions) == ([1], {"1": "triage"})
    assert checked.access_checked_at == NOW and checked.reaches(1) and not checked.reaches(3)
    assert confirmed(session_of(NOW), {1: "custom-role", 2: "read"}, NOW).repository_ids == [2]


def test_cookies_are_http_only_lax_for_the_dashboard_and_secure_over_https():
    plain = cookie("codeloop_session", "v", secure=False, max_age=60)
    assert plain.split("; ") == ["codeloop_session=v", "Path=/app", "HttpOnly", "SameSite=Lax", "Max-Age=60"]
    assert cookie("codeloop_session", "v", secure=True, max_age=60).endswith("; Secure")


def test_cookies_are_read_from_api_gateways_list_and_from_a_header():
    assert read_cookies({}, ["a=1", "b=2"]) == {"a": "1", "b": "2"}
    assert read_cookies({"cookie": "a=1; b=x.y=="}, None) == {"a": "1", "b": "x.y=="}


def test_csrf_tokens_compare_whole():
    assert same_token("abc", "abc")
    assert not same_token("ab", "abc")
    assert not same_token(None, "abc")
    assert not same_token("", "abc")


def test_the_tasks_filter_reads_blank_fields_as_no_bound_and_refuses_unknown_values():
    where = parse_filter({"repository": "", "status": "failed", "type": "docs", "since": "2026-12-01T10:00"})
    assert (where.repository, where.status, where.type) == (None, "failed", "docs")
    assert where.since == datetime(2026, 12, 1, 10, tzinfo=UTC)
    with pytest.raises(BadFilter, match="status"):
        parse_filter({"status": "exploded"})


def test_a_cursor_round_trips_and_a_mangled_one_is_the_first_page():
    cursor = TaskCursor(created_at=datetime(2026, 12, 7, tzinfo=UTC), id=uuid4())
    assert TaskCursor.decode(cursor.encode()) == cursor
    assert TaskCursor.decode("not-a-cursor") is None
    assert TaskCursor.decode(None) is None


def test_durations_read_as_people_say_them():
    assert [duration_text(s) for s in (None, 0.25, 42, 185, 7440)] == ["–", "250 ms", "42 s", "3 min 5 s", "2 h 4 min"]


def test_line_chart_series_differ_in_dash_and_marker_not_only_colour_and_names_are_escaped():
    series = [
        Series(name="<script>alert(1)</script>", points=[Point(label="12-01", value=50)]),
        Series(name="fix v2", points=[Point(label="12-01", value=100), Point(label="12-02", value=75)]),
    ]
    svg = line_chart("Green <rate>", series, top=100, unit="%")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="Green &lt;rate&gt;"' in svg and 'role="img"' in svg
    styles = legend(series)
    assert len({(s["dash"], s["marker"]) for s in styles}) == 2
    assert svg.count("<polyline") == 2


def test_bar_chart_writes_each_value_on_its_bar():
    svg = bar_chart("Attempts", [Point(label="1", value=7), Point(label="2", value=3)])
    assert svg.count('class="bar"') == 2
    assert re.search(r">7</text>", svg) and re.search(r">3</text>", svg)


@pytest.mark.parametrize(
    ("api_url", "oauth_url"),
    [
        ("https://api.github.com", "https://github.com/login/oauth"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/login/oauth"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/login/oauth"),
    ],
)
def test_sign_in_happens_on_the_web_host_of_github_api_url(api_url, oauth_url):
    assert Settings(github_api_url=api_url).github_oauth_url == oauth_url
