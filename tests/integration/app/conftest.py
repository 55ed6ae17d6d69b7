"""The fake GitHub of the manifest flow, with the settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeloop import settings as settings_module
from tests.fakes.github_apps import GitHubAppsFake


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubAppsFake]:
    with GitHubAppsFake() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        settings_module.reset_settings()
        yield fake
    settings_module.reset_settings()
