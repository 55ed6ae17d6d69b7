"""A deployed stack's secrets start as template.yaml's placeholder text, which anyone can read in
the template: until an operator replaces one, codeloop must treat it as unset, or a request
signed with "REPLACE_WITH_THE_SLACK_SIGNING_SECRET" would be taken as Slack's."""

from __future__ import annotations

import itertools

import pytest

from codeloop import settings as settings_module
from codeloop.adapters.aws import client
from codeloop.settings import PLACEHOLDER_PREFIX, SettingsError, get_settings
from tests.unit.deploy.cloudformation import load_template, ref_target

TEMPLATE = load_template()
OAUTH_CLIENT_VARIABLE = "GITHUB_APP_CLIENT_SECRET_ARN"  # one JSON secret: {"client_id", "client_secret"}
_names = itertools.count()


def placeholders() -> dict[str, str]:
    """Every ``*_SECRET_ARN`` variable a function reads, with the SecretString its secret is created
    with (secrets the template generates, such as the webhook secret, have none)."""
    found = {}
    for resource in TEMPLATE["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for variable, value in variables.items():
            secret = TEMPLATE["Resources"].get(ref_target(value) or "", {})
            text = (
                secret.get("Properties", {}).get("SecretString")
                if secret.get("Type") == "AWS::SecretsManager::Secret"
                else None
            )
            if variable.endswith("_SECRET_ARN") and isinstance(text, str):
                found[variable] = text
    return found


PLACEHOLDERS = placeholders()


def stored_secret(text: str) -> str:
    return client("secretsmanager").create_secret(Name=f"placeholder-test-{next(_names)}", SecretString=text)[
        "ARN"
    ]


@pytest.fixture
def emulated_secrets(aws, monkeypatch):
    for variable in PLACEHOLDERS:
        monkeypatch.delenv(variable.removesuffix("_SECRET_ARN").removesuffix("_ARN"), raising=False)
    return monkeypatch


def test_the_template_creates_the_secrets_an_operator_fills_in_with_the_placeholder_prefix():
    assert {
        "SLACK_SIGNING_SECRET_SECRET_ARN",
        "LINEAR_WEBHOOK_SECRET_SECRET_ARN",
        OAUTH_CLIENT_VARIABLE,
    } <= set(PLACEHOLDERS)
    for variable, text in PLACEHOLDERS.items():
        assert PLACEHOLDER_PREFIX in text, variable


@pytest.mark.parametrize("variable", sorted(v for v in PLACEHOLDERS if v != OAUTH_CLIENT_VARIABLE))
def test_a_secret_that_still_holds_its_placeholder_is_unset_and_a_real_one_is_read(
    emulated_secrets, variable
):
    field = variable.removesuffix("_SECRET_ARN").lower()
    emulated_secrets.setenv(variable, stored_secret(PLACEHOLDERS[variable]))
    settings_module.reset_settings()
    assert get_settings().optional_secret(field) is None
    with pytest.raises(SettingsError, match=field.upper()):
        get_settings().secret(field)
    emulated_secrets.setenv(variable, stored_secret("the-operator-s-value"))
    settings_module.reset_settings()
    assert get_settings().secret(field) == "the-operator-s-value"


def test_the_oauth_client_placeholder_is_refused_with_what_to_do(emulated_secrets):
    emulated_secrets.setenv(OAUTH_CLIENT_VARIABLE, stored_secret(PLACEHOLDERS[OAUTH_CLIENT_VARIABLE]))
    emulated_secrets.delenv("GITHUB_APP_CLIENT_ID", raising=False)
    settings_module.reset_settings()
    with pytest.raises(SettingsError, match=r"placeholder.*codeloop app create --stack"):
        get_settings().oauth_client()
    emulated_secrets.setenv(
        OAUTH_CLIENT_VARIABLE, stored_secret('{"client_id": "Iv1.abc", "client_secret": "s3cret"}')
    )
    settings_module.reset_settings()
    assert get_settings().oauth_client() == ("Iv1.abc", "s3cret")
