-- Outcomes and costs over a period (GET /api/v1/stats?since=&until=): per template version (of a
-- task's first prompt), per repository, per installation, or over all. The tasks counted are those
-- created in [%(since)s, %(until)s) in the repositories %(counted)s (stats_counted_repositories).
-- A task is green once a validation of it passed; its cost is every call in the ledger for it
-- (green or not), so cost per green PR = what the group spent / its green tasks. USD sums the
-- priced calls only; unpriced_calls says how many are not in it.

-- name: outcomes_by
-- One row per group: group_by is 'template', 'repository', 'installation' or 'all' (one row).
with period_tasks as (
    select t.id, t.repository_id, t.attempt, t.created_at
      from tasks t
     where t.repository_id = any(%(counted)s::bigint[])
       and t.created_at >= %(since)s and t.created_at < %(until)s
), first_prompt as (
    select distinct on (p.task_id) p.task_id, p.template_id || '@' || p.template_version as template
      from rendered_prompts p
      join period_tasks t on t.id = p.task_id
     order by p.task_id, p.attempt, p.created_at desc
), green as (
    select v.task_id, min(coalesce(v.finished_at, v.updated_at)) as green_at
      from validation_runs v
      join period_tasks t on t.id = v.task_id
     where v.status = 'passed'
     group by v.task_id
), spend as (
    select u.task_id,
           sum(u.cost_usd) as usd,
           count(*) filter (where u.cost_usd is null) as unpriced,
           coalesce(sum(u.input_tokens), 0) + coalesce(sum(u.output_tokens), 0) as tokens
      from usage_records u
      join period_tasks t on t.id = u.task_id
     group by u.task_id
), facts as (
    select coalesce(f.template, '(no prompt)') as template,
           r.full_name as repository,
           coalesce(r.installation_id::text, '(none)') as installation,
           t.attempt,
           g.green_at,
           extract(epoch from g.green_at - t.created_at)::float8 as to_green,
           s.usd,
           coalesce(s.unpriced, 0) as unpriced,
           coalesce(s.tokens, 0) as tokens
      from period_tasks t
      join repositories r on r.id = t.repository_id
      left join first_prompt f on f.task_id = t.id
      left join green g on g.task_id = t.id
      left join spend s on s.task_id = t.id
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
