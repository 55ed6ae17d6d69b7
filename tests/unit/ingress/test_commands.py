from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeloop.domain.commands import (
    MAX_COMMANDS_PER_COMMENT,
    Command,
    decide,
    effective_permission,
    help_text,
    is_bot,
    is_stranger,
    label_request,
    limit_note_text,
    new_commands,
    parse_commands,
    permission_allows,
    refusal_text,
    requests_from_event,
    unknown_command_text,
)

from .payloads import envelope_for, load


def names(body: str) -> list[str]:
    return [command.name for command in parse_commands(body)]


# -- the parser ---------------------------------------------------------------------------------


def test_a_command_with_instructions():
    assert parse_commands("Thanks!\n/codeloop fix please handle empty input\n") == [
        Command(name="fix", args="please handle empty input", word="fix")
    ]


@pytest.mark.parametrize(
    "body",
    [
        "/codeloop status",
        "  /codeloop status",
        "   /codeloop status  ",
        "hello\n\t/codeloop status",
        "/CodeLoop STATUS",
        "/codeloop\tstatus",
    ],
)
def test_leading_whitespace_and_case_do_not_matter(body):
    assert names(body) == ["status"]


@pytest.mark.parametrize(
    "body",
    [
        "please /codeloop fix",
        "`/codeloop fix`",
        "/codeloopfix",
        "/codeloop-fix",
        "codeloop fix",
        "//codeloop fix",
        "/codeloop\u00a0fix",
        "/code\u200bloop fix",
    ],
)
def test_not_a_command(body):
    assert parse_commands(body) == []


def test_bare_prefix_asks_for_help():
    assert names("/codeloop") == ["help"]


def test_unknown_command_keeps_the_word_for_the_answer():
    [command] = parse_commands("/codeloop deploy now")
    assert command == Command(name="unknown", args="now", word="deploy")
    text = unknown_command_text(command)
    assert "`/codeloop deploy`" in text
    assert help_text() in text


def test_several_commands_in_order_and_duplicates_once():
    body = (
        "/codeloop fix the tests\nsome words\n/codeloop status\n/CODELOOP FIX the tests\n/codeloop fix other"
    )
    assert [(c.name, c.args) for c in parse_commands(body)] == [
        ("fix", "the tests"),
        ("status", ""),
        ("fix", "other"),
    ]


def test_every_line_ending_separates_lines():
    assert names("/codeloop status\r\n/codeloop config\r/codeloop help") == ["status", "config", "help"]


def test_unicode_line_separators_do_not_start_a_line():
    # GitHub's Markdown ends lines only at \n, \r\n and \r; U+2028 keeps "/codeloop" mid-line.
    assert parse_commands("hello\u2028/codeloop fix") == []


@pytest.mark.parametrize(
    "body",
    [
        "```\n/codeloop fix\n```",
        "```python title='x'\n/codeloop fix\n```",
        "~~~\n/codeloop fix\n~~~",
        "   ```\n/codeloop fix\n   ```",
        "````\n```\n/codeloop fix\n````",
        "~~~\n```\n/codeloop fix\n~~~",
        "```\n/codeloop fix",  # an unclosed fence runs to the end of the comment
        "> /codeloop fix",
        "   > /codeloop fix",
        ">/codeloop fix",
        "> > /codeloop fix",
        "    /codeloop fix",  # an indented code block
        "text\n\n\t/codeloop fix",
        "<!--\n/codeloop fix\n-->",
        "<!-- /codeloop fix -->",
    ],
)
def test_code_quotes_and_html_comments_hold_no_commands(body):
    assert parse_commands(body) == []


def test_commands_after_a_closed_fence_count():
    body = "```\n/codeloop fix\n```\n/codeloop status\n~~~\n/codeloop retry\n~~~~\n/codeloop config"
    assert names(body) == ["status", "config"]


def test_a_backtick_run_with_backticks_after_it_is_not_a_fence():
    # "``` a ` b" is inline code per CommonMark, so the next line is ordinary text.
    assert names("``` a ` b\n/codeloop status") == ["status"]


def test_a_shorter_or_other_fence_does_not_close_a_block():
    assert names("````\n```\n/codeloop fix\n````\n/codeloop status") == ["status"]
    assert names("```\n~~~\n/codeloop fix\n```\n/codeloop status") == ["status"]


def test_an_indented_line_continuing_a_paragraph_is_text():
    assert names("Please look at this\n    /codeloop status") == ["status"]


def test_commands_after_quotes_and_comments_count():
    assert names("> earlier\n\n/codeloop status\n<!-- note\nmore -->\n/codeloop config") == [
        "status",
        "config",
    ]


@pytest.mark.parametrize(
    "word",
    [
        "ｆｉｘ",  # fullwidth letters: NFKC would make them "fix"
        "ſtatus",  # long s: Unicode case-folding would make it "status"
        "\u212aill",  # Kelvin sign
        "f\u200bix",  # zero-width space inside
        "fіx",  # Cyrillic i
    ],
)
def test_lookalike_characters_never_form_a_command(word):
    [command] = parse_commands(f"/codeloop {word}")
    assert command.name == "unknown"
    assert not command.starts_work


def test_lookalike_prefix_is_not_a_command_at_all():
    assert parse_commands("／codeloop fix") == []
    assert parse_commands("/ｃｏｄｅｌｏｏｐ fix") == []


def test_non_ascii_instructions_are_kept_as_written():
    [command] = parse_commands("/codeloop fix gérer les entrées vides 🙂")
    assert command.args == "gérer les entrées vides 🙂"


def test_the_number_of_commands_per_comment_is_capped():
    body = "\n".join(f"/codeloop fix item {i}" for i in range(1000))
    commands = parse_commands(body)
    assert len(commands) == MAX_COMMANDS_PER_COMMENT
    assert commands[-1].args == f"item {MAX_COMMANDS_PER_COMMENT - 1}"


def test_very_long_comments_are_parsed():
    filler = ("lorem ipsum " * 40 + "\n") * 5000
    body = filler + "/codeloop status\n" + "/codeloop " + " " * 100_000 + "\x0b\n" + "x" * 1_000_000
    assert names(body) == ["status"]


def test_help_text_lists_every_command_and_holds_none_itself():
    text = help_text()
    for name in ("help", "status", "fix", "retry", "validate", "cancel", "config"):
        assert f"`/codeloop {name}" in text
    assert parse_commands(text) == []


@settings(max_examples=500)
@given(st.text(max_size=400))
def test_the_parser_never_raises(text):
    commands = parse_commands(text)
    assert len(commands) <= MAX_COMMANDS_PER_COMMENT
    assert all(command.name != "unknown" or command.word for command in commands)


line_parts = st.sampled_from(
    [
        "/codeloop fix",
        "/codeloop status",
        "```",
        "~~~",
        "> ",
        "    ",
        "\t",
        "<!--",
        "-->",
        "\n",
        " ",
        "x",
        "`",
    ]
)


@settings(max_examples=500)
@given(st.lists(line_parts, max_size=40).map("".join))
def test_the_parser_never_raises_on_markdown_like_text(text):
    parse_commands(text)
    assert new_commands(text, text) == []


# -- edited comments ----------------------------------------------------------------------------


def test_an_edit_triggers_only_commands_it_did_not_hold_before():
    old = "/codeloop fix the parser\n/codeloop status"
    new = "/codeloop fix the parser\n/codeloop status\n/codeloop validate"
    assert names_of(new_commands(old, new)) == ["validate"]


def test_an_edit_that_keeps_the_commands_triggers_nothing():
    assert new_commands("/codeloop fix it\ntypo hre", "/codeloop fix it\ntypo here") == []
    assert new_commands("/codeloop fix it", "  /CODELOOP Fix it") == []


def test_changed_instructions_are_a_new_request():
    assert [c.args for c in new_commands("/codeloop fix a", "/codeloop fix b")] == ["b"]


def test_a_command_moved_out_of_a_code_block_is_new():
    assert names_of(new_commands("```\n/codeloop fix\n```", "/codeloop fix")) == ["fix"]


def names_of(commands: list[Command]) -> list[str]:
    return [command.name for command in commands]


# -- permissions --------------------------------------------------------------------------------

RANKING = ["none", "read", "triage", "write", "maintain", "admin"]


@pytest.mark.parametrize("user", RANKING)
@pytest.mark.parametrize("minimum", ["read", "triage", "write", "maintain", "admin"])
def test_permission_ranking(user, minimum):
    assert permission_allows(user, minimum) == (RANKING.index(user) >= RANKING.index(minimum))


@pytest.mark.parametrize(("alias", "same_as"), [("push", "write"), ("pull", "read"), ("ADMIN", "admin")])
def test_rest_api_aliases_and_case(alias, same_as):
    for minimum in RANKING[1:]:
        assert permission_allows(alias, minimum) == permission_allows(same_as, minimum)


@pytest.mark.parametrize("user", [None, "", "security-manager", "owner"])
def test_unknown_permissions_rank_lowest(user):
    assert not permission_allows(user, "read")


@pytest.mark.parametrize("minimum", ["", "none", "superuser"])
def test_a_bad_threshold_lets_nobody_in(minimum):
    assert not permission_allows("admin", minimum)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"permission": "admin", "role_name": "admin"}, "admin"),
        ({"permission": "write", "role_name": "maintain"}, "maintain"),
        ({"permission": "write", "role_name": "write"}, "write"),
        ({"permission": "read", "role_name": "triage"}, "triage"),
        ({"permission": "read", "role_name": "security-manager"}, "read"),
        ({"permission": "none", "role_name": "read"}, "read"),
        ({"permission": "none"}, "none"),
        (
            {
                "permission": "write",
                "role_name": "custom-release-manager",
                "user": {"permissions": {"admin": False, "maintain": True, "push": True, "pull": True}},
            },
            "maintain",
        ),
        ({}, "none"),
    ],
)
def test_effective_permission_from_the_collaborator_api(answer, expected):
    assert effective_permission(answer) == expected


def test_refusal_names_the_user_and_the_needed_permission():
    text = refusal_text("octocat", "maintain")
    assert "@octocat" in text
    assert "maintain" in text


# -- bots ---------------------------------------------------------------------------------------


def test_is_bot_from_real_payloads():
    assert is_bot(load("check_suite/rerequested.payload.json")["sender"])
    assert not is_bot(load("issue_comment/created.with-installation.payload.json")["sender"])
    assert is_bot({"login": "codeloop[bot]", "type": "User"})
    assert not is_bot(None)
    assert not is_bot({"login": 3})


# -- requests from events -----------------------------------------------------------------------

COMMENT = "issue_comment/created.with-installation.payload.json"


def comment_event(body: str, *, on_pull_request: bool = False, sender: dict | None = None):
    payload = load(COMMENT)
    payload["comment"]["body"] = body
    if on_pull_request:
        payload["issue"]["pull_request"] = {"url": payload["issue"]["url"].replace("/issues/", "/pulls/")}
    if sender is not None:
        payload["sender"] = sender
    return envelope_for(COMMENT, payload)


def test_comment_on_an_issue_asks_for_a_new_pull_request():
    envelope, payload = comment_event("Could you?\n/codeloop fix handle empty lists")
    [request] = requests_from_event(envelope, payload)
    assert request.command == Command(name="fix", args="handle empty lists", word="fix")
    assert request.source == "comment"
    assert request.repository_full_name == "Codertocat/Hello-World"
    assert request.repository_id == payload["repository"]["id"]
    assert request.installation_id == payload["installation"]["id"]
    assert request.number == payload["issue"]["number"]
    assert not request.is_pull_request
    assert request.comment_id == payload["comment"]["id"]
    assert request.requester_login == "Codertocat"
    assert not request.requester_is_bot
    assert request.unsupported_reason is None


def test_comment_on_a_pull_request():
    envelope, payload = comment_event("/codeloop validate", on_pull_request=True)
    [request] = requests_from_event(envelope, payload)
    assert request.is_pull_request
    assert request.unsupported_reason is None


def test_validate_on_an_issue_is_explained_not_run():
    envelope, payload = comment_event("/codeloop validate")
    [request] = requests_from_event(envelope, payload)
    assert "pull request" in request.unsupported_reason


def test_each_command_of_a_comment_has_its_own_idempotency_key():
    envelope, payload = comment_event("/codeloop fix a\n/codeloop status")
    first, second = requests_from_event(envelope, payload)
    assert first.idempotency_key != second.idempotency_key
    again, _ = requests_from_event(envelope, payload)
    assert again.idempotency_key == first.idempotency_key


def test_comment_from_a_bot_is_flagged_and_ignored():
    bot = load("check_suite/rerequested.payload.json")["sender"]
    envelope, payload = comment_event("/codeloop fix", sender=bot)
    [request] = requests_from_event(envelope, payload)
    assert request.requester_is_bot
    assert decide(request, "admin", "write") == "ignore"


def test_real_comment_without_a_command_asks_nothing():
    envelope, payload = envelope_for(COMMENT)
    assert requests_from_event(envelope, payload) == []


def test_edited_comment_asks_only_for_new_commands():
    payload = load("issue_comment/edited.payload.json")
    payload["changes"]["body"]["from"] = "/codeloop status"
    payload["comment"]["body"] = "/codeloop status\n/codeloop fix now"
    envelope, _ = envelope_for("issue_comment/edited.payload.json", payload)
    assert [r.command.name for r in requests_from_event(envelope, payload)] == ["fix"]


def test_edit_that_did_not_change_the_body_asks_nothing():
    payload = load("issue_comment/edited.payload.json")
    payload["changes"] = {"title": {"from": "old"}}
    payload["comment"]["body"] = "/codeloop fix"
    envelope, _ = envelope_for("issue_comment/edited.payload.json", payload)
    assert requests_from_event(envelope, payload) == []


def test_deleted_comment_asks_nothing():
    payload = load(COMMENT)
    payload["action"] = "deleted"
    payload["comment"]["body"] = "/codeloop fix"
    envelope, _ = envelope_for(COMMENT, payload)
    assert requests_from_event(envelope, payload) == []


def test_the_codeloop_label_on_an_issue_is_a_fix_request():
    payload = load("issues/labeled.payload.json")
    assert label_request(*envelope_for("issues/labeled.payload.json", payload)) is None  # "bug"
    payload["label"]["name"] = "CodeLoop"
    envelope, _ = envelope_for("issues/labeled.payload.json", payload)
    [request] = requests_from_event(envelope, payload)
    assert request == label_request(envelope, payload)
    assert request.command.name == "fix"
    assert request.source == "label"
    assert request.number == payload["issue"]["number"]
    assert request.requester_login == payload["sender"]["login"]


def test_check_run_button_maps_to_its_command():
    payload = load("check_run/requested_action.payload.json")
    payload["check_run"]["external_id"] = "task-42"
    for identifier in ("retry", "fix", "cancel", "validate"):
        assert len(identifier) <= 20
        payload["requested_action"]["identifier"] = identifier
        envelope, _ = envelope_for("check_run/requested_action.payload.json", payload)
        [request] = requests_from_event(envelope, payload)
        assert request.command.name == identifier
        assert request.source == "check_run"
        assert request.number == 26764
        assert request.is_pull_request
        assert request.check_run_id == payload["check_run"]["id"]
        assert request.check_run_external_id == "task-42"
        assert request.requester_login == "codebytere"


def test_other_buttons_ask_nothing():
    envelope, payload = envelope_for("check_run/requested_action.payload.json")
    assert payload["requested_action"]["identifier"] == "lgtm|26764"
    assert requests_from_event(envelope, payload) == []


def test_rerun_of_a_check_run_on_a_pull_request_is_a_retry():
    payload = load("check_run/rerequested.payload.json")
    assert requests_from_event(*envelope_for("check_run/rerequested.payload.json", payload)) == []  # no PR
    payload["check_run"]["pull_requests"] = load("check_run/requested_action.payload.json")["check_run"][
        "pull_requests"
    ]
    envelope, _ = envelope_for("check_run/rerequested.payload.json", payload)
    [request] = requests_from_event(envelope, payload)
    assert request.command.name == "retry"


# -- the gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "permission", "expected"),
    [
        ("/codeloop fix", "write", "allow"),
        ("/codeloop fix", "triage", "refuse"),
        ("/codeloop cancel", "read", "refuse"),
        ("/codeloop retry", None, "refuse"),
        ("/codeloop status", None, "allow"),
        ("/codeloop help", "none", "allow"),
        ("/codeloop nonsense", None, "allow"),
    ],
)
def test_decide(body, permission, expected):
    envelope, payload = comment_event(body)
    [request] = requests_from_event(envelope, payload)
    assert decide(request, permission, "write") == expected


def test_decide_follows_the_repository_threshold():
    envelope, payload = comment_event("/codeloop fix")
    [request] = requests_from_event(envelope, payload)
    assert decide(request, "write", "maintain") == "refuse"
    assert decide(request, "maintain", "maintain") == "allow"


@pytest.mark.parametrize(
    ("permission", "stranger"),
    [(None, True), ("none", True), ("read", True), ("pull", True), ("triage", False), ("write", False),
     ("maintain", False), ("admin", False), ("custom-role", True)],
)  # fmt: skip
def test_a_stranger_has_no_role_beyond_reading(permission, stranger):
    assert is_stranger(permission) is stranger


def test_the_limit_note_says_whose_limit_and_when_to_try_again():
    now = datetime(2026, 12, 2, 14, 0, 30, tzinfo=UTC)
    note = limit_note_text("octocat", "work", "installation", now + timedelta(seconds=61), now)
    assert note == (
        "Sorry @octocat, I have had more commands that start work on this installation than I can "
        "take on for now, so I am pausing them. You can try again after 14:01 UTC (in about 2 minutes)."
    )
    assert "commands to answer from you" in limit_note_text("octocat", "replies", "user", now, now)
    assert "(in about 1 minute)" in limit_note_text("octocat", "replies", "user", now, now)
