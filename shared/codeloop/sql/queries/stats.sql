-- The figures behind GET /api/v1/stats. stats_counted_repositories says which repositories
-- count; every other query takes their ids as %(counted)s. Rates are rounded to 4 places,
-- seconds to 1.

-- name: stats_counted_repositories
-- %(repository)s: an owner/name to look at one repository, or null for all of them; an API key's
-- scope, %(installation_ids)s and %(repository_ids)s (null: no bound), outside which none counts.
select coalesce(array_agg(r.id), '{}') as ids
  from repositories r
 where (%(repository)s::text is null or lower(r.full_name) = lower(%(repository)s::text))
   and (%(installation_ids)s::bigint[] is null
        or r.installation_id = any(%(installation_ids)s::bigint[])
        or r.id = any(%(repository_ids)s::bigint[]));

-- name: stats_template_success
-- The prompt quality score: of the attempts whose prompt came from a template version, how many
-- passed validation. Only a verdict on the code counts (passed or failed): runs that did not
-- happen (not_run) or broke on our side (error) say nothing about the prompt. A prompt rebuilt
-- for the same attempt counts once, as its latest rendering.
with prompts as (
    select distinct on (p.task_id, p.attempt) p.task_id, p.attempt, p.template_id, p.template_version
      from rendered_prompts p
      join tasks t on t.id = p.task_id
     where t.repository_id = any(%(counted)s::bigint[])
     order by p.task_id, p.attempt, p.created_at desc
), judged as (
    select p.template_id, p.template_version, v.status
      from prompts p
      left join validation_runs v on v.task_id = p.task_id and v.attempt = p.attempt
)
select template_id,
       template_version,
       count(*) as attempts,
       count(*) filter (where status in ('passed', 'failed')) as validated,
       count(*) filter (where status = 'passed') as passed,
       round(count(*) filter (where status = 'passed')::numeric
             / nullif(count(*) filter (where status in ('passed', 'failed')), 0), 4) as success_rate
  from judged
 group by template_id, template_version
 order by template_id, template_version;

-- name: stats_lead_times
-- Seconds from the request (the task's creation) to its pull request and to green. The pull
-- request is there when the codegen step first succeeds (its token is answered with the PR), or,
-- failing a recorded step, when the first validation of it starts; green is the first passed
-- validation.
with moments as (
    select t.created_at,
           coalesce(
               (select min(s.finished_at)
                  from workflow_steps s join workflow_executions e on e.id = s.execution_id
                 where e.task_id = t.id and s.step = 'DispatchCodegen' and s.status = 'succeeded'),
               (select min(v.created_at) from validation_runs v where v.task_id = t.id)
           ) as pr_at,
           (select min(coalesce(v.finished_at, v.updated_at))
              from validation_runs v where v.task_id = t.id and v.status = 'passed') as green_at
      from tasks t
     where t.repository_id = any(%(counted)s::bigint[])
), spans as (
    select extract(epoch from pr_at - created_at)::float8 as to_pr,
           extract(epoch from green_at - created_at)::float8 as to_green
      from moments
)
select count(to_pr) as pr_count,
       round((percentile_cont(0.5) within group (order by to_pr))::numeric, 1) as pr_p50,
       round((percentile_cont(0.9) within group (order by to_pr))::numeric, 1) as pr_p90,
       count(to_green) as green_count,
       round((percentile_cont(0.5) within group (order by to_green))::numeric, 1) as green_p50,
       round((percentile_cont(0.9) within group (order by to_green))::numeric, 1) as green_p90
  from spans;

-- name: stats_step_errors
-- Per workflow step: how many finished, how many of those failed. Running steps are not counted.
select s.step,
       count(*) filter (where s.status in ('succeeded', 'failed')) as finished,
       count(*) filter (where s.status = 'failed') as failed,
       round(count(*) filter (where s.status = 'failed')::numeric
             / nullif(count(*) filter (where s.status in ('succeeded', 'failed')), 0), 4) as error_rate
  from workflow_steps s
  join workflow_executions e on e.id = s.execution_id
  join tasks t on t.id = e.task_id
 where t.repository_id = any(%(counted)s::bigint[])
 group by s.step
 order by s.step;

-- name: stats_tasks
-- Task counts, retries (a maintainer's retry or the API's: retry_count > 0) and attempts per task
-- (tasks that started at least one attempt).
select coalesce(sum(n), 0) as total,
       coalesce(jsonb_object_agg(status, n), '{}') as by_status,
       coalesce(sum(retried), 0) as retried,
       coalesce(sum(retried_completed), 0) as retried_completed,
       round(sum(retried_completed)::numeric / nullif(sum(retried), 0), 4) as retry_success_rate,
       coalesce(sum(started), 0) as started,
       round(sum(attempts)::numeric / nullif(sum(started), 0), 2) as attempts_mean,
       max(attempts_max) as attempts_max
  from (
    select t.status,
           count(*) as n,
           count(*) filter (where t.retry_count > 0) as retried,
           count(*) filter (where t.retry_count > 0 and t.status = 'completed') as retried_completed,
           count(*) filter (where t.attempt > 0) as started,
           sum(t.attempt) filter (where t.attempt > 0) as attempts,
           max(t.attempt) filter (where t.attempt > 0) as attempts_max
      from tasks t
     where t.repository_id = any(%(counted)s::bigint[])
     group by t.status
  ) per_status;
