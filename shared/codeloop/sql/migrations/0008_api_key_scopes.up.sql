-- A task API key reaches only the tasks of its installations and repositories. Keys made before
-- scopes existed get an empty scope, which reaches nothing: no key silently keeps its old reach
-- over every installation. `codeloop apikey list` names them and `codeloop apikey scope NAME
-- --installation ID` gives one its scope.
alter table api_keys
    add column installation_ids bigint[] not null default '{}',
    add column repository_ids   bigint[] not null default '{}';
