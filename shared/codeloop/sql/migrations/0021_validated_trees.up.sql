-- The git tree a passing validation ran on, so a merge queue's merge group with the same tree
-- (the pull request's content, unchanged by the merge) gets codeloop's check as a success at once.
alter table validation_runs add column tree_sha text;

create index validation_runs_tree_idx on validation_runs (tree_sha) where status = 'passed';
