-- name: create_api_key
insert into api_keys (name, prefix, key_hash, installation_ids, repository_ids, may_raise_caps)
values (%(name)s, %(prefix)s, %(key_hash)s, %(installation_ids)s, %(repository_ids)s, %(may_raise_caps)s)
returning id, name, prefix, installation_ids, repository_ids, may_raise_caps, created_at, last_used_at, revoked_at;

-- name: authenticate_api_key
-- A live key's record, touching its last use.
update api_keys set last_used_at = now()
 where key_hash = %(key_hash)s and revoked_at is null
returning id, name, prefix, installation_ids, repository_ids, may_raise_caps, created_at, last_used_at, revoked_at;

-- name: scope_api_key
-- Replace a live key's scope.
update api_keys set installation_ids = %(installation_ids)s, repository_ids = %(repository_ids)s
 where name = %(name)s and revoked_at is null
returning id, name, prefix, installation_ids, repository_ids, may_raise_caps, created_at, last_used_at, revoked_at;

-- name: revoke_api_key
update api_keys set revoked_at = now() where name = %(name)s and revoked_at is null
returning id, name, prefix, installation_ids, repository_ids, may_raise_caps, created_at, last_used_at, revoked_at;

-- name: list_api_keys
select id, name, prefix, installation_ids, repository_ids, may_raise_caps, created_at, last_used_at, revoked_at
  from api_keys order by created_at;
