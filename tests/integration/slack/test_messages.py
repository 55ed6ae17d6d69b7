"""Each task's one Slack message, published with the GitHub report: which channel, once, in place;
nothing at all without a bot token; a Slack outage never stops the GitHub report; Slack's rate
limit is waited out on the status queue, never in a Lambda."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codeloop import cli
from codeloop.adapters import slack
from codeloop.adapters.aws import client
from codeloop.db import slack_store, store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.local.handlers import load
from codeloop.local.pollers import QueuePoller
from codeloop.services.reporting.publisher import publish_task
from codeloop.settings import reset_settings
from tests.fakes.github import GitHubFake, github_fake_environment
from tests.fakes.slack_api import FakeSlack, required_parameters

REPO = "octo/hello"
INSTALLATION = 5
NOTIFY = 'notify: {slack: {channel: "#from-file"}}\n'


@pytest.fixture
def github(db_url, monkeypatch) -> Iterator[GitHubFake]:
    with github_fake_environment(monkeypatch) as fake:
        yield fake


@pytest.fixture
def fake_slack(monkeypatch) -> Iterator[FakeSlack]:
    with FakeSlack({"#dev": "C0DEV", "#from-file": "C0FILE", "#org": "C0ORG"}) as fake:
        monkeypatch.setenv("SLACK_BOT_TOKEN", fake.token)
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        reset_settings()
        yield fake
        assert fake.violations == []


def task_on_an_issue(github: GitHubFake, config: str | None = None) -> str:
    repo = github.add_repo(REPO, installation_id=INSTALLATION)
    if config is not None:
        repo.commit_files("main", {".github/codeloop.yml": config})
    issue = repo.add_issue()
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), installation_id=INSTALLATION)
        task = store.create_task(
            conn, NewTask(repository_id=repo.id, title="Fix it", type="bug_fix", issue_number=issue)
        )
    return str(task.id)


def config_reads(github: GitHubFake) -> int:
    return sum(call.path.endswith("/contents/.github/codeloop.yml") for call in github.calls_to())


def test_the_file_names_the_channel_and_later_publishes_edit_the_one_message(github, fake_slack):
    task_id = task_on_an_issue(github, NOTIFY)
    publish_task(task_id)
    publish_task(task_id)
    publish_task(task_id)
    [posted] = fake_slack.api_calls("chat.postMessage")
    assert posted.body["channel"] == "#from-file"
    assert [call.body["ts"] for call in fake_slack.api_calls("chat.update")] == [("1700000000.000001")] * 2
    assert config_reads(github) == 1  # the channel is looked for once per task
    with transaction() as conn:
        assert slack_store.get_message(conn, task_id).channel == "C0FILE"


def test_the_operators_repository_channel_wins_and_the_installation_channel_is_the_fallback(
    github, fake_slack, capsys
):
    first = task_on_an_issue(github, NOTIFY)
    assert cli.main(["slack", "channel", REPO, "#dev"]) == 0
    assert cli.main(["slack", "channel", str(INSTALLATION), "#org"]) == 0
    publish_task(first)
    assert fake_slack.api_calls("chat.postMessage")[-1].body["channel"] == "#dev"

    assert cli.main(["slack", "channel", REPO, "--clear"]) == 0
    github.repos[REPO].commit_files("main", {".github/codeloop.yml": "iterations: 1\n"})
    with transaction() as conn:
        second = store.create_task(
            conn, NewTask(repository_id=github.repos[REPO].id, title="Again", type="bug_fix", issue_number=1)
        )
    publish_task(str(second.id))
    assert fake_slack.api_calls("chat.postMessage")[-1].body["channel"] == "#org"
    assert cli.main(["slack", "channels"]) == 0
    assert "installation 5" in " ".join(capsys.readouterr().out.split())


def test_no_channel_means_no_message_and_no_second_look(github, fake_slack):
    task_id = task_on_an_issue(github)
    publish_task(task_id)
    publish_task(task_id)
    assert fake_slack.calls == []
    assert config_reads(github) == 1


@pytest.mark.parametrize("token", [None, "REPLACE_WITH_THE_SLACK_BOT_TOKEN"])  # unset, or a stack's placeholder
def test_without_a_bot_token_nothing_happens(github, monkeypatch, token):
    if token is None:
        monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    reset_settings()
    task_id = task_on_an_issue(github, NOTIFY)
    publish_task(task_id)
    assert config_reads(github) == 0
    with transaction() as conn:
        assert slack_store.get_message(conn, task_id) is None


def test_a_slack_outage_does_not_stop_the_github_report_and_the_next_publish_posts(github, fake_slack):
    task_id = task_on_an_issue(github, NOTIFY)
    fake_slack.fail_next(1, "status", status=503)
    publish_task(task_id)
    assert [c for c in github.repos[REPO].comments.values() if c["user"]["type"] == "Bot"]
    assert fake_slack.messages == {}
    publish_task(task_id)
    assert len(fake_slack.messages) == 1


@pytest.mark.parametrize("channel", ["dev", "#Dev Team", "https://slack.com/x", "#" + "a" * 80])
def test_the_cli_refuses_what_is_not_a_channel(db_url, channel, capsys):
    assert cli.main(["slack", "channel", REPO, channel]) == 2
    assert "is not a channel" in capsys.readouterr().err


def test_a_response_url_off_slacks_hosts_is_never_called(fake_slack):
    with FakeSlack() as elsewhere:
        assert not slack.respond(elsewhere.response_url("steal"), "the task's status")
        assert not slack.respond("https://hooks.slack.com.evil.example/x", "hi")
        assert not slack.respond(fake_slack.url.replace("127.0.0.1", "user@127.0.0.1") + "/response/x", "hi")
        assert elsewhere.calls == []
    assert slack.respond(fake_slack.response_url("ok"), "hello")
    assert fake_slack.texts("ok") == ["hello"]


def test_the_fake_holds_calls_to_slacks_description(fake_slack):
    assert required_parameters("chat.update") == {"token", "channel", "ts"}
    client = slack.web_client()
    for call in (lambda: client.api_call("chat.postMesage"), lambda: client.api_call("chat.update", json={"ts": "1"})):
        with pytest.raises(Exception, match=r"unknown_method|invalid_arguments"):
            call()
    assert fake_slack.violations == ["chat.postMesage: unknown_method", "chat.update: invalid_arguments (missing required channel)"]
    fake_slack.violations.clear()


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/commands/T0001/1/abc", True),
        ("https://slack.com/x", True),
        ("http://hooks.slack.com/commands/T0001/1/abc", False),
        ("https://hooks.slack.com:8443/commands", False),
        ("https://evilslack.com/x", False),
        ("https://slack.com.evil.example/x", False),
    ],
)
def test_slacks_hosts_are_the_apis_host_and_those_under_it(monkeypatch, url, ok):
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    reset_settings()
    assert slack.is_slack_url(url) is ok


class StatusSyncer:
    """The status syncer Lambda behind the status queue, one receive at a time, as Lambda's event
    source mapping runs it (reported failures stay on the queue, the rest are deleted)."""

    def __init__(self, queue_url: str, visibility_seconds: int):
        self.sqs = client("sqs")
        self.queue_url = queue_url
        # The queue's own visibility timeout: what a handed-back note would wait without codeloop's.
        self.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(visibility_seconds)})
        self.arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.results: list[dict[str, Any]] = []
        self.poller = QueuePoller("status", queue_url, self._handle)

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        result = load("status_syncer")(event, context)
        self.results.append(result)
        return result

    def poll(self) -> int:
        """Receive one batch (waiting a second at most) and run the handler on it; how many it held."""
        return self.poller.poll_once(self.sqs, self.arn, "us-east-1", wait_seconds=1)

    def in_flight_and_waiting(self) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessages"]
        found = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return int(found[names[0]]), int(found[names[1]])


def retry_at(task_id: str) -> datetime | None:
    with transaction() as conn:
        return slack_store.get_message(conn, task_id).retry_at


def test_while_slack_asks_to_wait_nothing_is_sent_and_the_note_is_hidden_for_the_wait(github, fake_slack, aws):
    syncer = StatusSyncer(aws["STATUS_QUEUE_URL"], visibility_seconds=0)  # only codeloop's hand-back hides it
    task_id = task_on_an_issue(github, NOTIFY)
    fake_slack.rate_limit_next(1, retry_after=600)
    publish_task(task_id)  # the first post is refused with 429: nothing is posted
    assert len(fake_slack.api_calls("chat.postMessage")) == 1
    assert fake_slack.messages == {}
    assert [c for c in github.repos[REPO].comments.values() if c["user"]["type"] == "Bot"]  # GitHub goes on
    assert retry_at(task_id) > datetime.now(UTC) + timedelta(seconds=500)

    calls = len(fake_slack.calls)
    publish_task(task_id)  # another publish during the wait leaves Slack alone
    assert syncer.poll() == 1  # the retry note arrives at once (a FIFO queue has no per-message delay)…
    [result] = syncer.results
    assert len(result["batchItemFailures"]) == 1  # …and is handed back, unanswered
    assert len(fake_slack.calls) == calls and fake_slack.messages == {}
    assert syncer.poll() == 0  # hidden for the wait, though the queue would show it again at once
    assert syncer.in_flight_and_waiting() == (1, 0)


@pytest.mark.parametrize("refusals", [1, 2])  # 2: Slack refuses the retry too, which waits again
def test_a_rate_limited_update_is_written_once_the_wait_is_over_and_never_twice(github, fake_slack, aws, refusals):
    # A note handed back without Slack's wait would stay hidden ten minutes: past this test's deadline.
    syncer = StatusSyncer(aws["STATUS_QUEUE_URL"], visibility_seconds=600)
    task_id = task_on_an_issue(github, NOTIFY)
    publish_task(task_id)
    [(key, message)] = fake_slack.messages.items()
    posted_text = message["text"]
    with transaction() as conn:
        store.transition_task(conn, task_id, TaskStatus.CANCELLED, step="test", error="cancelled by @octocat")

    fake_slack.rate_limit_next(refusals, retry_after=1)
    publish_task(task_id)  # the update is refused with 429
    assert len(fake_slack.api_calls("chat.update")) == 1 and fake_slack.messages[key]["text"] == posted_text
    assert retry_at(task_id) is not None

    deadline = time.monotonic() + 60
    while len(fake_slack.api_calls("chat.update")) < refusals + 1 and time.monotonic() < deadline:
        syncer.poll()
    assert fake_slack.messages[key]["text"] != posted_text and "cancel" in fake_slack.messages[key]["text"].lower()
    assert len(fake_slack.api_calls("chat.postMessage")) == 1 and len(fake_slack.messages) == 1
    assert retry_at(task_id) is None
    assert syncer.poll() == 0 and syncer.in_flight_and_waiting() == (0, 0)  # the note is done
    assert len(fake_slack.api_calls("chat.update")) == refusals + 1  # the refused ones, then one written
