alter table api_keys drop column may_raise_caps;
