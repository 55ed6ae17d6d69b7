-- Slack: where a repository's (or an installation's) task messages go when the operator says so
-- (`codeloop slack channel`), and each task's one message (channel + ts), updated in place.
create table slack_channels (
    scope      text not null check (scope in ('repository', 'installation')),
    target     text not null,   -- owner/name, or the installation id
    channel    text not null,
    updated_at timestamptz not null default now(),
    primary key (scope, target)
);

-- One row per task once its first publish has looked for a channel: channel null means none
-- was set then (the task is not reported to Slack); ts is the message's Slack timestamp.
create table slack_messages (
    task_id    uuid primary key references tasks (id) on delete cascade,
    channel    text,
    ts         text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Tasks asked for in Slack say so.
alter table tasks drop constraint tasks_source_check;
alter table tasks add constraint tasks_source_check
    check (source in ('comment', 'label', 'api', 'batch', 'slack'));
