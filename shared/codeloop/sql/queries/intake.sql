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

-- name: prune_comment_replies
-- Replies older than the rate window: an edit of such a comment may be answered once more, and
-- that reply counts against the reply limits like any other.
delete from comment_replies where replied_at < %(before)s;

-- name: prune_limit_notices
-- Notices whose "try again after" passed before the window began: none of them quiets anything.
delete from limit_notices where until < %(before)s;
