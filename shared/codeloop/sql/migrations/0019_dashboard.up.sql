-- The dashboard (/app/): signed-in sessions, operators' one-time links, the key that signs the
-- cookies, and the indexes behind the tasks list's keyset pages (newest first, on (created_at, id)).
create table dashboard_sessions (
    id_hash         text primary key,                  -- SHA-256 of the session id the cookie carries
    login           text not null,                     -- the GitHub login, or 'operator' for a one-time link
    operator        boolean not null default false,    -- an operator sees every installation
    repository_ids  bigint[] not null default '{}',    -- what GitHub said the user can access at sign-in
    permissions     jsonb not null default '{}',       -- repository id -> the user's role on it, as GitHub said
    csrf_token      text not null,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null
);
create index dashboard_sessions_expires_idx on dashboard_sessions (expires_at);

create table dashboard_login_links (
    token_hash  text primary key,                      -- SHA-256 of the link's token, shown once
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);

create table dashboard_signing_keys (
    id          smallint primary key default 1 check (id = 1),
    secret      text not null,
    created_at  timestamptz not null default now()
);

create index tasks_created_idx on tasks (created_at desc, id desc);
create index tasks_repository_created_idx on tasks (repository_id, created_at desc, id desc);
create index audit_log_sweeper_idx on audit_log (created_at desc, id desc) where actor = 'sweeper';

-- The prompt an attempt went out with: its latest rendering (a prompt rebuilt for the same attempt
-- counts once). The dashboard's green rate by day reads it; stats_template_success may too.
create view attempt_prompts as
select distinct on (task_id, attempt) task_id, attempt, template_id, template_version, created_at
  from rendered_prompts
 order by task_id, attempt, created_at desc;
