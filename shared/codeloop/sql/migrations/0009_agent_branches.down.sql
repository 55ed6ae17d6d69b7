drop table agent_branches;
