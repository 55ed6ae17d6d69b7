"""Time limits from the configuration, and the working directories' clean-up."""

from __future__ import annotations

import os
import time
from pathlib import Path

from codeloop.domain.repo_config import parse_repo_config
from codeloop.services.validation.run import (
    CHECKOUT_SECONDS,
    STALE_WORKDIR_SECONDS,
    WORKDIR_PREFIX,
    RunLimits,
    SandboxDirs,
    remove_tree,
    sweep_stale_workdirs,
)


def test_limits_follow_timeout_minutes():
    limits = RunLimits.for_config(parse_repo_config("validation:\n  timeout_minutes: 30\n  test: [x]\n"))
    assert (limits.total_seconds, limits.command_seconds, limits.checkout_seconds) == (
        1800,
        1800,
        CHECKOUT_SECONDS,
    )


def test_limits_are_cut_to_the_callers_budget():
    limits = RunLimits.for_config(parse_repo_config("validation:\n  timeout_minutes: 20\n  test: [x]\n"), 840)
    assert (limits.total_seconds, limits.command_seconds) == (840, 840)
    tiny = RunLimits.for_config(parse_repo_config(None), 120)
    assert (tiny.total_seconds, tiny.checkout_seconds) == (120, 120)


def test_sweep_removes_only_old_working_directories(tmp_path: Path):
    old = SandboxDirs.create(tmp_path).root
    fresh = SandboxDirs.create(tmp_path).root
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    long_ago = time.time() - STALE_WORKDIR_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(unrelated, (long_ago, long_ago))
    sweep_stale_workdirs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, "something-else"])
    assert fresh.name.startswith(WORKDIR_PREFIX)


def test_remove_tree_copes_with_read_only_folders(tmp_path: Path):
    dirs = SandboxDirs.create(tmp_path)
    cache = dirs.home / "go" / "pkg" / "mod"
    cache.mkdir(parents=True)
    (cache / "file.go").write_text("package x\n")
    (cache / "file.go").chmod(0o444)
    cache.chmod(0o555)
    (dirs.tmp / "link").symlink_to("/etc/passwd")
    remove_tree(dirs.root)
    assert not dirs.root.exists()
    assert Path("/etc/passwd").exists()


def test_sweep_unlinks_a_planted_symlink_without_following_it(tmp_path: Path):
    work_root = tmp_path / "tmp"
    work_root.mkdir()
    work_root.chmod(0o1777)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep\n")
    planted = work_root / (WORKDIR_PREFIX + "x")
    planted.symlink_to(target)
    long_ago = time.time() - STALE_WORKDIR_SECONDS - 60
    os.utime(planted, (long_ago, long_ago), follow_symlinks=False)
    sweep_stale_workdirs(work_root)
    assert (target / "keep.txt").read_text() == "keep\n"
    assert oct(work_root.stat().st_mode & 0o7777) == oct(0o1777)
    assert not os.path.lexists(planted)


def test_remove_tree_never_loosens_permissions_outside_the_tree(tmp_path: Path):
    work_root = tmp_path / "tmp"
    work_root.mkdir()
    work_root.chmod(0o1777)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    (target / "keep.txt").write_text("keep\n")
    link = work_root / (WORKDIR_PREFIX + "x")
    link.symlink_to(target)
    remove_tree(link)
    assert oct(work_root.stat().st_mode & 0o7777) == oct(0o1777)
    assert oct(target.stat().st_mode & 0o7777) == oct(0o755)
    assert (target / "keep.txt").exists()
