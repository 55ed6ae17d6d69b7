-- The cost and usage ledger (issue 14): one row per model call or agent run, and the operator's
-- per-installation caps.
create table usage_records (
    id               bigserial primary key,
    task_id          uuid not null references tasks (id) on delete cascade,
    attempt          integer not null,
    repository_id    bigint not null,
    installation_id  bigint,
    operation        text not null,           -- gen_ai.operation.name: chat | invoke_agent
    provider         text not null,           -- gen_ai.provider.name
    model            text,                    -- gen_ai.request.model
    prompt_name      text,                    -- gen_ai.prompt.name: template@version
    external_id      text,                    -- the completion's or the agent run's id
    input_tokens     integer,                 -- null: the API did not report it
    output_tokens    integer,
    duration_seconds double precision not null,
    cost_usd         numeric(14, 6),          -- null: unpriced (unknown model or no tokens), never 0
    recorded_at      timestamptz not null default now()
);
-- An agent run is recorded once per attempt, however many times its end is seen.
create unique index usage_records_once_idx on usage_records (task_id, attempt, provider, operation, external_id);
create index usage_records_task_idx on usage_records (task_id, attempt);
create index usage_records_installation_idx on usage_records (installation_id, recorded_at);
create index usage_records_repository_idx on usage_records (repository_id, recorded_at);

create table installation_budgets (
    installation_id    bigint primary key,
    max_usd_per_day    numeric,               -- null: the setting's default applies
    max_usd_per_month  numeric,
    updated_by         text,
    updated_at         timestamptz not null default now()
);
