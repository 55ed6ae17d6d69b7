-- The codegen dispatcher's shared state: a circuit breaker per provider, a rate bucket per
-- limited API, tasks waiting for a provider, and what a run needs to be finished by the sweeper.

create table provider_breakers (
    provider           text primary key,
    state              text not null default 'closed' check (state in ('closed', 'open', 'half_open')),
    failures           integer not null default 0 check (failures >= 0),
    window_started_at  timestamptz,
    opened_at          timestamptz,
    probe_until        timestamptz,                  -- half-open: the probe's claim runs until then
    updated_at         timestamptz not null default now()
);
create trigger provider_breakers_touch before update on provider_breakers
    for each row execute function codeloop_touch_updated_at();

create table rate_buckets (
    name      text primary key,
    taken_at  timestamptz[] not null default '{}'     -- grants inside the window; each returns a window later
);

create table provider_waits (
    task_id         uuid not null references tasks (id) on delete cascade,
    attempt         integer not null,
    execution_name  text not null,
    providers       text[] not null,                 -- the task's providers, in order
    message         jsonb not null,                  -- the step message to send again on resume
    since           timestamptz not null default now(),
    primary key (task_id, attempt)
);

alter table codegen_runs
    add column execution_name text,
    add column claimed_until  timestamptz,           -- 'starting': one instance is calling the provider
    add column failed_calls   integer not null default 0,
    add column answered_at    timestamptz,           -- the step's task token was answered
    add column pr_number      integer,
    add column head_sha       text;
create index codegen_runs_unanswered_idx on codegen_runs (task_id)
    where answered_at is null and external_id is not null;
