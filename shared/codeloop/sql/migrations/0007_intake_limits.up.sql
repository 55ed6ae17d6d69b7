-- A delivery is its signed body. X-GitHub-Delivery is not covered by the signature, so the same
-- body under a new id is a replay: as much a duplicate as a redelivery (which keeps its id).
-- Rows stored before this migration have no hash.
alter table webhook_deliveries add column body_sha256 bytea;
create unique index webhook_deliveries_body_sha256_key on webhook_deliveries (body_sha256);

-- The one reply a comment by someone without repository permission may get, edits included.
create table comment_replies (
    comment_id  bigint primary key,             -- GitHub's issue comment id (unique across repositories)
    replied_at  timestamptz not null default now()
);

-- A user over a command rate limit is told once when to try again, not once per command.
create table limit_notices (
    login       text primary key,               -- GitHub login, lower-cased
    until       timestamptz not null            -- the "try again after" the notice gave
);
