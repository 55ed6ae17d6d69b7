drop table fix_memories;
drop index rendered_prompts_template_idx;
drop view task_outcomes;
