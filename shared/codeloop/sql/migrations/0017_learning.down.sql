drop table fix_memories;
drop index tasks_ended_type_idx;
drop view task_outcomes;
