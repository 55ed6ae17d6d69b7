drop table if exists installation_budgets;
drop table if exists usage_records;
