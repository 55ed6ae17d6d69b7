-- A task API key may lower its installations' spending caps; only a key the operator made with
-- `codeloop apikey create ... --may-raise-caps` may also raise or lift them (as `codeloop budget set`
-- does). Existing keys may not.
alter table api_keys add column may_raise_caps boolean not null default false;
