-- Learning from outcomes (issue 14, parts 4 and 5).
--
-- task_outcomes: one row per task that ended with something to say about its prompts and per
-- template it used, for the version of that template it used first (a task keeps its version of
-- each template across attempts: the initial prompt's, and the fix prompts'). green: the task
-- completed (validation passed). Not green: it failed after at least one failed validation (out of
-- iterations, the same failure again, stopped by a budget before the next agent call). Cancelled
-- tasks, and tasks that failed before any verdict on their code (a provider down, an invalid
-- configuration), are left out. Template selection and the quality score both read it.
create view task_outcomes as
select distinct on (r.task_id, r.template_id)
       r.task_id, t.repository_id, t.type, t.complexity, r.template_id, r.template_version,
       t.status = 'completed' as green
  from rendered_prompts r
  join tasks t on t.id = r.task_id
 where t.status = 'completed'
    or (t.status = 'failed'
        and exists (select 1 from validation_runs v where v.task_id = t.id and v.status = 'failed'))
 order by r.task_id, r.template_id, r.attempt, r.created_at;

create index rendered_prompts_template_idx on rendered_prompts (template_id, task_id);


-- fix_memories: what turned a failure green in a repository, recalled by a later fix prompt
-- there for a similar failure (same signature, a shared failing test or error type).
create table fix_memories (
    id                uuid primary key default gen_random_uuid(),
    repository_id     bigint not null references repositories (id) on delete cascade,
    task_id           uuid not null references tasks (id) on delete cascade,
    attempt           integer not null,                 -- the attempt that turned it green
    failure_signature text not null,                    -- of the previous attempt's failure
    test_ids          text[] not null default '{}',
    error_types       text[] not null default '{}',
    files             text[] not null default '{}',     -- what the green pull request changes
    summary           text not null default '',         -- the agent's own summary, cut to size
    created_at        timestamptz not null default now(),
    unique (task_id, attempt)
);
create index fix_memories_repository_idx on fix_memories (repository_id, created_at desc);
