-- Slack channels set by the operator, and each task's one Slack message.

-- name: set_channel
insert into slack_channels (scope, target, channel)
values (%(scope)s, %(target)s, %(channel)s)
on conflict (scope, target) do update set channel = excluded.channel, updated_at = now()
returning scope, target, channel, updated_at;

-- name: clear_channel
delete from slack_channels where scope = %(scope)s and target = %(target)s
returning scope, target, channel, updated_at;

-- name: list_channels
select scope, target, channel, updated_at from slack_channels order by scope desc, target;

-- name: operator_channels
-- The operator's channel for the repository, and for its installation (either may be missing).
select scope, target, channel, updated_at
  from slack_channels
 where (scope = 'repository' and lower(target) = lower(%(repository)s))
    or (scope = 'installation' and target = %(installation)s::text);

-- name: get_message
select task_id, channel, ts, retry_at from slack_messages where task_id = %(task_id)s;

-- name: save_message
-- What a publish wrote (or found: no channel); a wait Slack asked for is over.
insert into slack_messages (task_id, channel, ts)
values (%(task_id)s, %(channel)s, %(ts)s)
on conflict (task_id) do update set channel = excluded.channel, ts = excluded.ts, retry_at = null, updated_at = now()
returning task_id, channel, ts, retry_at;

-- name: defer_message
-- Slack answered 429: no call for this message before %(retry_at)s. The channel is kept as found
-- (a first post that was refused keeps the name it was looked up by; a posted message its id and ts).
insert into slack_messages (task_id, channel, retry_at)
values (%(task_id)s, %(channel)s, %(retry_at)s)
on conflict (task_id) do update set retry_at = excluded.retry_at, updated_at = now()
returning task_id, channel, ts, retry_at;
