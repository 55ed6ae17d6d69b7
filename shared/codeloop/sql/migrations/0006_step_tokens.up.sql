-- A running step keeps its Step Functions task token, so a cancel can end the wait it is in
-- (StopExecution alone does not reach a step that waits on a token in every engine).
alter table workflow_steps add column task_token text;
