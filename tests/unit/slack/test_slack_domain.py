"""The slash command's text, Slack's mrkdwn, and each task's one message (pure)."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from codeloop.domain.slack import SlackUsage, mrkdwn, parse_slack_command, parse_target
from codeloop.domain.slack_message import render_message
from tests.unit.report.views import TASK_ID, states, view

TASK = UUID(TASK_ID)


@pytest.mark.parametrize(
    ("text", "name", "where", "args"),
    [
        ("fix acme/widgets#7 add a --json flag", "fix", ("acme/widgets", 7, None), "add a --json flag"),
        ("FIX acme/widgets#7", "fix", ("acme/widgets", 7, None), ""),
        ("fix https://github.com/acme/widgets/issues/7 please", "fix", ("acme/widgets", 7, None), "please"),
        ("fix <https://github.com/acme/widgets/pull/8|#8> do it", "fix", ("acme/widgets", 8, None), "do it"),
        ("fix acme/widgets#7 first line\nsecond line", "fix", ("acme/widgets", 7, None), "first line\nsecond line"),
        (f"status {TASK_ID}", "status", (None, None, TASK), ""),
        ("status https://ghe.example.com/acme/widgets/pull/8/files", "status", ("acme/widgets", 8, None), ""),
        (f"retry {TASK_ID}", "retry", (None, None, TASK), ""),
        ("cancel acme/widgets#7", "cancel", ("acme/widgets", 7, None), ""),
    ],
)
def test_a_command_names_its_thread_or_task(text, name, where, args):
    ask = parse_slack_command(text)
    assert (ask.command.name, (ask.repository, ask.number, ask.task_id), ask.command.args) == (name, where, args)


@pytest.mark.parametrize("text", ["", "   ", "help", "help me"])
def test_help(text):
    assert parse_slack_command(text).command.name == "help"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fix", "Tell me where: `/codeloop fix owner/repo#123 [instructions]`"),
        ("fix the login page", "Tell me where"),
        (f"fix {TASK_ID}", "Tell me where"),  # a fix is about an issue or a pull request, not a task
        ("status", "or a task id"),
        ("deploy acme/widgets#7", "I don't know `/codeloop deploy`"),
        ("ｆｉｘ acme/widgets#7", "I don't know"),  # lookalike letters are not a command (GitHub's rule)
    ],
)
def test_what_cannot_be_read_is_answered_with_how_to_write_it(text, says):
    with pytest.raises(SlackUsage) as usage:
        parse_slack_command(text)
    assert says in str(usage.value)


@pytest.mark.parametrize("word", ["acme/widgets", "acme/widgets#x", "-acme/widgets#1", "ftp://x/a/b/pull/1", "#7"])
def test_not_a_target(word):
    assert parse_target(word) is None


def test_mrkdwn_keeps_links_bold_and_code_and_drops_markdown_escapes():
    text = r"**1** ✅ a\_b \[x\] · [PR #8](https://github.com/a/b/pull/8) · `x <y> & z`"
    assert mrkdwn(text) == "*1* ✅ a_b [x] · <https://github.com/a/b/pull/8|PR #8> · `x &lt;y&gt; &amp; z`"


def test_a_hostile_title_cannot_ping_or_link_in_slack():
    hostile = view("queued", task={"title": "<!channel> <@U123|boss> <https://evil.example|click> ghp_" + "a" * 36})
    message = render_message(hostile)
    shown = json.dumps(message)
    for forged in ("<!channel>", "<@U123", "<https://evil.example"):
        assert forged not in shown
    assert "&lt;!channel&gt;" in message["blocks"][0]["text"]["text"]
    assert "ghp_" + "a" * 36 not in shown  # secrets redacted, as on GitHub


def _buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_buttons_follow_what_the_task_actions_allow():
    all_states = states()
    assert _buttons(render_message(all_states["running"])) == ["codeloop:cancel"]
    assert _buttons(render_message(all_states["passed"])) == []
    failed = view("failed", task={"error_log": [{"error": "BudgetExhausted: no attempts left"}]})
    assert _buttons(render_message(failed)) == ["codeloop:retry"]
    [button] = next(b for b in render_message(failed)["blocks"] if b["type"] == "actions")["elements"]
    assert button["value"] == TASK_ID


def test_the_message_carries_the_request_the_attempts_and_the_outcome():
    message = render_message(states()["passed"])
    text = json.dumps(message, ensure_ascii=False)
    assert message["text"].startswith("✅ codeloop: Passed")
    assert "octo-org/widgets#12" in text and "Add a --json flag to the CLI" in text
    assert "*Attempts*" in text and "|PR #34>" in text and "|check run>" in text
    assert "*Outcome:* ✅ Passed" in text
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])


@pytest.mark.parametrize(
    ("source", "permission", "expected"),
    [("comment", None, "allow"), ("slack", None, "refuse"), ("slack", "none", "refuse"), ("slack", "read", "allow")],
)
def test_from_slack_even_reading_a_thread_needs_the_linked_login_to_see_it(source, permission, expected):
    from codeloop.domain.commands import Command, WorkRequest, decide

    request = WorkRequest(
        command=Command(name="status", word="status"), source=source, delivery_id="d", installation_id=1,
        repository_id=2, repository_full_name="acme/widgets", number=7, is_pull_request=False,
        requester_login="someone", requester_is_bot=False,
    )  # fmt: skip
    assert decide(request, permission, "write") == expected
