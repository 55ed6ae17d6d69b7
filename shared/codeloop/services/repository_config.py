"""Load a repository's ``.github/codeloop.yml``: the one place every step reads it from."""

from __future__ import annotations

from codeloop.adapters import github
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.repo_config import (
    CONFIG_PATH,
    ConfigProblem,
    RepoConfig,
    parse_repo_config,
    with_stored_commands,
)


def load_repo_config(
    installation_id: int,
    full_name: str,
    *,
    ref: str | None = None,
    permissions: github.Permissions = github.CONTENTS_READ,
) -> tuple[RepoConfig, ConfigProblem | None]:
    """The configuration on ``ref`` (the default branch when None: a pull request cannot change
    what runs on it), with the repository's stored commands filling in, and what is wrong with the
    file. An invalid file gives the defaults and the problem; callers decide how to refuse."""
    text = github.get_file_content(installation_id, full_name, CONFIG_PATH, ref=ref, permissions=permissions)
    try:
        config = parse_repo_config(text)
    except ConfigProblem as problem:
        return RepoConfig(), problem
    with transaction() as conn:
        stored = store.get_repository_by_name(conn, full_name)
    if stored is None:
        return config, None
    return with_stored_commands(
        config, stored.setup_commands, stored.test_commands, stored.deploy_commands
    ), None
