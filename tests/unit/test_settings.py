"""Settings come from the environment: names in capitals (or any case), an empty variable counts
as unset, mappings are JSON, lists are comma-separated, and a malformed value is named with what
it expects (a secret's value never shown)."""

from decimal import Decimal

import pytest

from codeloop import settings as settings_module
from codeloop.settings import Settings, SettingsError, get_settings


@pytest.fixture
def environment(monkeypatch):
    """Set variables, then read the settings afresh."""

    def read(**variables: str) -> Settings:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings_module.reset_settings()
        return get_settings()

    yield read
    settings_module.reset_settings()


def test_each_setting_is_read_from_its_variable(environment):
    settings = environment(
        CODELOOP_PORT="3100",
        PROVIDERS="openai, codegen",
        MODEL_PRICES='{"GPT-4o-mini": {"input": 0.15, "output": 0.6}}',
        RETRY_POLICIES='{"retryable": {"max_attempts": 3}}',
        INSTALLATION_MAX_USD_PER_DAY="12.5",
        GITHUB_WEBHOOK_SECRET="s3cret",
        AWS_REGION="eu-west-1",
    )
    assert settings.codeloop_port == 3100
    assert settings.providers == ["openai", "codegen"]
    assert settings.model_prices["gpt-4o-mini"].output == Decimal("0.6")
    assert settings.retry_policies == {"retryable": {"max_attempts": 3}}
    assert settings.installation_max_usd_per_day == Decimal("12.5")
    assert settings.secret("github_webhook_secret") == "s3cret"
    assert settings.aws_region == "eu-west-1"


def test_an_empty_variable_counts_as_unset_and_names_match_without_case(environment, monkeypatch):
    monkeypatch.delenv("CODELOOP_PORT", raising=False)
    settings = environment(DB_POOL_MAX_SIZE="", codeloop_port="3200")
    assert settings.db_pool_max_size == Settings().db_pool_max_size
    assert settings.codeloop_port == 3200


@pytest.mark.parametrize(
    ("variable", "value", "expects"),
    [
        ("CODELOOP_PORT", "seventy", "a TCP port number"),
        ("MODEL_PRICES", "{not json", "JSON prices"),
        ("GITHUB_API_URL", "ftp://example.com", "must be an http(s) URL"),
    ],
)
def test_a_malformed_value_is_named_with_what_it_expects(environment, variable, value, expects):
    with pytest.raises(SettingsError) as raised:
        environment(**{variable: value})
    assert f"{variable}=" in str(raised.value) and expects in str(raised.value)


def test_values_given_to_the_model_do_not_read_the_environment(environment):
    environment(CODELOOP_PORT="3300")
    assert Settings(codeloop_port=3400).codeloop_port == 3400
    assert Settings().codeloop_port == 3000
