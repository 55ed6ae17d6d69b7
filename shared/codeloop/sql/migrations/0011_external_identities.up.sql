-- People who ask for work from Linear or Slack, linked to the GitHub login whose repository
-- permission decides what they may do (the same rule as for comments on GitHub).
create table external_identities (
    provider     text not null check (provider in ('linear', 'slack')),
    external_id  text not null,
    github_login text not null,
    linked_by    text not null check (linked_by in ('operator', 'email')),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (provider, external_id)
);
create index external_identities_login_idx on external_identities (lower(github_login));
