"""The adoption rule: only the agent's own pull request becomes a task's."""

import pytest

from codeloop.domain.adoption import PullRequestFacts, adoption_refusal

BOTS = ("codegen-sh[bot]",)
AGENT_BRANCHES = ("codegen/fix-parse",)


def pull(**changes) -> PullRequestFacts:
    fields = {
        "repository": "octo/widgets",
        "number": 7,
        "head_branch": "codegen/fix-parse",
        "head_repository": "octo/widgets",
        "author": "codegen-sh[bot]",
    }
    return PullRequestFacts(**(fields | changes))


def refusal(candidate: PullRequestFacts) -> str | None:
    return adoption_refusal(candidate, agent_branches=AGENT_BRANCHES, bot_logins=BOTS)


def test_the_agents_own_pull_request_is_adopted():
    assert refusal(pull()) is None


def test_logins_and_repository_names_compare_without_case():
    assert refusal(pull(author="Codegen-SH[bot]", head_repository="Octo/Widgets")) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"head_repository": "stranger/widgets", "head_branch": "codegen/fix-parse"},
            "octo/widgets#7: its head lives in stranger/widgets, not in octo/widgets",
        ),
        (
            {"head_repository": None},
            "octo/widgets#7: its head lives in a deleted repository, not in octo/widgets",
        ),
        (
            {"author": "octocat"},
            "octo/widgets#7: its author 'octocat' is not the agent's bot (codegen-sh[bot])",
        ),
        (
            {"head_branch": "main", "head_repository": "stranger/widgets", "author": "stranger"},
            "octo/widgets#7: its branch 'main' is not one the agent created for this task",
        ),
        (
            {"head_branch": "codegen-bot/run-123"},  # names the run, but the run never reported it
            "octo/widgets#7: its branch 'codegen-bot/run-123' is not one the agent created for this task",
        ),
    ],
)
def test_an_outsiders_pull_request_is_refused_with_the_reason(changes, reason):
    assert refusal(pull(**changes)) == reason


def test_no_branch_is_the_agents_before_the_agent_reports_one():
    assert adoption_refusal(pull(), agent_branches=(), bot_logins=BOTS) is not None
