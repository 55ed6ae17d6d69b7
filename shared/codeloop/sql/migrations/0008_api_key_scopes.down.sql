alter table api_keys drop column installation_ids, drop column repository_ids;
-- The per-key request windows (rate_buckets 'api-key:<id>') belong to this feature too.
delete from rate_buckets where name like 'api-key:%';
