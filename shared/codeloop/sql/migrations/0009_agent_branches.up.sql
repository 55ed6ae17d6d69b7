-- Branches codeloop saw its agent create, per task: reported by the provider's run, or pushed
-- by codeloop's own diff provider. Only a pull request from one of these can become the task's
-- (domain/adoption.py), and codeloop pushes to no other branch.
create table agent_branches (
    task_id      uuid not null references tasks (id) on delete cascade,
    branch       text not null,
    created_by   text not null,                  -- the provider that reported it, or 'codeloop'
    run_id       text,                           -- the provider's run that reported or produced it
    recorded_at  timestamptz not null default now(),
    primary key (task_id, branch)
);
