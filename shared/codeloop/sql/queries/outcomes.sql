-- Outcomes and costs over a period (GET /api/v1/stats?since=&until=): per template version (of a
-- task's first prompt), per repository, per installation, or over all. The tasks counted are those
-- created in [%(since)s, %(until)s) in the repositories %(counted)s (stats_counted_repositories).
-- A task is green once a validation of it passed; its cost is every call in the ledger for it
-- (green or not), so cost per green PR = what the group spent / its green tasks. USD sums the
-- priced calls only; unpriced_calls says how many are not in it. A task's figures are the
-- task_figures_computed view's (migration 0025), stored in task_figures when it ends.

-- name: lock_tasks_for_outcomes
-- Two writers of one task's outcome take turns: the second waits here, and the statements after
-- this one see what the first wrote (a lock taken inside the delete would leave the delete on the
-- snapshot from before the wait, and the insert after it would collide with the first's rows).
select id from tasks where id = any(%(task_ids)s::uuid[]) order by id for no key update;

-- name: forget_task_outcomes
-- A task that runs again (or ends again, before its outcome is written anew) has no stored outcome.
with outcomes as (
    delete from task_outcomes where task_id = any(%(task_ids)s::uuid[])
)
delete from task_figures where task_id = any(%(task_ids)s::uuid[]);

-- name: write_task_outcomes
-- The outcomes of those of the tasks that have ended, as the views compute them now.
with outcomes as (
    insert into task_outcomes (task_id, template_id, repository_id, type, complexity, template_version, green)
    select task_id, template_id, repository_id, type, complexity, template_version, green
      from task_outcomes_computed
     where task_id = any(%(task_ids)s::uuid[])
)
insert into task_figures (task_id, repository_id, created_at, attempt, template, green_at, usd, unpriced_calls, tokens)
select task_id, repository_id, created_at, attempt, template, green_at, usd, unpriced_calls, tokens
  from task_figures_computed
 where task_id = any(%(task_ids)s::uuid[])
   and status in ('completed', 'failed', 'cancelled');

-- name: outcomes_by
-- One row per group: group_by is 'template', 'repository', 'installation' or 'all' (one row).
-- Ended tasks are read from task_figures; the few still running are computed.
with period_figures as (
    select f.task_id, f.repository_id, f.created_at, f.attempt, f.template, f.green_at, f.usd,
           f.unpriced_calls, f.tokens
      from task_figures f
     where f.repository_id = any(%(counted)s::bigint[])
       and f.created_at >= %(since)s and f.created_at < %(until)s
    union all
    select c.task_id, c.repository_id, c.created_at, c.attempt, c.template, c.green_at, c.usd,
           c.unpriced_calls, c.tokens
      from task_figures_computed c
     where c.status not in ('completed', 'failed', 'cancelled')
       and c.repository_id = any(%(counted)s::bigint[])
       and c.created_at >= %(since)s and c.created_at < %(until)s
), facts as (
    select coalesce(f.template, '(no prompt)') as template,
           r.full_name as repository,
           coalesce(r.installation_id::text, '(none)') as installation,
           f.attempt,
           f.green_at,
           extract(epoch from f.green_at - f.created_at)::float8 as to_green,
           f.usd,
           f.unpriced_calls as unpriced,
           f.tokens
      from period_figures f
      join repositories r on r.id = f.repository_id
)
select case when grouping(template) = 0 then 'template'
            when grouping(repository) = 0 then 'repository'
            when grouping(installation) = 0 then 'installation'
            else 'all'
       end as group_by,
       coalesce(template, repository, installation, 'all') as key,
       count(*) as tasks,
       count(green_at) as green,
       round(count(green_at)::numeric / nullif(count(*), 0), 4) as green_rate,
       round(avg(attempt) filter (where attempt > 0), 2) as attempts_per_task,
       sum(usd) as usd,
       coalesce(sum(unpriced), 0) as unpriced_calls,
       round(sum(usd) / nullif(count(green_at), 0), 6) as usd_per_green,
       round(sum(tokens)::numeric / nullif(sum(attempt), 0), 1) as tokens_per_attempt,
       round((percentile_cont(0.5) within group (order by to_green))::numeric, 1) as seconds_to_green_p50,
       round(avg(to_green)::numeric, 1) as seconds_to_green_mean
  from facts
 group by grouping sets ((template), (repository), (installation), ())
 order by group_by, key;
