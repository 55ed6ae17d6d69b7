-- Outcomes written when a task ends, not computed at each read (issue 14's leftovers).
--
-- Template selection (every prompt build) and GET /api/v1/stats used to compute every task's outcome
-- from its prompts, validations and ledger rows at each read: at 20,000 tasks the 30-day stats took
-- seconds. Now the rules stay views (task_outcomes_computed, task_figures_computed: the one
-- definition of each), and their rows for a task are written into tables in the transaction that
-- ends it (store.transition_task calls store.record_task_outcomes), rewritten if it ends again (a
-- retry, `/codeloop validate`) and removed while it runs again. Reads use the tables.

-- The rule of 0017's task_outcomes view, unchanged: one row per counted task and template it used.
alter view task_outcomes rename to task_outcomes_computed;

create table task_outcomes (
    task_id          uuid not null references tasks (id) on delete cascade,
    template_id      text not null,
    repository_id    bigint not null,
    type             text not null,
    complexity       smallint not null,
    template_version integer not null,
    green            boolean not null,
    primary key (task_id, template_id)
);
create index task_outcomes_template_idx on task_outcomes (template_id, template_version);

-- What the stats count of one task (outcomes.sql): its first prompt's template@version (null: no
-- prompt), its first passed validation, and what its ledger rows cost. Every task, ended or not:
-- the stats read a running task's figures here, an ended task's from task_figures.
create view task_figures_computed as
select t.id as task_id, t.repository_id, t.status, t.created_at, t.attempt,
       (select p.template_id || '@' || p.template_version
          from rendered_prompts p
         where p.task_id = t.id
         order by p.attempt, p.created_at desc
         limit 1) as template,
       (select min(coalesce(v.finished_at, v.updated_at))
          from validation_runs v
         where v.task_id = t.id and v.status = 'passed') as green_at,
       s.usd, s.unpriced_calls, s.tokens
  from tasks t
 cross join lateral (
    select sum(u.cost_usd) as usd,                                -- priced calls only
           count(*) filter (where u.cost_usd is null) as unpriced_calls,
           coalesce(sum(u.input_tokens), 0) + coalesce(sum(u.output_tokens), 0) as tokens
      from usage_records u
     where u.task_id = t.id
 ) s;

create table task_figures (
    task_id        uuid primary key references tasks (id) on delete cascade,
    repository_id  bigint not null,
    created_at     timestamptz not null,                   -- the task's: the stats' period
    attempt        integer not null,
    template       text,
    green_at       timestamptz,
    usd            numeric,
    unpriced_calls bigint not null,
    tokens         bigint not null
);
create index task_figures_period_idx on task_figures (repository_id, created_at);

-- The tasks that have ended so far.
insert into task_outcomes (task_id, template_id, repository_id, type, complexity, template_version, green)
select task_id, template_id, repository_id, type, complexity, template_version, green
  from task_outcomes_computed;

insert into task_figures (task_id, repository_id, created_at, attempt, template, green_at, usd, unpriced_calls, tokens)
select task_id, repository_id, created_at, attempt, template, green_at, usd, unpriced_calls, tokens
  from task_figures_computed
 where status in ('completed', 'failed', 'cancelled');

-- An installation's cap may now be lifted for it alone: 'Infinity' is "no cap, whatever the
-- setting" (the API's "unlimited"); null still means "the setting's".
comment on column installation_budgets.max_usd_per_day is
    'USD per UTC day; null: the setting INSTALLATION_MAX_USD_PER_DAY; Infinity: no cap';
comment on column installation_budgets.max_usd_per_month is
    'USD per UTC month; null: the setting INSTALLATION_MAX_USD_PER_MONTH; Infinity: no cap';
