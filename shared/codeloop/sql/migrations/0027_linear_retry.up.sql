-- A Linear update that failed (rate limit or error) is tried again by a note on the status queue:
-- no call for the task's issue before retry_at; failed_tries counts failures since the last
-- update that went through, so the retries stop after a few.
alter table linear_issue_tasks add column retry_at timestamptz;
alter table linear_issue_tasks add column failed_tries integer not null default 0;
