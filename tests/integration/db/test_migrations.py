import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from codeloop import cli
from codeloop.db import migrations


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_migrate_an_empty_database_then_rerun_is_a_no_op(empty_db_url):
    applied = migrations.migrate(empty_db_url)
    assert [m.version for m in applied] == [m.version for m in migrations.discover()]
    assert {"tasks", "webhook_deliveries", "audit_log", "codeloop_migrations"} <= _tables(empty_db_url)
    assert migrations.migrate(empty_db_url) == []
    assert migrations.pending(empty_db_url) == []


def test_two_concurrent_runners_apply_each_migration_once(empty_db_url):
    results: list[list] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(migrations.migrate(empty_db_url))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(len(r) for r in results) == [0, len(migrations.discover())]
    with psycopg.connect(empty_db_url) as conn:
        count = conn.execute("select count(*) from codeloop_migrations").fetchone()[0]
    assert count == len(migrations.discover())


def test_an_edited_applied_migration_is_refused(empty_db_url, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    migrations.migrate(empty_db_url, directory)
    first = sorted(directory.glob("*.up.sql"))[0]
    first.write_text(first.read_text() + "\n-- a quiet edit\n")
    with pytest.raises(migrations.MigrationEdited, match="was edited after it was applied"):
        migrations.migrate(empty_db_url, directory)
    with pytest.raises(migrations.MigrationEdited):
        migrations.status(empty_db_url, directory)


def test_a_migration_without_rollback_is_refused(tmp_path: Path):
    (tmp_path / "0001_lonely.up.sql").write_text("select 1;")
    with pytest.raises(migrations.MigrationError, match="no rollback"):
        migrations.discover(tmp_path)


def test_every_migration_rolls_back_and_reapplies(empty_db_url):
    every = migrations.discover()
    migrations.migrate(empty_db_url)
    undone = migrations.rollback(empty_db_url, steps=len(every))
    assert [m.version for m in undone] == sorted((m.version for m in every), reverse=True)
    assert _tables(empty_db_url) == {"codeloop_migrations"}
    assert len(migrations.migrate(empty_db_url)) == len(every)


def test_a_failing_migration_leaves_nothing_half_applied(empty_db_url, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    (directory / "9998_half.up.sql").write_text("create table half_done (id int); select * from nowhere;")
    (directory / "9998_half.down.sql").write_text("drop table half_done;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrations.migrate(empty_db_url, directory)
    assert "half_done" not in _tables(empty_db_url)
    assert [s.migration.version for s in migrations.status(empty_db_url, directory) if not s.applied] == [
        9998
    ]


def test_cli_migrate_status_rollback(empty_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    assert cli.main(["db", "status"]) == 0
    assert "0 applied" in capsys.readouterr().out
    assert cli.main(["db", "migrate"]) == 0
    assert "applied  0001_initial" in capsys.readouterr().out
    assert cli.main(["db", "status"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(migrations.discover())} applied, 0 pending"
    assert cli.main(["db", "rollback"]) == 0
    assert "rolled back" in capsys.readouterr().out


def test_cli_names_the_missing_setting(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["db", "status"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
