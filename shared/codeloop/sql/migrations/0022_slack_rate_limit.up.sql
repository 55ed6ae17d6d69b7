-- Slack answered a task's message with 429 (rate limited): no call for that message before
-- retry_at; a note on the status queue, handed back until then, writes it afterwards.
alter table slack_messages add column retry_at timestamptz;
