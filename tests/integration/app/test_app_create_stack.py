"""``codeloop app create --stack NAME``: the App's secrets go into the deployed stack's Secrets
Manager secrets, found through the stack's outputs (moto's CloudFormation and Secrets Manager)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from codeloop import settings as settings_module
from codeloop.adapters import aws as aws_adapter
from codeloop.adapters.aws import client
from codeloop.adapters.stack_secrets import CLIENT_SECRET_OUTPUT, REQUIRED_SECRET_OUTPUTS, WEBHOOK_URL_OUTPUT
from tests.integration.app.flow import start, submit_form, written_secrets
from tests.unit.deploy.cloudformation import load_template, ref_target

WEBHOOK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/webhooks/github"
PLACEHOLDER = "REPLACE_ME"


@pytest.fixture
def aws_stack_env(aws_emulation: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    from codeloop.local import aws as local_aws

    local_aws.reset(aws_emulation)
    for key, value in local_aws.LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_emulation)
    monkeypatch.chdir(tmp_path)  # a stray .env would land here
    settings_module.reset_settings()
    aws_adapter.reset_clients()
    yield
    aws_adapter.reset_clients()


def deployed_stack(name: str, secret_outputs: tuple[str, ...]) -> dict[str, str]:
    """A stack whose outputs name its secrets as template.yaml's do; returns output -> secret ARN.

    moto's CloudFormation cannot create AWS::SecretsManager::Secret resources, so the secrets
    are created directly and the stack's outputs carry their ARNs.
    """
    arns = {
        output: client("secretsmanager").create_secret(Name=f"{name}/{output}", SecretString=PLACEHOLDER)[
            "ARN"
        ]
        for output in secret_outputs
    }
    outputs = {output: {"Value": arn} for output, arn in arns.items()}
    outputs[WEBHOOK_URL_OUTPUT] = {"Value": WEBHOOK_URL}
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-marker"}}},
        "Outputs": outputs,
    }
    client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return arns


def secret_value(arn: str) -> str:
    return client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def test_the_template_s_outputs_name_the_secrets_the_command_writes():
    template = load_template()
    for output in (*REQUIRED_SECRET_OUTPUTS, CLIENT_SECRET_OUTPUT):
        target = ref_target(template["Outputs"][output]["Value"])
        assert template["Resources"][target]["Type"] == "AWS::SecretsManager::Secret"
    assert WEBHOOK_URL_OUTPUT in template["Outputs"]
    client_secret = template["Resources"][ref_target(template["Outputs"][CLIENT_SECRET_OUTPUT]["Value"])]
    assert set(json.loads(client_secret["Properties"]["SecretString"])) == {"client_id", "client_secret"}


def test_stack_secrets_receive_the_app_and_its_webhook_url_is_used(github, aws_stack_env, tmp_path, capsys):
    arns = deployed_stack("codeloop-prod", REQUIRED_SECRET_OUTPUTS)
    run = start("--stack", "codeloop-prod")

    assert submit_form(run).status_code == 200
    assert run.exit_code() == 0

    credentials = github.apps[-1].credentials
    assert secret_value(arns["GitHubAppPrivateKeySecretArn"]) == credentials["pem"]
    assert secret_value(arns["GitHubWebhookSecretArn"]) == credentials["webhook_secret"]
    assert github.apps[-1].manifest["hook_attributes"]["url"] == WEBHOOK_URL
    assert not (tmp_path / ".env").exists()
    out = capsys.readouterr().out
    assert f"GitHubAppId={credentials['id']} GitHubAppSlug={credentials['slug']}" in out
    assert f"the stack has no {CLIENT_SECRET_OUTPUT}" in out
    assert not any(secret in out for secret in written_secrets(github))


def test_a_stack_with_a_client_secret_receives_the_oauth_client(github, aws_stack_env):
    arns = deployed_stack("codeloop-dash", (*REQUIRED_SECRET_OUTPUTS, CLIENT_SECRET_OUTPUT))
    run = start("--stack", "codeloop-dash", "--webhook-url", "https://elsewhere.example.com/webhooks/github")
    submit_form(run)
    assert run.exit_code() == 0
    credentials = github.apps[-1].credentials
    assert json.loads(secret_value(arns[CLIENT_SECRET_OUTPUT])) == {
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    assert (
        github.apps[-1].manifest["hook_attributes"]["url"] == "https://elsewhere.example.com/webhooks/github"
    )


@pytest.mark.parametrize(
    ("stack", "message"),
    [("missing-stack", "does not exist"), ("half-stack", "has no output GitHubWebhookSecretArn")],
)
def test_a_stack_that_cannot_take_the_secrets_is_refused_before_any_app_is_created(
    github,
    aws_stack_env,
    capsys,
    stack,
    message,
):
    from codeloop import cli

    deployed_stack("half-stack", ("GitHubAppPrivateKeySecretArn",))
    assert cli.main(["app", "create", "--no-browser", "--stack", stack]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "no App was created" in err
    assert github.calls == []
