-- When GitHub last confirmed a dashboard session's repositories (the App asks for the user's role
-- on each once DASHBOARD_ACCESS_RECHECK_MINUTES have passed), and the index the sweeper prunes the
-- replies to strangers' comments by.
alter table dashboard_sessions add column access_checked_at timestamptz not null default now();

create index comment_replies_replied_idx on comment_replies (replied_at);
