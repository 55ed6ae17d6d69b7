drop table linear_issue_tasks;
drop table linear_mappings;
