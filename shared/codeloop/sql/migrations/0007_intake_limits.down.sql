drop table limit_notices;
drop table comment_replies;
drop index webhook_deliveries_body_sha256_key;
alter table webhook_deliveries drop column body_sha256;
