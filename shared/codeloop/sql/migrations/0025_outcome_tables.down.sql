-- "unlimited" (numeric Infinity) means nothing before this migration: it goes back to not set (the
-- setting's cap), which the code before it reads.
update installation_budgets set max_usd_per_day = null where max_usd_per_day = 'Infinity';
update installation_budgets set max_usd_per_month = null where max_usd_per_month = 'Infinity';
comment on column installation_budgets.max_usd_per_month is null;
comment on column installation_budgets.max_usd_per_day is null;
drop table task_figures;
drop view task_figures_computed;
drop table task_outcomes;
alter view task_outcomes_computed rename to task_outcomes;
