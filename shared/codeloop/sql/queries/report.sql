-- name: report_codegen_runs
select attempt, provider, web_url, status, pull_requests from codegen_runs where task_id = %(task_id)s order by attempt;

-- name: report_validation_runs
select attempt, status, head_sha, results from validation_runs where task_id = %(task_id)s order by attempt;

-- name: report_cancelled_by
select actor from audit_log
 where entity = 'tasks' and entity_id = %(task_id)s and new_values ->> 'status' = 'cancelled'
 order by id desc limit 1;

-- name: report_tasks_with_auto_merge_enabled
-- The tasks whose stored auto-merge outcome says codeloop turned GitHub's auto-merge on for this
-- pull request (``metadata.auto_merge``), newest first.
select * from tasks
 where repository_id = %(repository_id)s
   and metadata -> 'auto_merge' ->> 'action' = 'auto_merge_enabled'
   and metadata -> 'auto_merge' ->> 'pr_number' = %(number)s::text
 order by created_at desc;
