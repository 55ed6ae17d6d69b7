alter table workflow_steps drop column task_token;
