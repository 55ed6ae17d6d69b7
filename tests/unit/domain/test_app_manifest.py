"""The App's manifest is one definition: what the code's tokens request, what the receiver routes,
what the README lists and what GitHub's fake requires all agree with it."""

from __future__ import annotations

import importlib
import os
import pkgutil
import stat
from pathlib import Path

import pytest

import codeloop
from codeloop.adapters import env_file
from codeloop.domain.app_manifest import (
    ALWAYS_DELIVERED_EVENTS,
    APP_EVENTS,
    APP_PERMISSIONS,
    build_manifest,
    install_url,
    new_app_url,
    permissions_markdown,
)
from codeloop.domain.webhooks import ACTED_ON
from codeloop.settings import Settings
from tests.fakes import github as github_fake_module

README = Path(__file__).resolve().parents[3] / "README.md"
LEVELS = {"read": 1, "write": 2}


def permission_maps_in_code() -> dict[str, dict[str, str]]:
    """Every module-level permission map (``{"contents": "read", ...}``) in the codeloop package."""
    found: dict[str, dict[str, str]] = {}
    for module_info in pkgutil.walk_packages(codeloop.__path__, "codeloop."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                name.isupper()
                and isinstance(value, dict)
                and value
                and all(isinstance(level, str) and level in LEVELS for level in value.values())
            ):
                found[f"{module_info.name}.{name}"] = value
    return found


def widest_levels(maps: dict[str, dict[str, str]]) -> dict[str, str]:
    widest: dict[str, str] = {}
    for permissions in maps.values():
        for name, level in permissions.items():
            if LEVELS[level] > LEVELS.get(widest.get(name, ""), 0):
                widest[name] = level
    return widest


def test_the_manifest_asks_for_exactly_what_the_code_s_tokens_request():
    maps = permission_maps_in_code()
    assert "codeloop.adapters.github.STATUS_REPORTING" in maps  # the scan sees the adapter's sets
    manifest = build_manifest(name="x", homepage_url="h", webhook_url="w", redirect_url="r")
    assert manifest["default_permissions"] == widest_levels(maps)


def test_every_permission_the_github_fake_enforces_is_granted_by_the_manifest():
    granted = {name: permission.level for name, permission in APP_PERMISSIONS.items()}
    unmet = [
        f"{route.method} {route.pattern.pattern}"
        for route in github_fake_module._ROUTES
        if route.needs
        and not any(LEVELS[level] <= LEVELS.get(granted.get(name, ""), 0) for name, level in route.needs)
    ]
    assert unmet == []


def test_the_manifest_subscribes_to_the_events_the_receiver_acts_on():
    assert set(APP_EVENTS) | ALWAYS_DELIVERED_EVENTS == set(ACTED_ON)
    assert not set(APP_EVENTS) & ALWAYS_DELIVERED_EVENTS


def test_the_manifest_has_the_fields_github_reads():
    manifest = build_manifest(
        name="codeloop",
        homepage_url="https://example.com",
        webhook_url="https://hooks.example.com/webhooks/github",
        redirect_url="http://127.0.0.1:5000/callback",
    )
    assert manifest["hook_attributes"] == {"url": "https://hooks.example.com/webhooks/github", "active": True}
    assert manifest["redirect_url"] == "http://127.0.0.1:5000/callback"
    assert manifest["public"] is False
    assert manifest["default_events"] == sorted(APP_EVENTS)


def install_section() -> str:
    text = README.read_text()
    start = text.index("## Install the GitHub App")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_lists_the_manifest_s_permissions_and_events():
    assert permissions_markdown() in install_section()


def test_readme_install_section_starts_with_codeloop_app_create():
    first_paragraph = install_section().split("\n\n")[1]
    assert first_paragraph.startswith("Run `codeloop app create`")


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ],
)
def test_the_web_origin_derives_from_github_api_url(api_url, web_url):
    assert Settings(github_api_url=api_url).github_web_url == web_url


def test_new_app_and_install_urls():
    assert new_app_url("https://github.com") == "https://github.com/settings/apps/new"
    assert new_app_url("https://github.com", "octo-org") == (
        "https://github.com/organizations/octo-org/settings/apps/new"
    )
    assert (
        new_app_url("https://github.com", "a/b") == "https://github.com/organizations/a%2Fb/settings/apps/new"
    )
    assert install_url("https://ghe.example.com", "codeloop") == (
        "https://ghe.example.com/apps/codeloop/installations/new"
    )


# -- .env -----------------------------------------------------------------------------------------

PEM = '-----BEGIN PRIVATE KEY-----\nMIIB\\x"y\n-----END PRIVATE KEY-----\n'


def test_env_file_is_written_0600_and_reads_back_exactly(tmp_path):
    path = tmp_path / ".env"
    env_file.write_settings(path, {"GITHUB_APP_PRIVATE_KEY": PEM, "GITHUB_APP_ID": "7"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env_file.read_settings(path) == {"GITHUB_APP_PRIVATE_KEY": PEM, "GITHUB_APP_ID": "7"}
    assert len(path.read_text().splitlines()) == 2  # the key stays on one line


def test_env_file_keeps_other_lines_and_replaces_ours(tmp_path):
    path = tmp_path / ".env"
    path.write_text('# mine\nCODEGEN_API_KEY=abc\nGITHUB_APP_ID=1\nGITHUB_APP_PRIVATE_KEY="old\nkey"\n')
    path.chmod(0o644)
    env_file.write_settings(path, {"GITHUB_APP_ID": "2", "GITHUB_APP_PRIVATE_KEY": PEM})
    text = path.read_text()
    assert text.startswith("# mine\nCODEGEN_API_KEY=abc\n")
    assert "old" not in text
    assert env_file.read_settings(path) == {
        "CODEGEN_API_KEY": "abc",
        "GITHUB_APP_ID": "2",
        "GITHUB_APP_PRIVATE_KEY": PEM,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind


def test_loading_env_file_never_overrides_the_environment(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    env_file.write_settings(path, {"CODELOOP_TEST_FROM_FILE": "file", "CODELOOP_TEST_BOTH": "file"})
    monkeypatch.setenv("CODELOOP_TEST_BOTH", "environment")
    monkeypatch.delenv("CODELOOP_TEST_FROM_FILE", raising=False)
    taken = env_file.load_into_environment(path)
    assert taken == ["CODELOOP_TEST_FROM_FILE"]
    assert os.environ["CODELOOP_TEST_FROM_FILE"] == "file"
    assert os.environ["CODELOOP_TEST_BOTH"] == "environment"
    monkeypatch.delenv("CODELOOP_TEST_FROM_FILE")
    assert env_file.load_into_environment(tmp_path / "missing.env") == []


def test_codeloop_dev_reads_dot_env_by_default():
    from codeloop.cli import build_parser

    assert build_parser().parse_args(["dev"]).env_file == Path(".env")


def test_credentials_fill_the_app_settings_and_never_show_secrets_in_their_repr():
    from codeloop.domain.app_manifest import AppCredentials

    credentials = AppCredentials(
        id=1,
        slug="s",
        pem="pem-text",
        webhook_secret="hook-secret",
        client_id="c",
        client_secret="client-secret",
    )
    assert set(credentials.settings()) == {
        "GITHUB_APP_ID",
        "GITHUB_APP_SLUG",
        "GITHUB_APP_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_APP_CLIENT_ID",
        "GITHUB_APP_CLIENT_SECRET",
    }
    shown = repr(credentials) + str(credentials)
    assert not any(secret in shown for secret in ("pem-text", "hook-secret", "client-secret"))


def test_the_apps_oauth_callback_is_the_dashboards_on_the_webhook_host():
    manifest = build_manifest(
        name="x", homepage_url="h", webhook_url="https://abc.execute-api.us-east-1.amazonaws.com/webhooks/github",
        redirect_url="r",
    )  # fmt: skip
    assert manifest["callback_urls"] == ["https://abc.execute-api.us-east-1.amazonaws.com/app/oauth/callback"]
