-- name: bound_lock_wait
-- How long the next lock of this transaction may be waited for before it fails (55P03).
select set_config('lock_timeout', %(wait)s, true);

-- name: hold_task_lock
-- A session lock on one task for one purpose (two-key form: its own space, apart from the
-- migrations' one-key lock). A hash collision only serializes two tasks, never mixes them up.
select pg_advisory_lock(hashtext(%(purpose)s), hashtext(%(task_id)s));

-- name: release_task_lock
select pg_advisory_unlock(hashtext(%(purpose)s), hashtext(%(task_id)s));
