drop index validation_runs_checks_deadline_idx;
alter table validation_runs
    drop column checks_deadline_at,
    drop column execution_name,
    drop column pr_number;
