"""Linear mappings through the task API: a key maps only to repositories it reaches, and sees and
removes only mappings to them."""

from codeloop.db import linear_store
from codeloop.db.pool import transaction
from tests.integration.api.test_api_key_scopes import OURS, THEIRS, keys, request

__all__ = ["keys"]  # the fixture, shared with the scope tests


def mapped() -> list[tuple]:
    with transaction() as conn:
        return [
            (m.team_key, m.project, m.repository_full_name, m.done_state) for m in linear_store.mappings(conn)
        ]


def test_a_key_maps_lists_and_unmaps_its_own_repositories(keys):
    body = {"team": "eng", "repository": OURS, "done_state": "In Review"}
    answer = request("PUT", "/api/v1/linear/mappings", keys["ours"], body)
    assert answer["status"] == 200 and answer["body"]["mapping"]["team_key"] == "ENG"
    project = {"team": "ENG", "project": "Mobile", "repository": OURS}
    assert request("PUT", "/api/v1/linear/mappings", keys["ours"], project)["status"] == 200
    assert mapped() == [("ENG", "", OURS, "In Review"), ("ENG", "Mobile", OURS, None)]
    listed = request("GET", "/api/v1/linear/mappings", keys["ours"])["body"]["mappings"]
    assert [(m["team_key"], m["project"]) for m in listed] == [("ENG", ""), ("ENG", "Mobile")]
    gone = request("DELETE", "/api/v1/linear/mappings/ENG", keys["ours"], query="project=Mobile")
    assert gone["status"] == 200 and mapped() == [("ENG", "", OURS, "In Review")]


def test_another_installations_repository_or_mapping_is_out_of_reach(keys):
    refused = request("PUT", "/api/v1/linear/mappings", keys["ours"], {"team": "ENG", "repository": THEIRS})
    assert refused["status"] == 403 and mapped() == []
    assert (
        request("PUT", "/api/v1/linear/mappings", keys["theirs"], {"team": "ENG", "repository": THEIRS})[
            "status"
        ]
        == 200
    )
    # ours neither sees theirs, nor takes it over, nor removes it
    assert request("GET", "/api/v1/linear/mappings", keys["ours"])["body"] == {"mappings": []}
    takeover = request("PUT", "/api/v1/linear/mappings", keys["ours"], {"team": "ENG", "repository": OURS})
    assert takeover["status"] == 403
    assert request("DELETE", "/api/v1/linear/mappings/ENG", keys["ours"])["status"] == 404
    assert mapped() == [("ENG", "", THEIRS, None)]
    nul = {"team": "ENG", "repository": OURS, "done_state": "Done\x00"}  # PostgreSQL's text cannot hold NUL
    assert request("PUT", "/api/v1/linear/mappings", keys["ours"], nul)["status"] == 422
    assert (
        request("PUT", "/api/v1/linear/mappings", "no-such-key", {"team": "ENG", "repository": OURS})[
            "status"
        ]
        == 401
    )


def test_a_key_cannot_take_a_project_of_a_team_mapped_to_another_installation(keys):
    """A project's mapping wins over its team's, so a key that could add one would route that
    project's issues (and their text) from another installation's repository to its own."""
    theirs = {"team": "ENG", "repository": THEIRS}
    assert request("PUT", "/api/v1/linear/mappings", keys["theirs"], theirs)["status"] == 200
    shadow = {"team": "eng", "project": "Roadmap", "repository": OURS}
    refused = request("PUT", "/api/v1/linear/mappings", keys["ours"], shadow)
    assert refused["status"] == 403
    assert refused["body"]["error"] == "Linear team ENG is mapped to a repository outside the key's scope"
    assert mapped() == [("ENG", "", THEIRS, None)]
    with transaction() as conn:
        assert linear_store.mapping_for(conn, "ENG", "p-1", "Roadmap").repository_full_name == THEIRS
    # nor the other way round: a project of theirs keeps the whole team out of our reach
    assert request("DELETE", "/api/v1/linear/mappings/ENG", keys["theirs"])["status"] == 200
    their_project = {"team": "ENG", "project": "Roadmap", "repository": THEIRS}
    assert request("PUT", "/api/v1/linear/mappings", keys["theirs"], their_project)["status"] == 200
    whole_team = {"team": "ENG", "repository": OURS}
    assert request("PUT", "/api/v1/linear/mappings", keys["ours"], whole_team)["status"] == 403
    assert mapped() == [("ENG", "Roadmap", THEIRS, None)]
