"""The retry note names its channel; a Slack note queued before notes named one still reads as Slack's."""

from __future__ import annotations

from codeloop.domain.publish_retry import note_channel, retry_note


def test_a_note_names_its_channel_and_an_older_slack_note_is_slacks():
    assert note_channel(retry_note("t-1", "linear")) == "linear"
    assert note_channel(retry_note("t-1", "slack")) == "slack"
    assert note_channel({"task_id": "t-1", "event": "slack_retry"}) == "slack"
    assert note_channel({"task_id": "t-1", "event": "workflow_succeeded"}) is None
