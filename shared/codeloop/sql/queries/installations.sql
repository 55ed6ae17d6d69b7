-- name: upsert_installation
insert into installations (id, account_login, account_type, permissions, suspended_at, deleted_at)
values (%(id)s, %(account_login)s, %(account_type)s, %(permissions)s, %(suspended_at)s, null)
on conflict (id) do update
   set account_login = excluded.account_login,
       account_type = excluded.account_type,
       permissions = excluded.permissions,
       suspended_at = excluded.suspended_at,
       deleted_at = null
returning *;

-- name: set_installation_suspended
update installations set suspended_at = %(suspended_at)s where id = %(id)s returning *;

-- name: mark_installation_deleted
-- An uninstalled App keeps its history; its repositories stop taking work.
with gone as (
    update installations set deleted_at = now() where id = %(id)s returning id
)
update repositories set active = false where installation_id in (select id from gone);

-- name: get_installation
select * from installations where id = %(id)s;

-- name: upsert_repository
-- Installation events do not name the default branch: a null keeps the one already known.
insert into repositories (id, installation_id, full_name, default_branch, private, active)
values (%(id)s, %(installation_id)s, %(full_name)s, coalesce(%(default_branch)s, 'main'), %(private)s, true)
on conflict (id) do update
   set installation_id = excluded.installation_id,
       full_name = excluded.full_name,
       default_branch = coalesce(%(default_branch)s, repositories.default_branch),
       private = excluded.private,
       active = true
returning *;

-- name: deactivate_repository
update repositories set active = false where id = %(id)s returning *;

-- name: get_repository
select * from repositories where id = %(id)s;

-- name: get_repository_by_name
select * from repositories where lower(full_name) = lower(%(full_name)s);

-- name: update_repository_settings
update repositories
   set setup_commands = coalesce(%(setup_commands)s, setup_commands),
       test_commands = coalesce(%(test_commands)s, test_commands),
       deploy_commands = coalesce(%(deploy_commands)s, deploy_commands),
       rules = coalesce(%(rules)s, rules),
       auto_merge = coalesce(%(auto_merge)s, auto_merge),
       iteration_budget = coalesce(%(iteration_budget)s, iteration_budget)
 where id = %(id)s
returning *;

-- name: ensure_installation
-- An installation first seen through a command (installed before codeloop kept its tables).
insert into installations (id, account_login) values (%(id)s, %(account_login)s)
on conflict (id) do nothing;
