"""A git smart-HTTP server on loopback that the product's settings point at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeloop import settings
from tests.fakes.git_http import GitHttpServer

TOKEN = "ghs_FakeInstallationToken0123456789abcdef"


@pytest.fixture
def git_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path / "served", token=TOKEN, hang_seconds=3) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        settings.reset_settings()
        yield server
