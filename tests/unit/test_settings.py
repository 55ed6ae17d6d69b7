"""Settings come from the environment: names in capitals (or any case), an empty variable counts
as unset, mappings are JSON, lists are comma-separated, and a malformed value is named with what
it expects (a secret's value never shown)."""

from decimal import Decimal

import pytest

from codeloop import settings as settings_module
from codeloop.domain.learning import LearningPolicy
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


def test_values_given_to_the_model_do_not_read_the_environment(environment):
    environment(CODELOOP_PORT="3300")
    assert Settings(codeloop_port=3400).codeloop_port == 3400
    assert Settings().codeloop_port == 3000


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DASHBOARD_SESSION_HOURS", "0", "must be greater than 0"),
        ("CODELOOP_PORT", "70000", "must be at most 65535"),
        ("CODELOOP_PORT", "3.5", "must be a whole number"),
        ("FRONT_DB_WAIT_SECONDS", "nan", "must be a finite number"),
        ("INSTALLATION_MAX_USD_PER_DAY", "-1", "must be greater than 0"),
        ("INSTALLATION_MAX_USD_PER_MONTH", "lots", "must be a number"),
        ("LINEAR_LINK_BY_EMAIL", "maybe", "must be true or false"),
        ("LEARNING_TRIAL_SHARE", "1.5", "must be at most 1"),
        ("RETRY_POLICIES", '{"retryable": 3}', "must map to an object"),
        ("MODEL_PRICES", '{"gpt-4o-mini": {"input": "cheap"}}', "(gpt-4o-mini.input: "),
        ("MODEL_PRICES", '["gpt-4o-mini"]', "must be a JSON object"),
        ("MODEL_PRICES", "{not json", "JSON prices"),
        ("CODELOOP_PORT", "seventy", "a TCP port number"),
        ("GITHUB_API_URL", "ftp://example.com", "must be an http(s) URL"),
    ],
)
def test_a_malformed_value_is_named_with_why_and_what_it_expects(environment, variable, value, reason):
    with pytest.raises(SettingsError) as raised:
        environment(**{variable: value})
    assert f"{variable}={value!r} is malformed" in str(raised.value) and reason in str(raised.value)


def test_every_malformed_value_is_named_at_once(environment):
    with pytest.raises(SettingsError) as raised:
        environment(CODELOOP_PORT="0", DB_POOL_MAX_SIZE="none")
    assert "CODELOOP_PORT=" in str(raised.value) and "DB_POOL_MAX_SIZE=" in str(raised.value)


def test_flags_lists_and_learning_defaults(environment):
    settings = environment(LINEAR_LINK_BY_EMAIL="Yes", CODEGEN_BOT_LOGINS=" a[bot], ,b ")
    assert settings.linear_link_by_email is True
    assert settings.codegen_bot_logins == ["a[bot]", "b"]
    assert settings.learning_policy == LearningPolicy()  # unset: the policy's own defaults
    assert environment(LEARNING_TRIAL_OUTCOMES="4").learning_policy.trial_outcomes == 4


def test_a_secret_is_never_shown_by_its_setting(environment):
    settings = environment(GITHUB_WEBHOOK_SECRET="s3cret")
    assert "s3cret" not in repr(settings.github_webhook_secret) + str(settings.github_webhook_secret)
    assert settings.github_webhook_secret.get_secret_value() == "s3cret"


def test_an_unknown_setting_given_to_the_model_is_an_error():
    with pytest.raises(TypeError, match="codeloop_prot"):
        Settings(codeloop_prot=3000)


def test_a_whole_number_given_as_a_float_is_taken():
    assert Settings(codeloop_port=3100.0).codeloop_port == 3100
    with pytest.raises(SettingsError, match=r"CODELOOP_PORT=3100\.5 is malformed"):
        Settings(codeloop_port=3100.5)
