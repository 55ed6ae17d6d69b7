"""A deployed stack's GitHub App secrets, found through the stack's outputs (template.yaml).

``codeloop app create --stack NAME`` writes the new App's private key and webhook secret into
the Secrets Manager secrets the functions read by ARN, and its OAuth client into the stack's
client secret when the stack has one. The App id and slug are stack parameters, not secrets:
they change with a deploy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from codeloop.adapters.aws import client
from codeloop.domain.app_manifest import AppCredentials

# Outputs naming the secrets' ARNs.
REQUIRED_SECRET_OUTPUTS = ("GitHubAppPrivateKeySecretArn", "GitHubWebhookSecretArn")
CLIENT_SECRET_OUTPUT = "GitHubAppClientSecretArn"  # noqa: S105 (an output name). JSON {client_id, client_secret}
WEBHOOK_URL_OUTPUT = "WebhookUrl"


class StackError(RuntimeError):
    """The stack cannot take the App's secrets; the message says what is missing."""


@dataclass(frozen=True)
class StackWrite:
    written: tuple[str, ...]  # the outputs whose secrets now hold the App's values
    not_stored: tuple[str, ...]  # settings the stack has no secret for


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise StackError(f"stack {stack_name!r}: {exc.response['Error']['Message']}") from exc
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def _secret_values(credentials: AppCredentials) -> dict[str, str]:
    return {
        "GitHubAppPrivateKeySecretArn": credentials.pem.get_secret_value(),
        "GitHubWebhookSecretArn": credentials.webhook_secret.get_secret_value(),
        CLIENT_SECRET_OUTPUT: json.dumps(
            {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.get_secret_value(),
            }
        ),
    }


def app_secret_outputs(stack_name: str) -> dict[str, str]:
    """The stack's outputs, checked before any App is created: the required secrets must be there."""
    outputs = stack_outputs(stack_name)
    missing = [name for name in REQUIRED_SECRET_OUTPUTS if not outputs.get(name)]
    if missing:
        raise StackError(
            f"stack {stack_name!r} has no output {', '.join(missing)}: is it a codeloop stack "
            "(template.yaml), and is its deploy complete?"
        )
    return outputs


def write_app_secrets(outputs: dict[str, str], credentials: AppCredentials) -> StackWrite:
    """Put the App's secrets into the secrets the stack's outputs name (see app_secret_outputs)."""
    from botocore.exceptions import ClientError

    written, not_stored = [], []
    secrets_manager = client("secretsmanager")
    for output, value in _secret_values(credentials).items():
        if output not in outputs:
            not_stored.append(output)
            continue
        try:
            secrets_manager.put_secret_value(SecretId=outputs[output], SecretString=value)
        except ClientError as exc:
            done = f" (already written: {', '.join(written)})" if written else ""
            raise StackError(f"cannot write {output}: {exc.response['Error']['Message']}{done}") from exc
        written.append(output)
    return StackWrite(tuple(written), tuple(not_stored))
