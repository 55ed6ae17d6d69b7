comment on column installation_budgets.max_usd_per_month is null;
comment on column installation_budgets.max_usd_per_day is null;
drop table task_figures;
drop view task_figures_computed;
drop table task_outcomes;
alter view task_outcomes_computed rename to task_outcomes;
