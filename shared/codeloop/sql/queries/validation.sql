-- name: save_validation_run
-- One row per (task, attempt): a step run again (a redelivered message, a Step Functions retry)
-- replaces what the earlier run stored.
insert into validation_runs (task_id, attempt, head_sha, status, commands, results, summary, annotations,
                             failure_signature, task_token, pr_number, execution_name, checks_deadline_at,
                             started_at, finished_at, tree_sha)
values (%(task_id)s, %(attempt)s, %(head_sha)s, %(status)s, %(commands)s, %(results)s, %(summary)s,
        %(annotations)s, %(failure_signature)s, %(task_token)s, %(pr_number)s, %(execution_name)s,
        %(checks_deadline_at)s, %(started_at)s,
        case when %(status)s in ('passed', 'failed', 'error', 'not_run') then now() end, %(tree_sha)s)
on conflict (task_id, attempt) do update
   set head_sha = excluded.head_sha,
       status = excluded.status,
       commands = excluded.commands,
       results = excluded.results,
       summary = excluded.summary,
       annotations = excluded.annotations,
       failure_signature = excluded.failure_signature,
       task_token = excluded.task_token,
       pr_number = excluded.pr_number,
       execution_name = excluded.execution_name,
       checks_deadline_at = excluded.checks_deadline_at,
       started_at = excluded.started_at,
       finished_at = excluded.finished_at,
       tree_sha = excluded.tree_sha
returning *;

-- name: get_validation_run
select * from validation_runs where id = %(id)s;

-- name: validation_run_for_attempt
select * from validation_runs where task_id = %(task_id)s and attempt = %(attempt)s;

-- name: waiting_validation_runs_for_commit
-- The runs waiting for the repository's CI on one commit of one repository.
select v.*, r.full_name as repository_full_name, r.installation_id
  from validation_runs v
  join tasks t on t.id = v.task_id
  join repositories r on r.id = t.repository_id
 where v.status = 'waiting_checks' and v.head_sha = %(head_sha)s and lower(r.full_name) = lower(%(full_name)s)
 order by v.created_at;

-- name: waiting_validation_runs
-- Every run still waiting for the repository's CI, the longest-waiting first.
select v.*, r.full_name as repository_full_name, r.installation_id
  from validation_runs v
  join tasks t on t.id = v.task_id
  join repositories r on r.id = t.repository_id
 where v.status = 'waiting_checks'
 order by v.checks_deadline_at nulls first
 limit %(limit)s;

-- name: finish_waiting_validation_run
-- Ends a wait only once: of two callers finishing the same run, the second gets no row.
update validation_runs
   set status = %(status)s,
       results = %(results)s,
       summary = %(summary)s,
       annotations = %(annotations)s,
       failure_signature = %(failure_signature)s,
       task_token = null,
       finished_at = now()
 where id = %(id)s and status = 'waiting_checks'
returning *;

-- name: previous_validation_run
-- The task's latest validation before this attempt: its failure signature tells a repeated failure.
select * from validation_runs
 where task_id = %(task_id)s and attempt < %(attempt)s
 order by attempt desc
 limit 1;

-- name: validated_green_tree
-- Whether a validation of the repository passed on this git tree (a merge group's tree equals
-- the pull request's when the merge changed nothing).
select exists (
    select 1
      from validation_runs v
      join tasks t on t.id = v.task_id
      join repositories r on r.id = t.repository_id
     where v.status = 'passed' and v.tree_sha = %(tree_sha)s and lower(r.full_name) = lower(%(full_name)s)
) as green;

-- name: flaky_in_other_tasks
-- Which of these tests another task's validation of the same repository also found flaky.
select distinct f.test_id
  from validation_runs v
  join tasks t on t.id = v.task_id
  join repositories r on r.id = t.repository_id
  cross join lateral jsonb_array_elements_text(v.results -> 'flaky_tests') as f(test_id)
 where lower(r.full_name) = lower(%(full_name)s)
   and v.task_id <> %(task_id)s
   and f.test_id = any(%(test_ids)s)
 order by f.test_id;

-- name: stored_review
-- The AI review already obtained for this validation run's head commit, if any.
select review from validation_reviews
 where task_id = %(task_id)s and attempt = %(attempt)s and head_sha = %(head_sha)s;

-- name: store_review
-- The first review kept wins (the reviews are asked under the task's review lock: there is one).
insert into validation_reviews (task_id, attempt, head_sha, review)
values (%(task_id)s, %(attempt)s, %(head_sha)s, %(review)s)
on conflict (task_id, attempt, head_sha) do nothing;
