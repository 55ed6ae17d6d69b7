-- name: insert_delivery
-- Returns nothing when the delivery id, or the same body under another id (a replay), is stored.
insert into webhook_deliveries (delivery_id, event, action, installation_id, repository_id,
                                repository_full_name, payload, status, body_sha256, source, queued_at)
values (%(delivery_id)s, %(event)s, %(action)s, %(installation_id)s, %(repository_id)s,
        %(repository_full_name)s, %(payload)s, %(status)s, %(body_sha256)s, %(source)s,
        case when %(status)s = 'queued' then now() end)
on conflict do nothing
returning delivery_id, event, action, installation_id, repository_id, repository_full_name, status, error,
          attempts, received_at, queued_at, processed_at;

-- name: get_delivery
select delivery_id, event, action, installation_id, repository_id, repository_full_name, status, error,
       attempts, received_at, queued_at, processed_at, source
  from webhook_deliveries where delivery_id = %(delivery_id)s;

-- name: get_delivery_payload
select payload from webhook_deliveries where delivery_id = %(delivery_id)s;

-- name: place_delivery
-- A delivery that arrived naming no installation (Slack's, Linear's) takes the repository it turned
-- out to be about, and that repository's installation, so API keys scoped to either list it.
update webhook_deliveries
   set installation_id = coalesce(installation_id, %(installation_id)s),
       repository_id = coalesce(repository_id, %(repository_id)s),
       repository_full_name = coalesce(repository_full_name, %(repository_full_name)s)
 where delivery_id = %(delivery_id)s;

-- name: set_delivery_status
update webhook_deliveries
   set status = %(status)s,
       error = %(error)s,
       attempts = attempts + case when %(status)s in ('processed', 'failed') then 1 else 0 end,
       queued_at = case when %(status)s = 'queued' then now() else queued_at end,
       processed_at = case when %(status)s in ('processed', 'failed', 'ignored') then now() else processed_at end
 where delivery_id = %(delivery_id)s
returning delivery_id, event, action, installation_id, repository_id, repository_full_name, status, error,
          attempts, received_at, queued_at, processed_at;

-- name: mark_delivery_queued
-- Only a delivery still waiting for the queue: the worker may have taken it from the queue, and
-- marked it processed, before the receiver gets here.
update webhook_deliveries
   set status = 'queued', queued_at = now()
 where delivery_id = %(delivery_id)s and status = 'received'
returning delivery_id;

-- name: unqueue_delivery
-- The receiver stored it as queued, then could not send it: 'received' again, for the sweeper.
update webhook_deliveries
   set status = 'received', queued_at = null
 where delivery_id = %(delivery_id)s and status = 'queued';

-- name: claim_unsent_deliveries
-- Stored as queued and still not processed long after: the receiver may have stopped between the
-- insert and the send. Each is claimed for another send (its queued_at moves on), so a delivery
-- that is only waiting behind a backlog is sent again at most once a period; the worker skips a
-- second copy of a delivery it processed.
update webhook_deliveries
   set queued_at = now()
 where delivery_id in (select delivery_id from webhook_deliveries
                        where status = 'queued' and queued_at <= now() - make_interval(secs => %(older_than_seconds)s)
                        order by queued_at
                        limit %(limit)s
                          for update skip locked)
returning delivery_id, event, action, installation_id, repository_id, repository_full_name, status, error,
          attempts, received_at, queued_at, processed_at;

-- name: stuck_deliveries
-- Deliveries stored but never queued (the enqueue failed after the row was written), each with its
-- latest replay: a replay leaves its delivery 'received' until its message is sent, and that
-- message must say what the replay asked (new_task).
select d.delivery_id, d.event, d.action, d.installation_id, d.repository_id, d.repository_full_name, d.status,
       d.error, d.attempts, d.received_at, d.queued_at, d.processed_at,
       replay.id as replay_id, coalesce((replay.new_values ->> 'new_task')::boolean, false) as replay_new_task
  from webhook_deliveries d
  left join lateral (select id, new_values
                       from audit_log
                      where entity = 'webhook_deliveries' and entity_id = d.delivery_id and action = 'replayed'
                      order by id desc
                      limit 1) replay on true
 where d.status = 'received' and d.received_at <= now() - make_interval(secs => %(older_than_seconds)s)
 order by d.received_at
 limit %(limit)s;
