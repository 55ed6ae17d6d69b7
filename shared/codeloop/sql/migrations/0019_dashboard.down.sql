drop view if exists attempt_prompts;
drop index if exists audit_log_sweeper_idx;
drop index if exists tasks_repository_created_idx;
drop index if exists tasks_created_idx;
drop table if exists dashboard_signing_keys;
drop table if exists dashboard_login_links;
drop table if exists dashboard_sessions;
