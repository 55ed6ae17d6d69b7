drop index comment_replies_replied_idx;
alter table dashboard_sessions drop column access_checked_at;
