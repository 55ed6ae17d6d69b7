"""Protected paths (globs) and paths that are not plain repository paths."""

import pytest

from codeloop.domain.protected_paths import (
    glob_matches,
    incomplete_file_list,
    protected_by,
    protected_changes,
    unsafe_path_reason,
)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        (".github/workflows/**", ".github/workflows/ci.yml", True),
        (".github/workflows/**", ".github/workflows/nested/deploy.yaml", True),
        (".github/workflows/**", ".github/workflowsx/ci.yml", False),
        (".github/codeloop.yml", ".github/codeloop.yml", True),
        (".github/codeloop.yml", "docs/.github/codeloop.yml", False),
        ("infra/**", "infra/prod/main.tf", True),
        ("infra/", "infra/main.tf", True),
        ("infra", "infra/main.tf", True),  # a directory covers what is under it
        ("infra", "infrastructure/main.tf", False),
        ("*.tf", "main.tf", True),
        ("*.tf", "infra/main.tf", False),  # * stays within one directory
        ("**/*.tf", "infra/prod/main.tf", True),
        ("**/*.tf", "main.tf", True),
        ("deploy/?.sh", "deploy/a.sh", True),
        ("deploy/?.sh", "deploy/ab.sh", False),
        ("a+b(c)/x", "a+b(c)/x", True),  # regex characters are literal
    ],
)
def test_globs(pattern, path, matches):
    assert glob_matches(pattern, path) is matches


def test_workflows_and_the_config_are_always_protected_and_the_repository_adds_its_own():
    assert protected_by(".github/workflows/ci.yml") == ".github/workflows/**"
    assert protected_by(".github/codeloop.yml") == ".github/codeloop.yml"
    assert protected_by("infra/main.tf") is None
    assert protected_by("infra/main.tf", ["infra/**"]) == "infra/**"
    assert protected_changes(["src/app.py", "infra/main.tf", ".github/workflows/ci.yml"], ["infra/**"]) == {
        ".github/workflows/ci.yml": ".github/workflows/**",
        "infra/main.tf": "infra/**",
    }


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.txt", "'..' would climb out of the repository"),
        ("a/../../../../user", "'..' would climb out of the repository"),
        ("/etc/passwd", "absolute paths are refused"),
        ("C:/Windows/x", "absolute paths are refused"),
        (".git/config", "paths inside .git/ are refused"),
        ("sub/.GIT/hooks/pre-commit", "paths inside .git/ are refused"),
        ("a//b", "the path has an empty or '.' segment"),
        ("./a", "the path has an empty or '.' segment"),
        ("a\\..\\b", "the path contains a control character or a backslash"),
        ("a\nb", "the path contains a control character or a backslash"),
        ("", "the path is empty"),
    ],
)
def test_unsafe_paths_are_named_with_their_rule(path, reason):
    assert unsafe_path_reason(path) == reason


@pytest.mark.parametrize("path", ["src/app.py", "x?ref=y", "%2e%2e", "docs/a b.md", ".gitignore", "..."])
def test_plain_paths_are_safe(path):
    assert unsafe_path_reason(path) is None


def test_a_file_list_shorter_than_the_pull_request_may_hide_a_protected_path():
    assert incomplete_file_list(3000, 3000) is None
    assert incomplete_file_list(3000, 3001) == (
        "the file list is incomplete (GitHub lists 3000 of 3001 changed files), "
        "so a protected path may be among the unlisted ones"
    )
    assert "GitHub lists 3000 of an unknown number of changed files" in str(incomplete_file_list(3000, None))
