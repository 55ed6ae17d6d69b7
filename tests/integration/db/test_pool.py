"""The process's connection pool: a statement committed on its own leaves its connection as every
other user of the pool expects it, in transactions again."""

from __future__ import annotations

import psycopg
import pytest

from codeloop.db import pool as pool_module
from codeloop.db.pool import autocommitted, pinned_connection, transaction


@pytest.fixture
def one_connection(db_url, monkeypatch):
    """A pool of a single connection, so each use below gets the same one."""
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "1")
    pool_module.close_pool()
    yield
    pool_module.close_pool()


def test_an_autocommitted_statement_is_committed_and_its_connection_handed_back_transactional(one_connection):
    with autocommitted() as conn:
        conn.execute("create table t (n int)")
        conn.execute("insert into t values (1)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # committed already
    with transaction() as conn:
        assert conn.autocommit is False
        conn.execute("insert into t values (2)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    with transaction() as conn:
        assert [row["n"] for row in conn.execute("select n from t order by n")] == [1, 2]


def test_a_failed_autocommitted_statement_also_hands_its_connection_back_transactional(one_connection):
    with pytest.raises(psycopg.errors.UndefinedTable), autocommitted() as conn:
        conn.execute("insert into no_such_table values (1)")
    with transaction() as conn:
        assert conn.autocommit is False
        assert conn.execute("select 1 as one").fetchone() == {"one": 1}


def test_no_autocommitted_statement_inside_a_pinned_connection(one_connection):
    with pinned_connection(), pytest.raises(RuntimeError, match="pinned_connection"), autocommitted():
        pass
