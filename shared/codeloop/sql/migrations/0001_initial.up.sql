-- The schema every step of the loop writes to. Enumerations are text with CHECK constraints so
-- that adding a value is one ALTER, not an enum migration.

create table installations (
    id              bigint primary key,                -- GitHub's installation id
    account_login   text not null,
    account_type    text not null default 'Organization',
    permissions     jsonb not null default '{}',
    suspended_at    timestamptz,
    deleted_at      timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

create table repositories (
    id               bigint primary key,               -- GitHub's repository id
    installation_id  bigint references installations (id) on delete set null,
    full_name        text not null,
    default_branch   text not null default 'main',
    private          boolean not null default false,
    active           boolean not null default true,    -- false once removed from the installation
    setup_commands   jsonb not null default '[]',
    test_commands    jsonb not null default '[]',
    deploy_commands  jsonb not null default '[]',
    rules            jsonb not null default '{}',
    auto_merge       boolean not null default false,
    iteration_budget integer not null default 3 check (iteration_budget between 0 and 10),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create unique index repositories_full_name_key on repositories (lower(full_name));
create index repositories_installation_idx on repositories (installation_id);

create table tasks (
    id                     uuid primary key default gen_random_uuid(),
    repository_id          bigint not null references repositories (id),
    title                  text not null check (length(title) between 1 and 256),
    description            text not null default '',
    requirements           jsonb not null default '[]',
    acceptance_criteria    jsonb not null default '[]',
    type                   text not null default 'feature' check (type in (
                               'feature', 'bug_fix', 'refactor', 'tests', 'docs',
                               'fix_failing_checks', 'review_feedback', 'issue_to_pr')),
    complexity             smallint not null default 5 check (complexity between 1 and 10),
    priority               text not null default 'medium'
                               check (priority in ('low', 'medium', 'high', 'critical')),
    status                 text not null default 'pending' check (status in (
                               'pending', 'queued', 'prompting', 'generating', 'waiting_provider',
                               'validating', 'completed', 'failed', 'cancelled')),
    source                 text not null default 'api' check (source in ('comment', 'label', 'api', 'batch')),
    requested_by           text,
    request_key            text unique,                -- the request that made it (delivery + command): one task per request
    issue_number           integer,                    -- the issue or PR where it was asked
    comment_id             bigint,
    base_branch            text,
    branch                 text,
    pr_number              integer,                    -- the pull request under validation
    pr_url                 text,
    head_sha               text,
    agent_run_url          text,
    attempt                integer not null default 0 check (attempt >= 0),
    error_log              jsonb not null default '[]',
    retry_count            integer not null default 0 check (retry_count >= 0),
    parent_task_id         uuid references tasks (id) on delete set null,
    workflow_execution_arn text,
    status_comment_id      bigint,
    metadata               jsonb not null default '{}',
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    completed_at           timestamptz
);
create index tasks_repository_pr_idx on tasks (repository_id, pr_number) where pr_number is not null;
create index tasks_repository_issue_idx on tasks (repository_id, issue_number) where issue_number is not null;
create index tasks_active_idx on tasks (status, updated_at)
    where status not in ('completed', 'failed', 'cancelled');
create index tasks_parent_idx on tasks (parent_task_id) where parent_task_id is not null;
create index tasks_priority_idx on tasks (priority, created_at) where status = 'pending';

create table prompt_templates (
    id              text primary key,
    description     text not null default '',
    task_types      text[] not null default '{}',
    complexity_min  smallint not null default 1,
    complexity_max  smallint not null default 10,
    active_version  integer,                           -- null: the latest version
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

create table prompt_template_versions (
    template_id   text not null references prompt_templates (id) on delete cascade,
    version       integer not null check (version >= 1),
    body          text not null,
    metadata      jsonb not null default '{}',
    content_hash  text not null,
    created_at    timestamptz not null default now(),
    primary key (template_id, version),
    unique (template_id, content_hash)
);

create table rendered_prompts (
    id                uuid primary key default gen_random_uuid(),
    task_id           uuid not null references tasks (id) on delete cascade,
    attempt           integer not null,
    template_id       text not null,
    template_version  integer not null,
    selection_reason  text not null,
    body              text not null,
    context_manifest  jsonb not null default '[]',
    size_chars        integer not null,
    context_chars     integer not null,
    sha256            text not null,
    created_at        timestamptz not null default now(),
    foreign key (template_id, template_version) references prompt_template_versions (template_id, version)
);
create index rendered_prompts_task_idx on rendered_prompts (task_id, attempt);

create table codegen_runs (
    id             uuid primary key default gen_random_uuid(),
    task_id        uuid not null references tasks (id) on delete cascade,
    attempt        integer not null,
    provider       text not null,
    external_id    text,
    status         text not null default 'starting' check (status in (
                       'starting', 'queued', 'running', 'completed', 'failed', 'cancelled', 'unknown')),
    web_url        text,
    prompt_id      uuid references rendered_prompts (id),
    task_token     text,
    pull_requests  jsonb not null default '[]',
    summary        text,
    error          text,
    deadline_at    timestamptz,
    last_polled_at timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    unique (task_id, attempt)                          -- exactly one run per (task, attempt)
);
create index codegen_runs_inflight_idx on codegen_runs (provider, updated_at)
    where status in ('starting', 'queued', 'running', 'unknown');
create index codegen_runs_external_idx on codegen_runs (provider, external_id);

create table validation_runs (
    id                 uuid primary key default gen_random_uuid(),
    task_id            uuid not null references tasks (id) on delete cascade,
    attempt            integer not null,
    head_sha           text not null,
    status             text not null default 'pending' check (status in (
                           'pending', 'running', 'waiting_checks', 'passed', 'failed', 'error', 'not_run')),
    commands           jsonb not null default '[]',
    results            jsonb not null default '[]',
    summary            text,
    annotations        jsonb not null default '[]',
    failure_signature  text,
    task_token         text,
    started_at         timestamptz,
    finished_at        timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    unique (task_id, attempt)
);
create index validation_runs_head_idx on validation_runs (head_sha) where status = 'waiting_checks';

create table workflow_executions (
    id              uuid primary key default gen_random_uuid(),
    task_id         uuid not null references tasks (id) on delete cascade,
    name            text not null unique,              -- task id + attempt: a repeated start is harmless
    execution_arn   text,
    status          text not null default 'running' check (status in (
                        'running', 'succeeded', 'failed', 'timed_out', 'aborted')),
    error           text,
    started_at      timestamptz not null default now(),
    finished_at     timestamptz,
    updated_at      timestamptz not null default now()
);
create index workflow_executions_task_idx on workflow_executions (task_id);

create table workflow_steps (
    id            bigint generated always as identity primary key,
    execution_id  uuid not null references workflow_executions (id) on delete cascade,
    step          text not null,
    attempt       integer not null default 0,
    status        text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
    error         text,
    started_at    timestamptz not null default now(),
    finished_at   timestamptz,
    duration_ms   integer generated always as
                      ((extract(epoch from finished_at - started_at) * 1000)::integer) stored,
    unique (execution_id, step, attempt)
);

create table webhook_deliveries (
    delivery_id           text primary key,            -- X-GitHub-Delivery, the same on a redelivery
    event                 text not null,
    action                text,
    installation_id       bigint,
    repository_id         bigint,
    repository_full_name  text,
    payload               jsonb not null,
    status                text not null default 'received' check (status in (
                              'received', 'queued', 'ignored', 'processed', 'failed')),
    error                 text,
    attempts              integer not null default 0,
    received_at           timestamptz not null default now(),
    queued_at             timestamptz,
    processed_at          timestamptz
);
create index webhook_deliveries_pending_idx on webhook_deliveries (received_at) where status = 'received';

create table audit_log (
    id              bigint generated always as identity primary key,
    entity          text not null,
    entity_id       text not null,
    action          text not null,
    old_values      jsonb,
    new_values      jsonb,
    changed_fields  text[] not null default '{}',
    actor           text,
    correlation_id  text,
    created_at      timestamptz not null default now()
);
create index audit_log_entity_idx on audit_log (entity, entity_id, created_at);

-- Status changes audit themselves. The actor and correlation id come from transaction-local
-- settings (set_config('codeloop.actor', …, true)) that the data layer sets.
create function codeloop_audit_status() returns trigger language plpgsql as $$
declare
    old_row jsonb := to_jsonb(old);
    new_row jsonb := to_jsonb(new);
    id_column text := coalesce(tg_argv[0], 'id');
    changed text[];
begin
    -- only UPDATEs of status reach here (creation is audited per statement)
    select coalesce(array_agg(key order by key), '{}') into changed
      from jsonb_each(new_row)
     where key <> 'updated_at' and (old_row -> key) is distinct from value;
    insert into audit_log (entity, entity_id, action, old_values, new_values, changed_fields, actor, correlation_id)
    values (
        tg_table_name,
        new_row ->> id_column,
        'status_changed',
        (select jsonb_object_agg(key, old_row -> key) from unnest(changed) key),
        (select jsonb_object_agg(key, new_row -> key) from unnest(changed) key),
        changed,
        nullif(current_setting('codeloop.actor', true), ''),
        nullif(current_setting('codeloop.correlation_id', true), '')
    );
    return new;
end;
$$;

-- Creation is audited per statement, so a batch of 1000 tasks costs one audit insert, not 1000.
create function codeloop_audit_created() returns trigger language plpgsql as $$
begin
    insert into audit_log (entity, entity_id, action, new_values, changed_fields, actor, correlation_id)
    select tg_table_name, inserted.id::text, 'created',
           jsonb_build_object('status', inserted.status, 'title', inserted.title, 'source', inserted.source),
           '{status}',
           nullif(current_setting('codeloop.actor', true), ''),
           nullif(current_setting('codeloop.correlation_id', true), '')
      from inserted;
    return null;
end;
$$;

create trigger tasks_audit_insert after insert on tasks
    referencing new table as inserted
    for each statement execute function codeloop_audit_created();
create trigger tasks_audit_status after update of status on tasks
    for each row when (old.status is distinct from new.status) execute function codeloop_audit_status();
create trigger codegen_runs_audit_status after update of status on codegen_runs
    for each row when (old.status is distinct from new.status) execute function codeloop_audit_status();
create trigger validation_runs_audit_status after update of status on validation_runs
    for each row when (old.status is distinct from new.status) execute function codeloop_audit_status();
create trigger workflow_executions_audit_status after update of status on workflow_executions
    for each row when (old.status is distinct from new.status) execute function codeloop_audit_status();
create trigger webhook_deliveries_audit_status after update of status on webhook_deliveries
    for each row when (old.status is distinct from new.status)
    execute function codeloop_audit_status('delivery_id');

-- updated_at follows every change without each query having to remember it.
create function codeloop_touch_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger installations_touch before update on installations for each row execute function codeloop_touch_updated_at();
create trigger repositories_touch before update on repositories for each row execute function codeloop_touch_updated_at();
create trigger tasks_touch before update on tasks for each row execute function codeloop_touch_updated_at();
create trigger prompt_templates_touch before update on prompt_templates for each row execute function codeloop_touch_updated_at();
create trigger codegen_runs_touch before update on codegen_runs for each row execute function codeloop_touch_updated_at();
create trigger validation_runs_touch before update on validation_runs for each row execute function codeloop_touch_updated_at();
create trigger workflow_executions_touch before update on workflow_executions for each row execute function codeloop_touch_updated_at();
