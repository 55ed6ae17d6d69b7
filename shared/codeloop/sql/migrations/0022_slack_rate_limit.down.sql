alter table slack_messages drop column retry_at;
