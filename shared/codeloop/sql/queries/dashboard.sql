-- The dashboard (/app/). A caller's scope arrives as %(installation_ids)s and %(repository_ids)s
-- (null: no bound, for operators), as in the delivery log. Chart queries take %(counted)s, the
-- repositories that count (stats_store.figures), like the queries of GET /api/v1/stats.

-- name: create_session
insert into dashboard_sessions (id_hash, login, operator, repository_ids, permissions, csrf_token, expires_at,
                                access_checked_at)
values (%(id_hash)s, %(login)s, %(operator)s, %(repository_ids)s::bigint[], %(permissions)s, %(csrf_token)s,
        %(expires_at)s, %(access_checked_at)s)
returning *;

-- name: update_session_access
-- What GitHub confirmed at a recheck: the repositories the user still reaches, their roles, when.
update dashboard_sessions
   set repository_ids = %(repository_ids)s::bigint[], permissions = %(permissions)s,
       access_checked_at = %(access_checked_at)s
 where id_hash = %(id_hash)s;

-- name: get_session
select * from dashboard_sessions where id_hash = %(id_hash)s and expires_at > now();

-- name: delete_session
delete from dashboard_sessions where id_hash = %(id_hash)s;

-- name: delete_expired_sessions
delete from dashboard_sessions where expires_at <= %(now)s;

-- name: delete_spent_login_links
-- A link used or expired signs nobody in again.
delete from dashboard_login_links where used_at is not null or expires_at <= %(now)s;

-- name: create_login_link
insert into dashboard_login_links (token_hash, expires_at) values (%(token_hash)s, %(expires_at)s);

-- name: redeem_login_link
-- A link works once, before it expires.
update dashboard_login_links set used_at = now()
 where token_hash = %(token_hash)s and used_at is null and expires_at > now()
returning token_hash;

-- name: ensure_signing_key
insert into dashboard_signing_keys (secret) values (%(secret)s) on conflict (id) do nothing;

-- name: signing_key
select secret from dashboard_signing_keys where id = 1;

-- name: task_page
-- One page of tasks, newest first, strictly after the cursor (%(after_created_at)s, %(after_id)s).
-- Repositories are looked up in subqueries, not joined, so the page walks tasks_created_idx in
-- order and stops at the limit.
select t.id, t.title, t.type, t.status, t.source, t.requested_by, t.attempt, t.pr_number, t.pr_url,
       t.created_at, t.updated_at, t.completed_at,
       (select r.full_name from repositories r where r.id = t.repository_id) as repository
  from tasks t
 where (%(installation_ids)s::bigint[] is null
        or t.repository_id = any(%(repository_ids)s::bigint[])
        or t.repository_id in (select r.id from repositories r
                                where r.installation_id = any(%(installation_ids)s::bigint[])))
   and (%(repository)s::text is null
        or t.repository_id in (select r.id from repositories r
                                where lower(r.full_name) = lower(%(repository)s::text)))
   and (%(status)s::text is null or t.status = %(status)s::text)
   and (%(type)s::text is null or t.type = %(type)s::text)
   and (%(actor)s::text is null or lower(t.requested_by) = lower(%(actor)s::text))
   and (%(since)s::timestamptz is null or t.created_at >= %(since)s::timestamptz)
   and (%(until)s::timestamptz is null or t.created_at < %(until)s::timestamptz)
   and (%(after_created_at)s::timestamptz is null
        or (t.created_at, t.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
 order by t.created_at desc, t.id desc
 limit %(limit)s;

-- name: repositories_in_scope
select r.id, r.full_name, r.installation_id
  from repositories r
 where %(installation_ids)s::bigint[] is null
    or r.installation_id = any(%(installation_ids)s::bigint[])
    or r.id = any(%(repository_ids)s::bigint[])
 order by lower(r.full_name);

-- name: attempt_prompts
-- The prompts of a task's attempts, latest rendering of each kind first.
select *
  from rendered_prompts
 where task_id = %(task_id)s
 order by attempt, created_at desc;

-- name: green_rate_by_day
-- Per day since %(since)s and template version: attempts whose validation gave a verdict on the
-- code, and how many passed (as stats_template_success counts them, over the view attempt_prompts),
-- by the day the verdict came.
select date_trunc('day', coalesce(v.finished_at, v.updated_at)) as day,
       p.template_id || ' v' || p.template_version as series,
       count(*) as validated,
       count(*) filter (where v.status = 'passed') as passed
  from attempt_prompts p
  join tasks t on t.id = p.task_id
  join validation_runs v on v.task_id = p.task_id and v.attempt = p.attempt
 where t.repository_id = any(%(counted)s::bigint[]) and v.status in ('passed', 'failed')
   and coalesce(v.finished_at, v.updated_at) >= %(since)s
 group by 1, 2
 order by 1, 2;

-- name: period_charts
-- The tasks created since %(since)s, read as outcomes.sql's outcomes_by reads them (an ended task's
-- stored task_figures, a running task's computed): group_by 'green_day' is, per day a task first
-- went green, the median seconds from its request to that pass; 'created_day' is, per day tasks
-- were requested, what they spent over how many went green (cost per green PR); 'attempts' is how
-- many tasks took 1, 2, 3… attempts.
with period_figures as (
    select f.created_at, f.attempt, f.green_at, f.usd
      from task_figures f
     where f.repository_id = any(%(counted)s::bigint[]) and f.created_at >= %(since)s
    union all
    select c.created_at, c.attempt, c.green_at, c.usd
      from task_figures_computed c
     where c.status not in ('completed', 'failed', 'cancelled')
       and c.repository_id = any(%(counted)s::bigint[]) and c.created_at >= %(since)s
)
select case when grouping(date_trunc('day', green_at)) = 0 then 'green_day'
            when grouping(date_trunc('day', created_at)) = 0 then 'created_day'
            else 'attempts'
       end as group_by,
       coalesce(date_trunc('day', green_at), date_trunc('day', created_at)) as day,
       attempt as attempts,
       count(*) as tasks,
       round((percentile_cont(0.5) within group (order by extract(epoch from green_at - created_at)))::numeric,
             1) as p50_seconds,
       round(sum(usd) / nullif(count(green_at), 0), 6) as usd_per_green
  from period_figures
 group by grouping sets ((date_trunc('day', green_at)), (date_trunc('day', created_at)), (attempt))
 order by 1, 2, 3;

-- name: oldest_waiting_task
-- The task waiting longest in a state that is not final.
select t.id, t.status, t.updated_at, r.full_name as repository
  from tasks t
  join repositories r on r.id = t.repository_id
 where t.status not in ('completed', 'failed', 'cancelled')
   and (%(installation_ids)s::bigint[] is null
        or r.installation_id = any(%(installation_ids)s::bigint[])
        or t.repository_id = any(%(repository_ids)s::bigint[]))
 order by t.updated_at
 limit 1;

-- name: sweeper_work
-- What the sweeper ended or moved lately (its audit rows), newest first.
select entity, entity_id, action, new_values, created_at
  from audit_log
 where actor = 'sweeper'
 order by created_at desc, id desc
 limit %(limit)s;

-- name: rate_window
-- The grants still inside a rate bucket's window.
select coalesce(cardinality(array(select x from unnest(taken_at) x
                                   where x > now() - make_interval(secs => %(window_seconds)s))), 0) as taken
  from rate_buckets
 where name = %(name)s;
