from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.github import FakeRepo, GitHubFake, github_fake_environment

INSTALLATION = 1
REPO = "octo/hello"


@pytest.fixture
def github_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    with github_fake_environment(monkeypatch) as fake:
        yield fake


@pytest.fixture
def repo(github_fake: GitHubFake) -> FakeRepo:
    return github_fake.add_repo(
        REPO,
        files={
            "README.md": "# hello\n",
            ".github/codeloop.yml": "iterations: 2\n",
            "src/app.py": "print('hi')\n",
        },
        installation_id=INSTALLATION,
    )
