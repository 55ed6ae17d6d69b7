alter table rendered_prompts
    drop column gathering,
    drop column task_chars,
    drop column context_budget,
    drop column template_sha256,
    drop column kind;

alter table prompt_templates
    drop column retired_at,
    drop column synced_version;
