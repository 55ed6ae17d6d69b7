-- name: lock_prompt_sync
-- One sync at a time (deploy, make dev and an operator may start one together).
select pg_advisory_xact_lock(hashtext('codeloop.prompt_sync'));

-- name: prompt_templates
select * from prompt_templates order by id;

-- name: get_prompt_template
select * from prompt_templates where id = %(id)s;

-- name: upsert_prompt_template
-- A template seen in the shipped files: its descriptive columns follow the file; it is current again.
insert into prompt_templates (id, description, task_types, complexity_min, complexity_max)
values (%(id)s, %(description)s, %(task_types)s, %(complexity_min)s, %(complexity_max)s)
on conflict (id) do update
   set description = excluded.description,
       task_types = excluded.task_types,
       complexity_min = excluded.complexity_min,
       complexity_max = excluded.complexity_max,
       retired_at = null
returning *;

-- name: prompt_version_by_hash
select * from prompt_template_versions where template_id = %(template_id)s and content_hash = %(content_hash)s;

-- name: insert_prompt_version
insert into prompt_template_versions (template_id, version, body, metadata, content_hash)
select %(template_id)s, coalesce(max(version), 0) + 1, %(body)s, %(metadata)s, %(content_hash)s
  from prompt_template_versions where template_id = %(template_id)s
returning *;

-- name: latest_prompt_version
select coalesce(max(version), 0) as version from prompt_template_versions where template_id = %(template_id)s;

-- name: set_prompt_template_versions
update prompt_templates
   set active_version = %(active_version)s, synced_version = %(synced_version)s
 where id = %(id)s
returning *;

-- name: retire_prompt_templates
-- Templates whose files are gone: kept with their versions (rendered prompts refer to them), not selectable.
update prompt_templates set retired_at = now()
 where retired_at is null and not (id = any(%(current_ids)s))
returning *;

-- name: prompt_version
select * from prompt_template_versions where template_id = %(template_id)s and version = %(version)s;

-- name: set_prompt_active_version
update prompt_templates set active_version = %(active_version)s where id = %(id)s returning *;

-- name: audit_prompt_rollback
insert into audit_log (entity, entity_id, action, old_values, new_values, changed_fields, actor)
values ('prompt_templates', %(id)s, 'rolled_back', %(old_values)s, %(new_values)s, '{active_version}', %(actor)s);

-- name: prompt_template_summaries
select t.*, count(v.version)::integer as versions, coalesce(max(v.version), 0) as latest_version
  from prompt_templates t left join prompt_template_versions v on v.template_id = t.id
 group by t.id
 order by t.id;

-- name: available_prompt_versions
-- What selection may choose: every version of a current template up to its active version
-- (all of them when none is set); a rollback withdraws the later versions, pins included.
-- active: the version a rollback (or a reverted file) set, which then serves alone.
select v.*, coalesce(v.version = t.active_version, false) as active
  from prompt_template_versions v
  join prompt_templates t on t.id = v.template_id
 where t.retired_at is null
   and (t.active_version is null or v.version <= t.active_version)
 order by v.template_id, v.version;

-- name: insert_rendered_prompt
insert into rendered_prompts (task_id, attempt, kind, template_id, template_version, template_sha256,
                              selection_reason, body, context_manifest, size_chars, context_chars,
                              context_budget, task_chars, sha256, gathering)
values (%(task_id)s, %(attempt)s, %(kind)s, %(template_id)s, %(template_version)s, %(template_sha256)s,
        %(selection_reason)s, %(body)s, %(context_manifest)s, %(size_chars)s, %(context_chars)s,
        %(context_budget)s, %(task_chars)s, %(sha256)s, %(gathering)s)
returning *;

-- name: rendered_prompt_for_attempt
select * from rendered_prompts
 where task_id = %(task_id)s and attempt = %(attempt)s and kind = %(kind)s
 order by created_at desc
 limit 1;

-- name: rendered_prompt_by_id
select * from rendered_prompts where id = %(id)s;

-- name: earlier_attempts
-- Every attempt before this one: what the agent did and what validation said.
select coalesce(c.attempt, v.attempt) as attempt,
       c.status as codegen_status, c.summary as codegen_summary, c.error as codegen_error,
       c.pull_requests, c.web_url,
       v.status as validation_status, v.summary as validation_summary
  from (select * from codegen_runs where task_id = %(task_id)s) c
  full join (select * from validation_runs where task_id = %(task_id)s) v on v.attempt = c.attempt
 where coalesce(c.attempt, v.attempt) < %(attempt)s
 order by 1;
