"""`codeloop link`: Linear and Slack users act as a linked GitHub login, and only as that one."""

from __future__ import annotations

import pytest

from codeloop import cli
from codeloop.db import identities_store
from codeloop.db.pool import transaction
from codeloop.domain.models import IdentityProvider


def test_a_link_is_kept_per_provider_and_a_relink_replaces_it(db_url, capsys):
    assert cli.main(["link", "slack", "U024BE7LH", "octocat"]) == 0
    assert cli.main(["link", "linear", "U024BE7LH", "@hubot"]) == 0  # the same id on Linear is someone else
    assert "now acts as GitHub user octocat" in capsys.readouterr().out

    with transaction() as conn:
        assert identities_store.get(conn, IdentityProvider.SLACK, "U024BE7LH").github_login == "octocat"
        assert identities_store.get(conn, IdentityProvider.LINEAR, "U024BE7LH").github_login == "hubot"

    assert cli.main(["link", "slack", "U024BE7LH", "monalisa"]) == 0
    assert cli.main(["links", "--provider", "slack"]) == 0
    listed = capsys.readouterr().out
    assert "monalisa" in listed and "octocat" not in listed and "hubot" not in listed


def test_unlink_forgets_and_says_when_there_was_nothing(db_url, capsys):
    assert cli.main(["link", "linear", "2f6a", "octocat"]) == 0
    assert cli.main(["unlink", "linear", "2f6a"]) == 0
    with transaction() as conn:
        assert identities_store.get(conn, IdentityProvider.LINEAR, "2f6a") is None
    assert cli.main(["unlink", "linear", "2f6a"]) == 1
    assert "no linear user 2f6a is linked" in capsys.readouterr().err


@pytest.mark.parametrize("login", ["octo cat", "-octocat", "a" * 40, "octo/cat"])
def test_a_login_github_could_not_have_is_refused(db_url, login):
    with pytest.raises(SystemExit) as refused:
        cli.main(["link", "slack", "U1", login])
    assert refused.value.code == 2
    with transaction() as conn:
        assert identities_store.all_links(conn) == []
