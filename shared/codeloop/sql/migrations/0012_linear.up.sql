-- Linear: which GitHub repository a Linear team (or one of its projects) asks work of, and the
-- Linear issue behind a task, with the one comment and the attachment codeloop keeps there.
create table linear_mappings (
    team_key             text not null,              -- the team's key, e.g. ENG (upper case)
    project              text not null default '',   -- a project id or name; '' for the whole team
    repository_full_name text not null,
    done_state           text,                        -- a workflow state name, e.g. "In Review"
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (team_key, project)
);

create table linear_issue_tasks (
    task_id        uuid primary key references tasks (id) on delete cascade,
    issue_id       text not null,                    -- Linear's issue id (a UUID)
    identifier     text not null,                    -- e.g. ENG-123
    url            text not null,
    team_id        text not null,
    done_state     text,                             -- copied from the mapping when the task starts
    comment_id     text,                             -- codeloop's one comment on the issue
    comment_body   text,                             -- what it says now (unchanged text is not sent again)
    attachment_url text,                             -- the pull request the attachment links
    moved_to_state text,                             -- the done state, once the issue was moved there
    created_at     timestamptz not null default now()
);
create index linear_issue_tasks_issue_idx on linear_issue_tasks (issue_id, created_at desc);
