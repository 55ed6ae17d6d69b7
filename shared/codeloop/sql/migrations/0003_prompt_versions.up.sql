-- Prompt template versioning and rendered-prompt bookkeeping (the prompt builder).
--
-- synced_version: the version the shipped file matched at the last sync. A sync changes
-- active_version only when the file has changed since then, so an operator's rollback stands
-- until the template file changes again.
-- retired_at: the file is gone from prompts/; the template is no longer selectable.
alter table prompt_templates
    add column synced_version integer,
    add column retired_at timestamptz;

alter table rendered_prompts
    add column kind text not null default 'initial' check (kind in ('initial', 'fix')),
    add column template_sha256 text,
    add column context_budget integer,
    add column task_chars integer,
    add column gathering jsonb not null default '[]';
