-- A validation that waits for the repository's own CI keeps what it needs to finish later:
-- the pull request, the execution whose step it answers, and the time it stops waiting.
alter table validation_runs
    add column pr_number integer,
    add column execution_name text,
    add column checks_deadline_at timestamptz;

create index validation_runs_checks_deadline_idx on validation_runs (checks_deadline_at)
    where status = 'waiting_checks';
