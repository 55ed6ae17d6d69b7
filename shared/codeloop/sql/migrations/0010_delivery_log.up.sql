-- The delivery log (GET /api/v1/deliveries): where a delivery came from, and an index for its
-- keyset pages, newest first, on (received_at, delivery_id). GitHub is the only source today;
-- Linear and Slack deliveries will name themselves.
alter table webhook_deliveries add column source text not null default 'github';
create index webhook_deliveries_log_idx on webhook_deliveries (received_at desc, delivery_id desc);
