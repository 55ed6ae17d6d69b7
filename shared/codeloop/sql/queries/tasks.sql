-- name: create_task
-- Returns nothing when a task for the same request already exists (a redelivered command).
insert into tasks (repository_id, title, description, requirements, acceptance_criteria, type, complexity,
                   priority, source, requested_by, request_key, issue_number, comment_id, base_branch, pr_number,
                   pr_url, head_sha, parent_task_id, metadata)
values (%(repository_id)s, %(title)s, %(description)s, %(requirements)s, %(acceptance_criteria)s, %(type)s,
        %(complexity)s, %(priority)s, %(source)s, %(requested_by)s, %(request_key)s, %(issue_number)s,
        %(comment_id)s, %(base_branch)s, %(pr_number)s, %(pr_url)s, %(head_sha)s, %(parent_task_id)s, %(metadata)s)
on conflict (request_key) do nothing
returning *;

-- name: task_by_request_key
select * from tasks where request_key = %(request_key)s;

-- name: create_tasks
-- Many tasks in one statement: the rows travel as one JSON array.
insert into tasks (repository_id, title, description, requirements, acceptance_criteria, type, complexity,
                   priority, source, requested_by, request_key, issue_number, comment_id, base_branch, pr_number,
                   pr_url, head_sha, parent_task_id, metadata)
select repository_id, title, description, requirements, acceptance_criteria, type, complexity, priority,
       source, requested_by, request_key, issue_number, comment_id, base_branch, pr_number, pr_url, head_sha,
       parent_task_id, metadata
  from jsonb_to_recordset(%(rows)s) as r(
       repository_id bigint, title text, description text, requirements jsonb, acceptance_criteria jsonb,
       type text, complexity smallint, priority text, source text, requested_by text, request_key text,
       issue_number integer,
       comment_id bigint, base_branch text, pr_number integer, pr_url text, head_sha text,
       parent_task_id uuid, metadata jsonb)
returning *;

-- name: get_task
select * from tasks where id = %(id)s;

-- name: lock_task
select * from tasks where id = %(id)s for update;

-- name: set_task_status
update tasks
   set status = %(status)s,
       completed_at = case when %(status)s in ('completed', 'failed', 'cancelled') then now() end,
       error_log = case when %(error)s::jsonb is null then error_log else error_log || %(error)s::jsonb end
 where id = %(id)s
returning *;

-- name: update_task_fields
-- Only the fields given (non-null) change; status never changes here (see set_task_status).
update tasks
   set branch = coalesce(%(branch)s, branch),
       pr_number = coalesce(%(pr_number)s, pr_number),
       pr_url = coalesce(%(pr_url)s, pr_url),
       head_sha = coalesce(%(head_sha)s, head_sha),
       agent_run_url = coalesce(%(agent_run_url)s, agent_run_url),
       attempt = coalesce(%(attempt)s, attempt),
       retry_count = coalesce(%(retry_count)s, retry_count),
       workflow_execution_arn = coalesce(%(workflow_execution_arn)s, workflow_execution_arn),
       status_comment_id = coalesce(%(status_comment_id)s, status_comment_id),
       metadata = metadata || coalesce(%(metadata)s, '{}'::jsonb)
 where id = %(id)s
returning *;

-- name: latest_task_for_thread
-- The newest task asked for on an issue or PR, or whose pull request it is.
select * from tasks
 where repository_id = %(repository_id)s and (issue_number = %(number)s or pr_number = %(number)s)
 order by created_at desc
 limit 1;

-- name: list_tasks
select * from tasks
 where (%(repository_id)s::bigint is null or repository_id = %(repository_id)s)
   and (%(status)s::text is null or status = %(status)s)
 order by created_at desc
 limit %(limit)s;

-- name: task_audit
select * from audit_log where entity = 'tasks' and entity_id = %(id)s order by id;

-- name: unlaunched_tasks
-- Queued tasks whose workflow never started (the start failed after the status was committed);
-- not a batch task still waiting for its turn (its batch_item note brings the token, then starts it).
select * from tasks
 where status = 'queued' and workflow_execution_arn is null
   and (not metadata ? 'batch_id' or metadata ? 'batch_token')
   and updated_at <= now() - make_interval(secs => %(older_than_seconds)s)
 order by updated_at
 limit %(limit)s;
