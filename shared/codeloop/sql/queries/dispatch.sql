-- name: ensure_breaker
insert into provider_breakers (provider) values (%(provider)s) on conflict (provider) do nothing;

-- name: get_breaker
select * from provider_breakers where provider = %(provider)s;

-- name: lock_breaker
select * from provider_breakers where provider = %(provider)s for update;

-- name: save_breaker
update provider_breakers
   set state = %(state)s, failures = %(failures)s, window_started_at = %(window_started_at)s,
       opened_at = %(opened_at)s, probe_until = %(probe_until)s
 where provider = %(provider)s;

-- name: ensure_bucket
insert into rate_buckets (name) values (%(name)s) on conflict (name) do nothing;

-- name: lock_bucket
select * from rate_buckets where name = %(name)s for update;

-- name: save_bucket
update rate_buckets set taken_at = %(taken_at)s where name = %(name)s;

-- name: get_codegen_run
select * from codegen_runs where task_id = %(task_id)s and attempt = %(attempt)s;

-- name: claim_codegen_run
-- The idempotency record, written before the provider is called. It claims the (task, attempt)
-- for one instance: nothing is returned when a run was already started or another instance holds
-- a live claim. ``fresh`` is false when an earlier call may have reached the provider.
insert into codegen_runs (task_id, attempt, provider, prompt_id, task_token, execution_name, claimed_until)
values (%(task_id)s, %(attempt)s, %(provider)s, %(prompt_id)s, %(task_token)s, %(execution_name)s,
        %(claimed_until)s)
on conflict (task_id, attempt) do update
   set provider = excluded.provider, prompt_id = excluded.prompt_id, task_token = excluded.task_token,
       execution_name = excluded.execution_name, claimed_until = excluded.claimed_until
 where codegen_runs.status = 'starting' and codegen_runs.external_id is null
   and (codegen_runs.claimed_until is null or codegen_runs.claimed_until <= %(now)s)
returning *, (xmax = 0) as fresh;

-- name: record_run_started
update codegen_runs
   set provider = %(provider)s, external_id = %(external_id)s, status = %(status)s, web_url = %(web_url)s,
       pull_requests = %(pull_requests)s, summary = %(summary)s, error = %(error)s,
       deadline_at = %(deadline_at)s, claimed_until = null
 where id = %(id)s
returning *;

-- name: record_call_failed
-- The call failed before a run existed: count it and let the next delivery claim the row
-- (an expired claim_until left in place tells it to reconcile first).
update codegen_runs
   set provider = %(provider)s, failed_calls = failed_calls + 1, error = %(error)s,
       claimed_until = %(claimed_until)s
 where id = %(id)s
returning *;

-- name: set_run_token
update codegen_runs set task_token = %(task_token)s, execution_name = %(execution_name)s
 where id = %(id)s
returning *;

-- name: update_run_progress
update codegen_runs
   set status = %(status)s, pull_requests = %(pull_requests)s, summary = %(summary)s,
       error = %(error)s, web_url = coalesce(%(web_url)s, web_url)
 where id = %(id)s
returning *;

-- name: answer_run
-- Whoever sets answered_at first answers the task token; everyone else finds nothing to answer.
update codegen_runs
   set answered_at = now(), pr_number = %(pr_number)s, head_sha = %(head_sha)s,
       pull_requests = coalesce(%(pull_requests)s, pull_requests)
 where id = %(id)s and answered_at is null
returning *;

-- name: unanswer_run
-- The answer could not be sent: let the next sweep or event try again.
update codegen_runs set answered_at = null where id = %(id)s;

-- name: claim_runs_to_poll
-- In-flight agent runs not polled since ``polled_before``; skip locked: concurrent sweeps split them.
update codegen_runs
   set last_polled_at = %(now)s
 where id in (select id from codegen_runs
               where external_id is not null
                 and status in ('queued', 'running', 'unknown')
                 and provider = any(%(providers)s)
                 and (answered_at is null or deadline_at > %(now)s)
                 and (last_polled_at is null or last_polled_at <= %(polled_before)s)
               order by last_polled_at nulls first, created_at
               limit %(limit)s
               for update skip locked)
returning *;

-- name: unanswered_runs_for_repository
select r.*
  from codegen_runs r
  join tasks t on t.id = r.task_id
  join repositories p on p.id = t.repository_id
 where lower(p.full_name) = lower(%(full_name)s)
   and r.answered_at is null and r.external_id is not null
 order by r.created_at;

-- name: save_provider_wait
insert into provider_waits (task_id, attempt, execution_name, providers, message)
values (%(task_id)s, %(attempt)s, %(execution_name)s, %(providers)s, %(message)s)
on conflict (task_id, attempt) do update
   set execution_name = excluded.execution_name, providers = excluded.providers, message = excluded.message
returning *;

-- name: provider_waits
select * from provider_waits order by since limit %(limit)s;

-- name: delete_provider_wait
delete from provider_waits where task_id = %(task_id)s and attempt = %(attempt)s returning *;

-- name: record_agent_branch
-- The first sighting of a branch is kept: who created it does not change.
insert into agent_branches (task_id, branch, created_by, run_id)
values (%(task_id)s, %(branch)s, %(created_by)s, %(run_id)s)
on conflict (task_id, branch) do nothing;

-- name: agent_branches
select branch from agent_branches where task_id = %(task_id)s order by recorded_at, branch;
