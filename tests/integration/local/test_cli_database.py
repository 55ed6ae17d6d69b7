"""The operator's commands find ``make dev``'s embedded database when no DATABASE_URL is set."""

from __future__ import annotations

import os

import pytest

from codeloop import cli
from codeloop.local import embedded_pg


@pytest.fixture
def no_database_url(monkeypatch):
    for name in ("DATABASE_URL", "DATABASE_URL_SECRET_ARN"):
        monkeypatch.setenv(name, "")  # recorded, so the test's own setting is undone afterwards
        monkeypatch.delenv(name)
    return monkeypatch


def test_with_make_dev_s_data_the_commands_use_its_server(no_database_url, tmp_path, capsys):
    data = tmp_path / "pgdata"
    data.mkdir()  # what `make dev` leaves behind
    no_database_url.setenv("CODELOOP_PGDATA", str(data))
    try:
        assert cli.main(["db", "migrate"]) == 0
        assert cli.main(["db", "status"]) == 0
        assert capsys.readouterr().out.rstrip().endswith(" 0 pending")
        assert str(data) in os.environ["DATABASE_URL"]
    finally:
        embedded_pg.start(data).cleanup()


def test_without_it_the_command_says_what_is_missing(no_database_url, tmp_path, capsys):
    no_database_url.setenv("CODELOOP_PGDATA", str(tmp_path / "never-started"))
    assert cli.main(["db", "status"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    assert not (tmp_path / "never-started").exists()
