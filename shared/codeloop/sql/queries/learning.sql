-- Learning from outcomes: the posteriors template selection samples, the quality score, and
-- failure memory. task_outcomes holds the outcomes of the tasks that ended, as the
-- task_outcomes_computed view (migration 0025, the rule of 0017) says which count and how.

-- name: template_outcomes
-- The outcomes of the given templates in tasks of the given type, by version and complexity;
-- this_repository splits the given repository's from the others'. A template that serves every
-- type (fix_failing_checks) learns per task type: a bug fix's outcomes say nothing of a feature's.
select template_id, template_version as version, complexity,
       repository_id = %(repository_id)s as this_repository,
       count(*) filter (where green) as green,
       count(*) filter (where not green) as not_green
  from task_outcomes
 where template_id = any(%(template_ids)s::text[])
   and type = %(task_type)s
 group by 1, 2, 3, 4;

-- name: task_versions
-- The version of each template the task used first: its later prompts keep it.
select distinct on (template_id) template_id, template_version as version
  from rendered_prompts
 where task_id = %(task_id)s
 order by template_id, attempt, created_at;

-- name: prompt_quality
-- Every template version with its outcomes over the repositories that count (%(counted)s, see
-- stats.sql); a version without outcomes has its prior's score.
select v.template_id, v.version,
       count(o.task_id) filter (where o.green) as green,
       count(o.task_id) filter (where not o.green) as not_green
  from prompt_template_versions v
  left join task_outcomes o
         on o.template_id = v.template_id and o.template_version = v.version
        and o.repository_id = any(%(counted)s::bigint[])
 group by 1, 2
 order by 1, 2;

-- name: remember_fix
insert into fix_memories (repository_id, task_id, attempt, failure_signature, test_ids, error_types,
                          files, summary)
values (%(repository_id)s, %(task_id)s, %(attempt)s, %(failure_signature)s, %(test_ids)s,
        %(error_types)s, %(files)s, %(summary)s)
on conflict (task_id, attempt) do nothing
returning *;

-- name: similar_fixes
-- The repository's memories of a similar failure: the same signature first, then those sharing
-- the most failing tests, then error types, then the newest.
select m.*
  from fix_memories m
 where m.repository_id = %(repository_id)s
   and (m.failure_signature = %(failure_signature)s
        or m.test_ids && %(test_ids)s::text[]
        or m.error_types && %(error_types)s::text[])
 order by m.failure_signature = %(failure_signature)s desc,
          cardinality(array(select unnest(m.test_ids) intersect select unnest(%(test_ids)s::text[]))) desc,
          cardinality(array(select unnest(m.error_types) intersect select unnest(%(error_types)s::text[]))) desc,
          m.created_at desc
 limit %(limit)s;
