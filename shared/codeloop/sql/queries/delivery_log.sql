-- The delivery log behind GET /api/v1/deliveries and `codeloop deliveries`. An API key's scope
-- arrives as %(installation_ids)s and %(repository_ids)s (null: no bound, for operators): a
-- delivery is in scope when its repository is, or its installation is.

-- name: list_deliveries
-- One page, newest first, strictly after the cursor (%(after_received_at)s, %(after_id)s).
select delivery_id, source, event, action, installation_id, repository_id, repository_full_name, status,
       error, attempts, received_at, queued_at, processed_at
  from webhook_deliveries
 where (%(installation_ids)s::bigint[] is null
        or installation_id = any(%(installation_ids)s::bigint[])
        or repository_id = any(%(repository_ids)s::bigint[]))
   and (%(source)s::text is null or source = %(source)s::text)
   and (%(event)s::text is null or event = %(event)s::text)
   and (%(action)s::text is null or action = %(action)s::text)
   and (%(repository)s::text is null or lower(repository_full_name) = lower(%(repository)s::text))
   and (%(status)s::text is null or status = %(status)s::text)
   and (%(since)s::timestamptz is null or received_at >= %(since)s::timestamptz)
   and (%(until)s::timestamptz is null or received_at < %(until)s::timestamptz)
   and (%(after_received_at)s::timestamptz is null
        or (received_at, delivery_id) < (%(after_received_at)s::timestamptz, %(after_id)s::text))
 order by received_at desc, delivery_id desc
 limit %(limit)s;

-- name: get_logged_delivery
select delivery_id, source, event, action, installation_id, repository_id, repository_full_name, status,
       error, attempts, received_at, queued_at, processed_at
  from webhook_deliveries
 where delivery_id = %(delivery_id)s;

-- name: lock_delivery
-- The delivery row, held until the replay's transaction ends, so two replays queue one at a time.
select delivery_id, source, event, action, installation_id, repository_id, repository_full_name, status,
       error, attempts, received_at, queued_at, processed_at
  from webhook_deliveries
 where delivery_id = %(delivery_id)s
   for update;

-- name: record_replay
-- The replay in the audit log: who asked (%(actor)s, e.g. api:<key name>), for which delivery.
insert into audit_log (entity, entity_id, action, old_values, new_values, changed_fields, actor, correlation_id)
values ('webhook_deliveries', %(delivery_id)s, 'replayed', %(old_values)s, %(new_values)s, '{}', %(actor)s,
        %(correlation_id)s)
returning id, actor, new_values, created_at;

-- name: replays_of
select id, actor, new_values, created_at
  from audit_log
 where entity = 'webhook_deliveries' and entity_id = %(delivery_id)s and action = 'replayed'
 order by id;
