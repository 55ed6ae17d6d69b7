from __future__ import annotations

import pytest

from tests.fakes.github import FakeRepo, GitHubFake

INSTALLATION = 1
REPO = "octo/hello"


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
