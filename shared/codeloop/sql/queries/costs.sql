-- The cost and usage ledger (usage_records) and the installations' caps (installation_budgets).

-- name: record_usage
-- One call, charged to a task's attempt; its repository and installation come from the task.
-- An agent run seen ending twice is recorded once (returns no row the second time).
insert into usage_records (task_id, attempt, repository_id, installation_id, operation, provider, model,
                           prompt_name, external_id, input_tokens, output_tokens, duration_seconds, cost_usd)
select t.id, %(attempt)s, t.repository_id, r.installation_id, %(operation)s, %(provider)s, %(model)s,
       %(prompt_name)s, %(external_id)s, %(input_tokens)s, %(output_tokens)s, %(duration_seconds)s, %(cost_usd)s
  from tasks t join repositories r on r.id = t.repository_id
 where t.id = %(task_id)s
on conflict (task_id, attempt, provider, operation, external_id) do nothing
returning id, installation_id, repository_id;

-- name: task_cost_by_attempt
-- A task's totals per attempt. usd sums the priced calls only (null when none is priced).
select attempt,
       count(*) as calls,
       sum(cost_usd) as usd,
       count(*) filter (where cost_usd is null) as unpriced_calls,
       coalesce(sum(input_tokens), 0) as input_tokens,
       coalesce(sum(output_tokens), 0) as output_tokens,
       coalesce(sum(duration_seconds), 0) as agent_seconds
  from usage_records
 where task_id = %(task_id)s
 group by attempt
 order by attempt;

-- name: installation_spent
-- What an installation's priced calls cost since the start of the UTC day and of the UTC month.
select coalesce(sum(cost_usd) filter (where recorded_at >= %(day_start)s), 0) as day_usd,
       coalesce(sum(cost_usd), 0) as month_usd
  from usage_records
 where installation_id = %(installation_id)s and recorded_at >= %(month_start)s;

-- name: get_installation_budget
select installation_id, max_usd_per_day, max_usd_per_month, updated_by, updated_at
  from installation_budgets where installation_id = %(installation_id)s;

-- name: set_installation_budget
-- A cap null: the setting's; 'Infinity': no cap for this installation (the API's "unlimited").
insert into installation_budgets (installation_id, max_usd_per_day, max_usd_per_month, updated_by)
values (%(installation_id)s, %(max_usd_per_day)s, %(max_usd_per_month)s, %(updated_by)s)
on conflict (installation_id) do update
   set max_usd_per_day = excluded.max_usd_per_day,
       max_usd_per_month = excluded.max_usd_per_month,
       updated_by = excluded.updated_by,
       updated_at = now();

-- name: lock_installation_caps
-- Writers of one installation's caps take turns until their transaction ends (two-key advisory
-- lock in a space of its own, apart from tasks' and the migrations').
select pg_advisory_xact_lock(hashtext('installation_caps'), hashtext(%(installation_id)s::text));
