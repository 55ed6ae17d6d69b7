-- Linear teams mapped to repositories (`codeloop linear map`) and the Linear issues behind tasks.

-- name: map_team
insert into linear_mappings (team_key, project, repository_full_name, done_state)
values (%(team_key)s, %(project)s, %(repository_full_name)s, %(done_state)s)
on conflict (team_key, project) do update
   set repository_full_name = excluded.repository_full_name, done_state = excluded.done_state,
       updated_at = now()
returning team_key, project, repository_full_name, done_state, created_at, updated_at;

-- name: unmap_team
delete from linear_mappings where team_key = %(team_key)s and project = %(project)s
returning team_key, project, repository_full_name, done_state, created_at, updated_at;

-- name: list_mappings
select team_key, project, repository_full_name, done_state, created_at, updated_at
  from linear_mappings order by team_key, project;

-- name: mapping_for
-- The project's own mapping when there is one, else the team's.
select team_key, project, repository_full_name, done_state, created_at, updated_at
  from linear_mappings
 where team_key = %(team_key)s
   and lower(project) in (lower(%(project_id)s::text), lower(%(project_name)s::text), '')
 order by project = '' limit 1;

-- name: link_task
insert into linear_issue_tasks (task_id, issue_id, identifier, url, team_id, done_state)
values (%(task_id)s, %(issue_id)s, %(identifier)s, %(url)s, %(team_id)s, %(done_state)s)
on conflict (task_id) do nothing;

-- name: get_issue_task
select task_id, issue_id, identifier, url, team_id, done_state, comment_id, comment_body, attachment_url,
       moved_to_state, retry_at, failed_tries
  from linear_issue_tasks where task_id = %(task_id)s;

-- name: latest_task_for_issue
select task_id, issue_id, identifier, url, team_id, done_state, comment_id, comment_body, attachment_url,
       moved_to_state, retry_at, failed_tries
  from linear_issue_tasks where issue_id = %(issue_id)s order by created_at desc limit 1;

-- name: record_published
update linear_issue_tasks
   set comment_id = coalesce(%(comment_id)s, comment_id),
       comment_body = coalesce(%(comment_body)s, comment_body),
       attachment_url = coalesce(%(attachment_url)s, attachment_url),
       moved_to_state = coalesce(%(moved_to_state)s, moved_to_state)
 where task_id = %(task_id)s;

-- name: defer_publish
-- An update of the issue failed: no call for it before %(retry_at)s; one more failed try.
update linear_issue_tasks set retry_at = %(retry_at)s, failed_tries = failed_tries + 1
 where task_id = %(task_id)s;

-- name: publish_went_through
update linear_issue_tasks set retry_at = null, failed_tries = 0
 where task_id = %(task_id)s and (retry_at is not null or failed_tries > 0);
