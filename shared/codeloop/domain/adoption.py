"""Which pull request is the agent's: the rule for adopting a pull request as a task's.

Naming the run proves nothing: a run's URL is public in the status comment, anyone can write it
into a PR body, open a PR from a fork whose branch is called ``main``, or push a branch named
after the run. A pull request is the agent's only when all of these hold:

1. its head branch is one codeloop saw the agent create for the task: reported by the
   provider's run (Codegen's ``github_pull_requests[].head_branch_name``) or pushed by
   codeloop's own diff provider;
2. its head lives in the base repository (not a fork, not a deleted fork);
3. its author is one of the provider's bot logins.

Only such a pull request becomes the task's, and so only such a branch is ever pushed to.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict


class PullRequestFacts(BaseModel):
    """What GitHub says about a pull request, as far as adoption is concerned."""

    model_config = ConfigDict(frozen=True)

    repository: str  # the base repository, owner/name
    number: int
    head_branch: str
    head_repository: str | None  # None: the head repository (a fork) was deleted
    author: str


def adoption_refusal(
    pull: PullRequestFacts, *, agent_branches: Collection[str], bot_logins: Collection[str]
) -> str | None:
    """Why ``pull`` is not the agent's pull request, or None when it is."""
    where = f"{pull.repository}#{pull.number}"
    if pull.head_branch not in agent_branches:
        return f"{where}: its branch {pull.head_branch!r} is not one the agent created for this task"
    if pull.head_repository is None or pull.head_repository.lower() != pull.repository.lower():
        source = pull.head_repository or "a deleted repository"
        return f"{where}: its head lives in {source}, not in {pull.repository}"
    if pull.author.lower() not in {login.lower() for login in bot_logins}:
        expected = ", ".join(sorted(bot_logins)) or "(none configured)"
        return f"{where}: its author {pull.author!r} is not the agent's bot ({expected})"
    return None
