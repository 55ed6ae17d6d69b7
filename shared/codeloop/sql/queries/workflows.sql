-- name: start_execution
-- Starting the same execution name twice is harmless: the first row stands.
insert into workflow_executions (task_id, name, execution_arn)
values (%(task_id)s, %(name)s, %(execution_arn)s)
on conflict (name) do update set execution_arn = coalesce(excluded.execution_arn, workflow_executions.execution_arn)
returning *;

-- name: finish_execution
update workflow_executions
   set status = %(status)s, error = %(error)s, finished_at = now()
 where name = %(name)s
returning *;

-- name: start_step
insert into workflow_steps (execution_id, step, attempt, task_token)
select id, %(step)s, %(attempt)s, %(task_token)s from workflow_executions where name = %(name)s
on conflict (execution_id, step, attempt) do update
   set status = 'running', error = null, started_at = now(), finished_at = null,
       task_token = excluded.task_token
returning *;

-- name: finish_step
update workflow_steps s
   set status = %(status)s, error = %(error)s, finished_at = now(), task_token = null
  from workflow_executions e
 where s.execution_id = e.id and e.name = %(name)s and s.step = %(step)s and s.attempt = %(attempt)s
returning s.*;

-- name: executions_for_task
select * from workflow_executions where task_id = %(task_id)s order by started_at;

-- name: steps_for_task
select s.*, e.name as execution_name
  from workflow_steps s join workflow_executions e on e.id = s.execution_id
 where e.task_id = %(task_id)s
 order by s.started_at, s.id;

-- name: running_executions
-- Executions the ledger still shows running: the sweeper asks Step Functions how they ended.
select * from workflow_executions
 where status = 'running' and started_at <= now() - make_interval(secs => %(older_than_seconds)s)
 order by started_at
 limit %(limit)s;

-- name: execution_by_name
select * from workflow_executions where name = %(name)s;

-- name: waiting_step_tokens
-- The tokens of a task's steps still running: what a cancel answers.
select s.task_token
  from workflow_steps s join workflow_executions e on e.id = s.execution_id
 where e.task_id = %(task_id)s and s.status = 'running' and s.task_token is not null;
