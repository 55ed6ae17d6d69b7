drop index if exists codegen_runs_unanswered_idx;
alter table codegen_runs
    drop column if exists execution_name,
    drop column if exists claimed_until,
    drop column if exists failed_calls,
    drop column if exists answered_at,
    drop column if exists pr_number,
    drop column if exists head_sha;
drop table if exists provider_waits;
drop table if exists rate_buckets;
drop table if exists provider_breakers;
