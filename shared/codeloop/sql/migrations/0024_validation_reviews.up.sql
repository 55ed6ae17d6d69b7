-- The AI review (validation.review) of one validation run's head commit, once the model answered:
-- a redelivered runner report reuses it instead of asking (and paying for) the model again.
create table validation_reviews (
    task_id    uuid not null references tasks (id) on delete cascade,
    attempt    integer not null,
    head_sha   text not null,
    review     jsonb not null,
    created_at timestamptz not null default now(),
    primary key (task_id, attempt, head_sha)
);
