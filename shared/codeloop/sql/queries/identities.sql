-- Linear and Slack users linked to GitHub logins (`codeloop link`).

-- name: link_identity
-- Link, or relink, one outside user to a GitHub login.
insert into external_identities (provider, external_id, github_login, linked_by)
values (%(provider)s, %(external_id)s, %(github_login)s, %(linked_by)s)
on conflict (provider, external_id) do update
   set github_login = excluded.github_login, linked_by = excluded.linked_by, updated_at = now()
returning provider, external_id, github_login, linked_by, created_at, updated_at;

-- name: unlink_identity
delete from external_identities
 where provider = %(provider)s and external_id = %(external_id)s
returning provider, external_id, github_login, linked_by, created_at, updated_at;

-- name: get_identity
select provider, external_id, github_login, linked_by, created_at, updated_at
  from external_identities
 where provider = %(provider)s and external_id = %(external_id)s;

-- name: list_identities
select provider, external_id, github_login, linked_by, created_at, updated_at
  from external_identities
 where %(provider)s::text is null or provider = %(provider)s::text
 order by provider, lower(github_login), external_id;
