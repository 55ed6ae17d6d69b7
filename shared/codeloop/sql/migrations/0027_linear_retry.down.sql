alter table linear_issue_tasks drop column failed_tries;
alter table linear_issue_tasks drop column retry_at;
