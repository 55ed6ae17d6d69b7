drop index validation_runs_tree_idx;
alter table validation_runs drop column tree_sha;
