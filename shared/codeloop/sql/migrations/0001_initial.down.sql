drop table if exists audit_log, webhook_deliveries, workflow_steps, workflow_executions, validation_runs,
    codegen_runs, rendered_prompts, prompt_template_versions, prompt_templates, tasks, repositories,
    installations cascade;
drop function if exists codeloop_audit_status() cascade;
drop function if exists codeloop_audit_created() cascade;
drop function if exists codeloop_touch_updated_at() cascade;
