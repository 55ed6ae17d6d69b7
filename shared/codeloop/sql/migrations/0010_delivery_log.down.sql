drop index webhook_deliveries_log_idx;
alter table webhook_deliveries drop column source;
