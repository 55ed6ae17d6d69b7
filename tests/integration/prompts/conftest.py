"""A repository on the GitHub fake, the same in PostgreSQL, and the shipped templates synced."""

import pytest

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef, Task
from codeloop.services.prompting.versions import sync_templates

REPO = "octo/widgets"
INSTALLATION = 7
FILES = {
    "README.md": "# widgets\n\nSmall widgets for everyone.\n",
    "pyproject.toml": '[project]\nname = "widgets"\ndependencies = ["httpx>=0.27"]\n',
    "src/widgets/__init__.py": "",
    "src/widgets/core.py": "def parse(text):\n    return text.split()[0]\n",
    "tests/test_core.py": "from widgets.core import parse\n\ndef test_parse():\n    assert parse('a b') == 'a'\n",
    ".github/codeloop.yml": "validation:\n  setup: [pip install -e .]\n  test: [pytest -q]\n",
}


def add_repository(github_fake, full_name: str = REPO):
    """A repository holding FILES on the GitHub fake, the same in PostgreSQL, in the installation."""
    repo = github_fake.add_repo(full_name, files=FILES, installation_id=INSTALLATION)
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo"))
        store.upsert_repository(
            conn, RepositoryRef(id=repo.id, full_name=full_name), installation_id=INSTALLATION
        )
    return repo


@pytest.fixture
def world(db_url, github_fake):
    repo = add_repository(github_fake)
    with transaction() as conn:
        sync_templates(conn)
    github_fake.clear_calls()
    return {"fake": github_fake, "repo": repo}


def new_task(world, **fields) -> NewTask:
    values = {
        "repository_id": world["repo"].id,
        "title": "Fix the crash on empty input",
        "description": "parse() in core.py crashes on an empty string; return None instead.",
        "type": "bug_fix",
        "complexity": 4,
        "acceptance_criteria": ["a test covers the empty string"],
        "source": "api",
    }
    return NewTask(**(values | fields))


def insert_task(world, **fields) -> Task:
    with transaction() as conn:
        return store.create_task(conn, new_task(world, **fields))


def repository(world):
    with transaction() as conn:
        return store.get_repository(conn, world["repo"].id)
