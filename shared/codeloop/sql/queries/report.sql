-- name: report_codegen_runs
select attempt, provider, web_url, status, pull_requests from codegen_runs where task_id = %(task_id)s order by attempt;

-- name: report_validation_runs
select attempt, status, head_sha, results from validation_runs where task_id = %(task_id)s order by attempt;

-- name: report_cancelled_by
select actor from audit_log
 where entity = 'tasks' and entity_id = %(task_id)s and new_values ->> 'status' = 'cancelled'
 order by id desc limit 1;
