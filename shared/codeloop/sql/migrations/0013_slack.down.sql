alter table tasks drop constraint tasks_source_check;
alter table tasks add constraint tasks_source_check
    check (source in ('comment', 'label', 'api', 'batch'));
drop table slack_messages;
drop table slack_channels;
