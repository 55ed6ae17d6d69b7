-- name: claim_comment_reply
-- Returns the comment id only the first time: a stranger's comment gets one reply, edits included.
insert into comment_replies (comment_id) values (%(comment_id)s)
on conflict do nothing
returning comment_id;

-- name: claim_limit_notice
-- Returns the login only when no notice given to it still runs: one "try again after" per period.
insert into limit_notices (login, until) values (lower(%(login)s), %(until)s)
on conflict (login) do update set until = excluded.until
 where limit_notices.until <= %(now)s
returning login;
