"""Prompt template versions against real PostgreSQL: sync, pins, rollback, retirement, the console commands."""

import argparse
import shutil
from pathlib import Path

import pytest

from codeloop.cli import prompts as prompt_cli
from codeloop.db import prompts_store
from codeloop.db.pool import transaction
from codeloop.domain.prompt_context import PromptInputs, RepositoryInfo, TaskSpec
from codeloop.domain.prompts import build_prompt
from codeloop.domain.repo_config import RepoConfig, parse_repo_config
from codeloop.services.prompting.templates import prompts_dir
from codeloop.services.prompting.versions import PromptVersionError, catalog, rollback, sync_templates

SHIPPED = sorted(p.name.removesuffix(".md.j2") for p in prompts_dir().glob("*.md.j2"))
BUG = PromptInputs(
    task=TaskSpec(type="bug_fix", complexity=2, request="Fix the crash on empty input."),
    repository=RepositoryInfo(full_name="octo/widgets"),
)


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """A copy of the shipped prompts/ that a test may edit."""
    return Path(shutil.copytree(prompts_dir(), tmp_path / "prompts"))


def sync(directory: Path):
    with transaction(actor="test") as conn:
        return sync_templates(conn, directory)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def render(config: RepoConfig) -> tuple[str, int, str]:
    with transaction() as conn:
        templates = catalog(conn)
    prompt = build_prompt(templates.available, BUG, config, 10_000)
    return prompt.template_id, prompt.template_version, prompt.text


def outcomes(summary) -> dict[str, tuple[str, int | None, int | None]]:
    return {t.template_id: (t.outcome, t.version, t.active_version) for t in summary.templates}


def test_first_sync_creates_version_1_of_each_and_a_second_sync_changes_nothing(db_url, prompts, conn):
    first = sync(prompts)
    assert outcomes(first) == {name: ("created", 1, None) for name in SHIPPED}
    second = sync(prompts)
    assert outcomes(second) == {name: ("unchanged", 1, None) for name in SHIPPED}
    assert second.changed == []
    assert conn.execute("select count(*) as n from prompt_template_versions").fetchone()["n"] == len(SHIPPED)


def test_a_changed_body_makes_version_2_and_a_pinned_repository_still_renders_version_1(db_url, prompts):
    sync(prompts)
    edit(prompts / "bug_fix.md.j2", "{% extends", "{# v2 #}\nVERSION-TWO-MARKER\n{% extends")
    summary = sync(prompts)
    assert outcomes(summary)["bug_fix"] == ("new_version", 2, None)
    assert {t.template_id for t in summary.changed} == {"bug_fix"}

    template_id, version, text = render(RepoConfig())
    assert (template_id, version) == ("bug_fix", 2)
    assert "VERSION-TWO-MARKER" in text

    pinned = parse_repo_config("prompts:\n  bug_fix: {template: bug_fix, version: 1}\n")
    template_id, version, text = render(pinned)
    assert (template_id, version) == ("bug_fix", 1)
    assert "VERSION-TWO-MARKER" not in text


def test_a_changed_partial_versions_every_template_using_it_and_old_versions_keep_their_partials(
    db_url, prompts
):
    sync(prompts)
    edit(
        prompts / "_partials" / "request.md.j2", "## What the maintainer asked for", "## PARTIAL-V2 asked for"
    )
    summary = sync(prompts)
    assert {t.template_id for t in summary.changed} == set(SHIPPED)  # every template includes the request

    assert "PARTIAL-V2" in render(RepoConfig())[2]
    old = render(parse_repo_config("prompts:\n  bug_fix: {template: bug_fix, version: 1}\n"))[2]
    assert "PARTIAL-V2" not in old
    assert "## What the maintainer asked for" in old


def test_rollback_stands_until_the_file_changes_again(db_url, prompts):
    sync(prompts)
    edit(prompts / "bug_fix.md.j2", "{% extends", "V2\n{% extends")
    sync(prompts)
    with transaction() as conn:
        assert rollback(conn, "bug_fix", 1, actor="ops") == 1
        audit = conn.execute(
            "select action, old_values, new_values, actor from audit_log where entity = 'prompt_templates'"
        ).fetchall()
    assert audit == [
        {
            "action": "rolled_back",
            "old_values": {"active_version": None},
            "new_values": {"active_version": 1},
            "actor": "ops",
        }
    ]
    assert render(RepoConfig())[:2] == ("bug_fix", 1)
    # a pin to the withdrawn version is refused, not silently served
    with pytest.raises(LookupError, match="version 2"):
        render(parse_repo_config("prompts:\n  bug_fix: {template: bug_fix, version: 2}\n"))

    unchanged = sync(prompts)  # the deploy runs again: the rollback stands
    assert outcomes(unchanged)["bug_fix"] == ("unchanged", 2, 1)
    assert render(RepoConfig())[:2] == ("bug_fix", 1)

    edit(prompts / "bug_fix.md.j2", "V2\n", "V3\n")
    changed = sync(prompts)
    assert outcomes(changed)["bug_fix"] == ("new_version", 3, None)
    assert "lifts the rollback to v1" in changed.templates[SHIPPED.index("bug_fix")].note
    assert render(RepoConfig())[:2] == ("bug_fix", 3)


def test_a_file_reverted_to_an_earlier_body_serves_that_version(db_url, prompts):
    original = (prompts / "bug_fix.md.j2").read_text()
    sync(prompts)
    edit(prompts / "bug_fix.md.j2", "{% extends", "V2\n{% extends")
    sync(prompts)
    (prompts / "bug_fix.md.j2").write_text(original)
    assert outcomes(sync(prompts))["bug_fix"] == ("switched", 1, 1)
    assert render(RepoConfig())[:2] == ("bug_fix", 1)


def test_rollback_to_a_missing_version_or_template_is_refused(db_url, prompts):
    sync(prompts)
    with transaction() as conn:
        with pytest.raises(PromptVersionError, match="no version 7"):
            rollback(conn, "bug_fix", 7, actor="ops")
        with pytest.raises(PromptVersionError, match="no prompt template 'nope'"):
            rollback(conn, "nope", 1, actor="ops")


def test_a_removed_template_is_retired_and_no_longer_selectable(db_url, prompts):
    sync(prompts)
    (prompts / "feature_large.md.j2").unlink()
    assert outcomes(sync(prompts))["feature_large"] == ("retired", None, None)
    with transaction() as conn:
        ids = {t.template.id for t in catalog(conn).available}
        assert prompts_store.get_template(conn, "feature_large").retired_at is not None
    assert ids == set(SHIPPED) - {"feature_large"}


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="codeloop")
    prompt_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_console_commands_sync_list_and_rollback(db_url, prompts, monkeypatch, capsys):
    monkeypatch.setenv("CODELOOP_PROMPTS_DIR", str(prompts))
    assert run_cli("prompts", "sync") == 0
    assert f"prompts synced: {len(SHIPPED)} created" in capsys.readouterr().out
    edit(prompts / "docs.md.j2", "{% extends", "V2\n{% extends")
    assert run_cli("prompts", "sync") == 0
    assert "docs                     new_version  v2" in capsys.readouterr().out
    assert run_cli("prompts", "rollback", "docs", "--to", "1") == 0
    assert "now serves v1" in capsys.readouterr().out
    assert run_cli("prompts", "list") == 0
    table = capsys.readouterr().out.split("\n\n")[0]  # the quality scores follow
    listing = {line.split()[0]: line.split() for line in table.splitlines()[1:-1]}
    assert listing["docs"][:4] == ["docs", "2", "v1*", "v2"]
    assert listing["bug_fix"][:4] == ["bug_fix", "1", "v1", "v1"]
    assert run_cli("prompts", "rollback", "docs", "--to", "9") == 1
    assert "no version 9" in capsys.readouterr().err
    assert run_cli("prompts", "rollback", "docs", "--to", "latest") == 0
    assert "now serves the latest version" in capsys.readouterr().out
