"""Invariants of template.yaml: handlers, queues and their dead-letter queues, alarms, event
sources, environment, routes, schedule and least-privilege IAM."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from tests.unit.deploy.cloudformation import (
    REPO_ROOT,
    as_list,
    load_definition,
    policy_statements,
    ref_target,
    referenced_ids,
    resources_of_type,
)

HANDLER_FOLDERS = {
    "WebhookReceiverFunction": "webhook_receiver",
    "PromptBuilderFunction": "prompt_builder",
    "CodegenDispatcherFunction": "codegen_dispatcher",
    "ValidationRunnerFunction": "validation_runner",
    "StatusSyncerFunction": "status_syncer",
}
# Functions of the deployment itself (custom resources), not of the product's flow.
DEPLOYMENT_HANDLER_FOLDERS = {"DatabaseMigratorFunction": "database_migrator"}
WORKER_QUEUES = {"PromptQueue", "CodegenQueue", "ValidationQueue"}
ENVIRONMENT = {
    "DATABASE_URL_SECRET_ARN",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY_SECRET_ARN",
    "GITHUB_WEBHOOK_SECRET_SECRET_ARN",
    "GITHUB_API_URL",
    "GITHUB_APP_SLUG",
    "CODEGEN_API_URL",
    "CODEGEN_API_KEY_SECRET_ARN",
    "CODEGEN_ORG_ID",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY_SECRET_ARN",
    "OPENAI_MODEL",
    "PROVIDERS",
    "EVENTS_QUEUE_URL",
    "STATUS_QUEUE_URL",
    "PROMPT_QUEUE_URL",
    "CODEGEN_QUEUE_URL",
    "VALIDATION_QUEUE_URL",
    "STATE_MACHINE_ARN",
    "BATCH_STATE_MACHINE_ARN",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
HTTP_ROUTES = {
    ("POST", "/webhooks/github"),
    ("POST", "/webhooks/slack/commands"),
    ("POST", "/webhooks/slack/interactions"),
    ("POST", "/webhooks/linear"),
    ("GET", "/health"),
    ("POST", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks/batch"),
    ("GET", "/api/v1/tasks/{id}"),
    ("POST", "/api/v1/tasks/{id}/retry"),
    ("POST", "/api/v1/tasks/{id}/cancel"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/deliveries"),
    ("GET", "/api/v1/deliveries/{id}"),
    ("POST", "/api/v1/deliveries/{id}/replay"),
    ("GET", "/api/v1/installations/{id}/budget"),
    ("PUT", "/api/v1/installations/{id}/budget"),
    ("ANY", "/app"),
    ("ANY", "/app/{proxy+}"),
    ("PUT", "/api/v1/linear/mappings"),
    ("GET", "/api/v1/linear/mappings"),
    ("DELETE", "/api/v1/linear/mappings/{team}"),
}
# What every function may know (Globals); the rest of ENVIRONMENT only the trusted functions get.
SHARED_ENVIRONMENT = {
    "GITHUB_APP_ID",
    "GITHUB_API_URL",
    "GITHUB_APP_SLUG",
    "STATUS_QUEUE_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
TRUSTED_FUNCTIONS = {
    "WebhookReceiverFunction",
    "PromptBuilderFunction",
    "CodegenDispatcherFunction",
    "StatusSyncerFunction",
    "DatabaseMigratorFunction",
}
WORKER_ACTIONS = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
RECEIVE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::Serverless::Function")


def product_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: f for name, f in functions(template).items() if name in HANDLER_FOLDERS}


def function_setting(template: dict[str, Any], function: dict[str, Any], key: str) -> Any:
    """A function property, falling back to Globals as SAM does."""
    return function["Properties"].get(key, template["Globals"]["Function"].get(key))


def sqs_events(function: dict[str, Any]) -> dict[str, dict[str, Any]]:
    events = function["Properties"].get("Events", {})
    return {name: e["Properties"] for name, e in events.items() if e["Type"] == "SQS"}


def queues(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::SQS::Queue")


def dead_letter_queue_ids(template: dict[str, Any]) -> set[str]:
    return {
        ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in queues(template).values()
        if "RedrivePolicy" in q["Properties"]
    }


def consumer_of(template: dict[str, Any]) -> dict[str, str]:
    """Queue logical id -> the function that consumes it."""
    consumers: dict[str, str] = {}
    for name, function in functions(template).items():
        for event in sqs_events(function).values():
            queue = ref_target(event["Queue"])
            assert queue not in consumers, f"{queue} has two consumers"
            consumers[queue] = name
    return consumers


def role_of(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"][ref_target(function["Properties"]["Role"])]


def granted(role: dict[str, Any], action: str) -> set[str]:
    """Logical ids (or literal ARNs) of the resources a role may apply ``action`` to."""
    resources: set[str] = set()
    for statement in policy_statements(role):
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                resources.add(ref_target(resource) or json.dumps(resource, sort_keys=True))
    return resources


# -- handlers ---------------------------------------------------------------------------------


def test_the_five_handlers_are_deployed(template):
    assert set(product_functions(template)) == set(HANDLER_FOLDERS)


@pytest.mark.parametrize("logical_id", sorted(HANDLER_FOLDERS | DEPLOYMENT_HANDLER_FOLDERS))
def test_every_handler_file_exists_and_defines_lambda_handler(template, logical_id):
    app = REPO_ROOT / "functions" / (HANDLER_FOLDERS | DEPLOYMENT_HANDLER_FOLDERS)[logical_id] / "app.py"
    assert app.is_file(), f"{app} is missing"
    tree = ast.parse(app.read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    names |= {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    names |= {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert "lambda_handler" in names, f"{app} defines no lambda_handler"

    properties = template["Resources"][logical_id]["Properties"]
    if properties.get("PackageType") == "Image":
        metadata = template["Resources"][logical_id]["Metadata"]
        assert (REPO_ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).is_file()
    else:
        assert properties["Handler"] == "app.lambda_handler"
        assert (REPO_ROOT / properties["CodeUri"]).resolve() == app.parent


def test_zip_function_folders_hold_only_their_handler(template):
    for logical_id, function in functions(template).items():
        if function["Properties"].get("PackageType") == "Image":
            continue
        folder = REPO_ROOT / function["Properties"]["CodeUri"]
        shipped = {path.name for path in folder.iterdir() if path.name != "__pycache__"}
        assert shipped == {"app.py"}, f"{logical_id} would ship {sorted(shipped)}"


def test_zip_functions_run_python_3_12_with_the_layer(template):
    for logical_id, function in functions(template).items():
        properties = function["Properties"]
        if properties.get("PackageType") == "Image":
            assert "Layers" not in properties and "Runtime" not in properties
            continue
        assert properties["Runtime"] == "python3.12", logical_id
        assert [ref_target(layer) for layer in properties["Layers"]] == ["DependenciesLayer"], logical_id


def test_product_zip_functions_cold_start_from_a_snapstart_snapshot(template):
    """SnapStart resumes published versions only: the alias is what events and routes invoke.
    (Not the image-packaged runner, where SnapStart does not apply, nor the once-a-deploy migrator.)"""
    for logical_id, function in product_functions(template).items():
        properties = function["Properties"]
        if properties.get("PackageType") == "Image":
            assert "SnapStart" not in properties, logical_id
            continue
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}, logical_id
        assert properties["AutoPublishAlias"] == "live", logical_id
        assert int(properties.get("EphemeralStorage", {}).get("Size", 512)) <= 512, logical_id


def test_the_validation_runner_is_an_image_built_from_its_dockerfile(template):
    runner = template["Resources"]["ValidationRunnerFunction"]
    assert runner["Properties"]["PackageType"] == "Image"
    assert runner["Metadata"]["Dockerfile"] == "functions/validation_runner/Dockerfile"


def test_product_functions_start_after_the_database_is_migrated(template):
    for logical_id, function in product_functions(template).items():
        assert "DatabaseMigrations" in as_list(function.get("DependsOn", [])), logical_id


def test_the_migrations_resource_runs_the_migrator_on_every_new_layer(template):
    migrations = template["Resources"]["DatabaseMigrations"]["Properties"]
    assert ref_target(migrations["ServiceToken"]) == "DatabaseMigratorFunction"
    assert ref_target(migrations["LayerVersion"]) == "DependenciesLayer"


# -- queues -----------------------------------------------------------------------------------


def test_every_queue_has_its_own_dead_letter_queue_after_five_receives(template):
    all_queues = queues(template)
    dead_letter = dead_letter_queue_ids(template)
    work_queues = {name: q for name, q in all_queues.items() if name not in dead_letter}
    assert set(work_queues) == {"EventsQueue", "StatusQueue"} | WORKER_QUEUES
    targets = []
    for name, queue in work_queues.items():
        redrive = queue["Properties"]["RedrivePolicy"]
        target = ref_target(redrive["deadLetterTargetArn"])
        targets.append(target)
        assert redrive["maxReceiveCount"] == 5, name
        fifo = queue["Properties"].get("FifoQueue", False)
        assert all_queues[target]["Properties"].get("FifoQueue", False) == fifo, (
            f"{name} and {target} differ in FIFO"
        )
    assert len(targets) == len(set(targets)), "two queues share a dead-letter queue"
    assert set(targets) == dead_letter


def test_events_and_status_queues_are_fifo_and_events_dedup_on_delivery_id(template):
    all_queues = queues(template)
    for name in ("EventsQueue", "StatusQueue"):
        assert all_queues[name]["Properties"]["FifoQueue"] is True
        assert all_queues[name]["Properties"]["ContentBasedDeduplication"] is False
    for name in WORKER_QUEUES:
        assert not all_queues[name]["Properties"].get("FifoQueue", False)


def test_every_dead_letter_queue_has_an_alarm_on_visible_messages(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {}
    for alarm in alarms:
        properties = alarm["Properties"]
        if properties.get("Namespace") != "AWS/SQS":
            continue
        (dimension,) = properties["Dimensions"]
        watched[ref_target(dimension["Value"])] = properties
    for dlq in dead_letter_queue_ids(template):
        assert dlq in watched, f"no alarm on {dlq}"
        alarm = watched[dlq]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0
        assert alarm["AlarmActions"]


def test_every_work_queue_has_exactly_one_consumer(template):
    dead_letter = dead_letter_queue_ids(template)
    work_queues = set(queues(template)) - dead_letter
    assert set(consumer_of(template)) == work_queues


def test_visibility_timeout_is_six_times_the_consumers_timeout(template):
    all_queues = queues(template)
    for queue, consumer in consumer_of(template).items():
        timeout = function_setting(template, template["Resources"][consumer], "Timeout")
        assert all_queues[queue]["Properties"]["VisibilityTimeout"] == 6 * timeout, queue


def test_every_sqs_event_source_reports_partial_failures_and_caps_concurrency(template):
    for logical_id, function in functions(template).items():
        for name, event in sqs_events(function).items():
            assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"], f"{logical_id}.{name}"
            assert "MaximumConcurrency" in event["ScalingConfig"], f"{logical_id}.{name}"
            assert 1 <= event["BatchSize"] <= 10, f"{logical_id}.{name}"


def test_the_local_stack_polls_like_the_event_source_mappings(template):
    """make dev's pollers: the template's batch sizes and concurrency, per queue and function."""
    from codeloop.local.stack import EVENT_SOURCES

    deployed = {}
    for logical_id, function in functions(template).items():
        for source in function["Properties"].get("Events", {}).values():
            if source["Type"] == "SQS":
                queue = ref_target(source["Properties"]["Queue"])
                concurrency = source["Properties"]["ScalingConfig"]["MaximumConcurrency"]
                if isinstance(concurrency, dict):  # a parameter: its default
                    concurrency = template["Parameters"][ref_target(concurrency)]["Default"]
                deployed[queue] = (
                    HANDLER_FOLDERS[logical_id],
                    source["Properties"]["BatchSize"],
                    int(concurrency),
                )
    local = {
        "".join(part.title() for part in queue.split("_")) + "Queue": source
        for queue, source in EVENT_SOURCES.items()
        if queue != "validation_runner"  # invoked directly on AWS
    }
    assert local == deployed


def test_codegen_dispatch_runs_at_most_two_at_a_time(template):
    (event,) = sqs_events(template["Resources"]["CodegenDispatcherFunction"]).values()
    assert ref_target(event["Queue"]) == "CodegenQueue"
    assert event["ScalingConfig"]["MaximumConcurrency"] == 2
    assert event["BatchSize"] == 1


def test_status_syncer_consumes_events_status_and_validation_and_sweeps_every_minute(template):
    syncer = template["Resources"]["StatusSyncerFunction"]["Properties"]
    assert {
        ref_target(e["Queue"]) for e in sqs_events(template["Resources"]["StatusSyncerFunction"]).values()
    } == {
        "EventsQueue",
        "StatusQueue",
        "ValidationQueue",  # it prepares each validation and starts the runner
    }
    schedules = [
        e["Properties"] for e in syncer["Events"].values() if e["Type"] in ("Schedule", "ScheduleV2")
    ]
    assert len(schedules) == 1
    assert schedules[0]["Schedule"] == "rate(1 minute)"
    assert json.loads(schedules[0]["Input"]) == {"source": "codeloop.sweeper"}


# -- environment and HTTP front ---------------------------------------------------------------


def environment_of(template, logical_id: str) -> dict:
    """A function's variables as Lambda gets them: Globals, then its own."""
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return template["Globals"]["Function"]["Environment"]["Variables"] | own


def test_trusted_functions_get_every_contracted_environment_variable(template):
    assert set(template["Globals"]["Function"]["Environment"]["Variables"]) == SHARED_ENVIRONMENT
    for logical_id in TRUSTED_FUNCTIONS:
        variables = environment_of(template, logical_id)
        assert set(variables) >= ENVIRONMENT, logical_id
        assert variables["POWERTOOLS_SERVICE_NAME"] == "codeloop"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "codeloop"
        assert ref_target(variables["STATE_MACHINE_ARN"]) == "TaskStateMachine"
        assert ref_target(variables["BATCH_STATE_MACHINE_ARN"]) == "BatchStateMachine"
        for queue in ("EVENTS", "STATUS", "PROMPT", "CODEGEN", "VALIDATION"):
            assert ref_target(variables[f"{queue}_QUEUE_URL"]) == f"{queue.title()}Queue"
        vpc = template["Resources"][logical_id]["Properties"]["VpcConfig"]
        assert ref_target(vpc["SecurityGroupIds"][0]) == "FunctionSecurityGroup", logical_id


def test_optional_settings_are_left_unset_rather_than_empty(template):
    """An empty CODEGEN_ORG_ID or OPENAI_BASE_URL is a malformed setting; the template omits them instead."""
    for logical_id in TRUSTED_FUNCTIONS:
        variables = environment_of(template, logical_id)
        for name in ("CODEGEN_ORG_ID", "OPENAI_BASE_URL"):
            condition, _, otherwise = variables[name]["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, name
            assert condition in template["Conditions"]


def test_the_webhook_receiver_serves_every_route_of_the_http_api(template):
    receiver = template["Resources"]["WebhookReceiverFunction"]["Properties"]
    routes = set()
    for event in receiver["Events"].values():
        assert event["Type"] == "HttpApi"
        properties = event["Properties"]
        assert ref_target(properties["ApiId"]) == "HttpApi"
        assert properties.get("PayloadFormatVersion", "2.0") == "2.0"
        assert "Auth" not in properties, "authentication happens in code (signatures, API keys)"
        routes.add((properties["Method"], properties["Path"]))
    assert routes == HTTP_ROUTES
    assert "Auth" not in template["Resources"]["HttpApi"]["Properties"]


def test_the_webhook_receiver_answers_within_githubs_ten_seconds(template):
    assert template["Resources"]["WebhookReceiverFunction"]["Properties"]["Timeout"] <= 10


# -- IAM --------------------------------------------------------------------------------------


def test_each_function_has_its_own_role(template):
    roles = [ref_target(f["Properties"]["Role"]) for f in functions(template).values()]
    assert len(roles) == len(set(roles))
    for role in roles:
        assert template["Resources"][role]["Type"] == "AWS::IAM::Role"


def test_function_roles_name_no_wildcard_actions_or_resources(template):
    for logical_id, function in functions(template).items():
        for statement in policy_statements(role_of(template, function)):
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{logical_id}: {action}"
            assert "*" not in as_list(statement["Resource"]), f"{logical_id}: {statement}"


def test_functions_receive_only_from_the_queues_they_consume(template):
    consumers = consumer_of(template)
    for logical_id, function in functions(template).items():
        role = role_of(template, function)
        own = {queue for queue, consumer in consumers.items() if consumer == logical_id}
        # The dashboard's Health page reads every queue's depth; reading attributes receives nothing.
        reads_depths = {"sqs:GetQueueAttributes"} if logical_id == "WebhookReceiverFunction" else set()
        for action in RECEIVE_ACTIONS - reads_depths:
            assert granted(role, action) == own, f"{logical_id}: {action}"
    receiver = role_of(template, template["Resources"]["WebhookReceiverFunction"])
    assert granted(receiver, "sqs:GetQueueAttributes") == set(queues(template))


def test_the_status_syncer_may_hide_a_message_of_its_queues_until_a_wait_is_over(template):
    """A note that must wait (Slack's Retry-After) is handed back: its queue's URL looked up from the
    record's ARN, its visibility set to the rest of the wait."""
    role = role_of(template, template["Resources"]["StatusSyncerFunction"])
    consumed = {queue for queue, consumer in consumer_of(template).items() if consumer == "StatusSyncerFunction"}
    assert "StatusQueue" in consumed
    for action in ("sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"):
        assert granted(role, action) == consumed, action


# A task's end answers its batch item: the syncer (workflow notes, sweeper) and the API (cancel).
BATCH_ANSWERERS = {"StatusSyncerFunction", "WebhookReceiverFunction"}


def test_only_workers_answer_task_tokens(template):
    consumers = consumer_of(template)
    workers = {consumers[queue] for queue in WORKER_QUEUES} | {"StatusSyncerFunction"}
    for logical_id, function in functions(template).items():
        role = role_of(template, function)
        for action in WORKER_ACTIONS:
            expected = {"TaskStateMachine"} if logical_id in workers else set()
            if logical_id == "ValidationRunnerFunction" and action == "states:SendTaskHeartbeat":
                expected = {"TaskStateMachine"}  # it only keeps its step alive; the syncer answers
            if logical_id == "WebhookReceiverFunction" and action == "states:SendTaskFailure":
                expected |= {"TaskStateMachine"}  # a cancel through the task API ends the step's wait
            if logical_id in BATCH_ANSWERERS and action != "states:SendTaskHeartbeat":
                expected |= {"BatchStateMachine"}
            assert granted(role, action) == expected, f"{logical_id}: {action}"


def test_the_validation_runner_holds_nothing_worth_stealing(template):
    """Outside the VPC, no secret or database variable, one execution environment per tenant
    (installation), started only by the status syncer; its role sends its report, heartbeats its
    step and writes its logs, nothing else."""
    runner = template["Resources"]["ValidationRunnerFunction"]
    properties = runner["Properties"]
    assert properties["TenancyConfig"] == {"TenantIsolationMode": "PER_TENANT"}
    # Globals hold no VPC: SAM would merge its lists into the runner's, not replace them.
    assert "VpcConfig" not in properties and "VpcConfig" not in template["Globals"]["Function"]
    assert sqs_events(runner) == {}
    known = set(environment_of(template, "ValidationRunnerFunction"))
    assert known == SHARED_ENVIRONMENT | {"CODELOOP_PROMPTS_DIR"}
    role = role_of(template, runner)
    assert "ManagedPolicyArns" not in role["Properties"]  # no ENI management: no VPC
    actions = {action for statement in policy_statements(role) for action in as_list(statement["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "states:SendTaskHeartbeat",
    }
    assert granted(role, "sqs:SendMessage") == {"StatusQueue"}
    invokers = {
        logical_id
        for logical_id, function in functions(template).items()
        if "ValidationRunnerFunction" in granted(role_of(template, function), "lambda:InvokeFunction")
    }
    assert invokers == {"StatusSyncerFunction"}
    syncer = template["Resources"]["StatusSyncerFunction"]["Properties"]
    assert (
        ref_target(syncer["Environment"]["Variables"]["VALIDATION_RUNNER_FUNCTION"])
        == "ValidationRunnerFunction"
    )


def test_only_the_receiver_and_the_syncer_start_executions(template):
    for logical_id, function in functions(template).items():
        started = granted(role_of(template, function), "states:StartExecution")
        if logical_id in ("WebhookReceiverFunction", "StatusSyncerFunction"):
            assert started == {"TaskStateMachine", "BatchStateMachine"}, logical_id
        else:
            assert started == set(), logical_id


def test_functions_read_only_secrets_of_this_stack(template):
    secrets = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    for logical_id, function in functions(template).items():
        readable = granted(role_of(template, function), "secretsmanager:GetSecretValue")
        if logical_id == "ValidationRunnerFunction":
            assert readable == set(), "the validation runner runs hostile code: it may read no secret"
            continue
        assert readable, f"{logical_id} reads no secret"
        assert readable <= secrets, logical_id
        assert "DatabaseCredentialsSecret" not in readable, f"{logical_id} reads the master credentials"
    receiver = role_of(template, template["Resources"]["WebhookReceiverFunction"])
    assert "GitHubWebhookSecret" in granted(receiver, "secretsmanager:GetSecretValue")


# The secrets each function may read: README's "Security model" table says the same in words.
SECRET_READERS = {
    "WebhookReceiverFunction": {
        "DatabaseUrlSecret",
        "GitHubWebhookSecret",
        "LinearWebhookSecret",
        "SlackSigningSecret",
        "GitHubAppClientSecret",
        "GitHubAppPrivateKeySecret",
    },
    "PromptBuilderFunction": {"DatabaseUrlSecret", "GitHubAppPrivateKeySecret"},
    "CodegenDispatcherFunction": {
        "DatabaseUrlSecret",
        "GitHubAppPrivateKeySecret",
        "CodegenApiKeySecret",
        "OpenAIApiKeySecret",
    },
    # It polls agent runs (Codegen), asks for the AI review (OpenAI), writes Slack and Linear.
    "StatusSyncerFunction": {
        "DatabaseUrlSecret",
        "GitHubAppPrivateKeySecret",
        "CodegenApiKeySecret",
        "OpenAIApiKeySecret",
        "SlackBotTokenSecret",
        "LinearApiKeySecret",
    },
    "DatabaseMigratorFunction": {"DatabaseUrlSecret"},
    "ValidationRunnerFunction": set(),
}


def test_each_function_reads_exactly_the_secrets_it_uses(template):
    readable = {
        logical_id: granted(role_of(template, function), "secretsmanager:GetSecretValue")
        for logical_id, function in functions(template).items()
    }
    assert readable == SECRET_READERS


def test_slack_secrets_reach_only_the_function_that_uses_each(template):
    """The front verifies Slack's requests (signing secret); the syncer writes messages (bot token)."""
    owners = {"SlackSigningSecret": "WebhookReceiverFunction", "SlackBotTokenSecret": "StatusSyncerFunction"}
    for secret, owner in owners.items():
        readers = {
            logical_id
            for logical_id, function in functions(template).items()
            if secret in granted(role_of(template, function), "secretsmanager:GetSecretValue")
        }
        assert readers == {owner}, secret
        variable = {"SlackSigningSecret": "SLACK_SIGNING_SECRET_SECRET_ARN", "SlackBotTokenSecret": "SLACK_BOT_TOKEN_SECRET_ARN"}[secret]
        holders = {logical_id for logical_id in functions(template) if variable in environment_of(template, logical_id)}
        assert holders == {owner}, variable


def test_secret_variables_name_secrets_of_this_stack(template):
    """A secret variable in Globals must name a secret the template creates."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    secrets = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    for name, value in variables.items():
        if name.endswith("_SECRET_ARN"):
            assert ref_target(value) in secrets, name


# -- state machines in the template ------------------------------------------------------------


@pytest.mark.parametrize("logical_id", ["TaskStateMachine", "BatchStateMachine"])
def test_definition_substitutions_match_the_placeholders(template, logical_id):
    properties = template["Resources"][logical_id]["Properties"]
    text = (REPO_ROOT / properties["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == set(properties["DefinitionSubstitutions"])
    load_definition(properties["DefinitionUri"])  # parses as JSON


@pytest.mark.parametrize("logical_id", ["TaskStateMachine", "BatchStateMachine"])
def test_state_machines_log_to_their_own_group_without_tracing(template, logical_id):
    properties = template["Resources"][logical_id]["Properties"]
    assert properties["Type"] == "STANDARD"
    assert properties["Tracing"]["Enabled"] is False
    (destination,) = properties["Logging"]["Destinations"]
    assert ref_target(destination["CloudWatchLogsLogGroup"]["LogGroupArn"]).endswith("StateMachineLogGroup")


def test_the_task_state_machine_may_send_to_every_queue_it_names(template):
    machine = template["Resources"]["TaskStateMachine"]["Properties"]
    role = template["Resources"][ref_target(machine["Role"])]
    named = {ref_target(value) for value in machine["DefinitionSubstitutions"].values()}
    assert granted(role, "sqs:SendMessage") == named
    assert named == WORKER_QUEUES | {"StatusQueue"}


def test_the_batch_state_machine_sends_only_to_the_status_queue_and_starts_only_its_children(template):
    machine = template["Resources"]["BatchStateMachine"]["Properties"]
    role = template["Resources"][ref_target(machine["Role"])]
    named = {ref_target(value) for value in machine["DefinitionSubstitutions"].values()}
    assert granted(role, "sqs:SendMessage") == named == {"StatusQueue"}
    # Its own ARN, for the distributed map's child executions, built from its name.
    (own,) = granted(role, "states:StartExecution")
    assert json.loads(own)["Fn::Sub"].endswith(":stateMachine:" + machine["Name"]["Fn::Sub"])
    assert not granted(role, "events:PutRule")


def test_state_machines_never_name_functions(template):
    """Functions name the state machines (environment); the reverse would be a circular reference."""
    function_ids = set(functions(template))
    for logical_id in (
        "TaskStateMachine",
        "BatchStateMachine",
        "TaskStateMachineRole",
        "BatchStateMachineRole",
    ):
        assert not referenced_ids(template["Resources"][logical_id]) & function_ids, logical_id


def test_linear_secrets_go_only_where_they_are_used(template):
    """The front verifies Linear's deliveries; only the status syncer talks to Linear's API."""
    holders = {
        name: {v for v in environment_of(template, name) if v.startswith("LINEAR_")}
        for name in functions(template)
    }
    assert holders["WebhookReceiverFunction"] == {"LINEAR_WEBHOOK_SECRET_SECRET_ARN"}
    assert holders["StatusSyncerFunction"] == {"LINEAR_API_URL", "LINEAR_API_KEY_SECRET_ARN"}
    assert all(not found for name, found in holders.items() if name not in (
        "WebhookReceiverFunction", "StatusSyncerFunction"))  # fmt: skip
    for name, secret in (("WebhookReceiverFunction", "LinearWebhookSecret"), ("StatusSyncerFunction", "LinearApiKeySecret")):
        role = role_of(template, template["Resources"][name])
        assert secret in granted(role, "secretsmanager:GetSecretValue"), name
