"""Auto-merge of the agent's pull request once its task ends green (``auto_merge`` in the config).

Pure decisions. codeloop prefers GitHub's own auto-merge (``enablePullRequestAutoMerge``), so
branch protection, required reviews and required checks still decide when the merge happens.
When the repository does not allow auto-merge, codeloop merges through REST itself, and only
when GitHub reports the pull request mergeable (``mergeable`` true, ``mergeable_state`` clean)
and every check on the validated head is green; otherwise it says why it did not.

Never, whichever path: a pull request from a fork, one that is not the task's own (adoption
rule), one that changes protected paths (or may: GitHub cut its file list short), one whose head
moved since it was validated, or one with a failing check. Either path is pinned to the validated
head (``expectedHeadOid``, ``sha``): GitHub refuses it if the head moved in between.

GitHub keeps its auto-merge on when someone with write access (the agent's bot included) pushes
later, so auto-merge codeloop turned on is turned off again once the head moves past the
validated commit (:func:`must_turn_off_after_push`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from codeloop.domain.frozen import Frozen
from codeloop.domain.repo_checks import CheckRunState

MergeMethod = Literal["squash", "merge", "rebase"]
Action = Literal[
    "auto_merge_enabled",
    "auto_merge_disabled",  # turned off again: the head moved past the validated commit
    "auto_merge_disable_refused",  # that, but GitHub would not turn it off
    "merged",
    "not_merged",
]

# What GitHub's ``mergeable_state`` means for a merge codeloop would make itself.
MERGEABLE_STATE_REASONS = {
    "blocked": "GitHub reports it blocked: a required review or required check is missing",
    "behind": "its branch is behind the base branch",
    "dirty": "it has merge conflicts",
    "unstable": "GitHub reports it unstable: a check is not passing",
    "draft": "it is a draft",
    "has_hooks": "GitHub reports pre-receive hooks that must pass first",
    "unknown": "GitHub has not computed whether it can be merged yet",
}


class MergeFacts(Frozen):
    """What GitHub says about the pull request when codeloop considers merging it."""

    number: int
    state: str  # open | closed
    merged: bool = False
    draft: bool = False
    head_sha: str
    validated_sha: str | None  # the head codeloop validated green
    is_fork: bool
    not_own_reason: str | None  # why it is not the task's own pull request (domain/adoption.py)
    protected_changes: dict[str, str]  # path -> the pattern that protects it
    incomplete_file_list: str | None = None  # why the listed files may not be all it changes
    checks: Sequence[CheckRunState] = ()  # other Apps' check runs on the head
    allow_auto_merge: bool | None = None  # None: GitHub did not say
    mergeable: bool | None = None
    mergeable_state: str | None = None


class AutoMergeOutcome(Frozen):
    """What codeloop did about merging, stored on the task and rendered in the comment and check run."""

    action: Action
    method: MergeMethod
    pr_number: int | None = None
    head_sha: str | None = None
    reason: str | None = None  # why not, or what GitHub said when it took over


def refusal(facts: MergeFacts) -> str | None:
    """Why codeloop must not merge or enable auto-merge at all, or None."""
    if facts.merged:
        return "it is already merged"
    if facts.state != "open":
        return "it is closed"
    if facts.is_fork:
        return "it comes from a fork"
    if facts.not_own_reason:
        return f"it is not this task's own pull request ({facts.not_own_reason})"
    if facts.protected_changes:
        paths = ", ".join(f"`{path}` ({pattern})" for path, pattern in facts.protected_changes.items())
        return f"it changes protected paths: {paths}"
    if facts.incomplete_file_list:
        return facts.incomplete_file_list
    if facts.validated_sha is None or facts.head_sha != facts.validated_sha:
        return head_moved(facts.head_sha, facts.validated_sha)
    failing = sorted(check.name for check in facts.checks if check.failed)
    if failing:
        return f"a check is failing on its head: {', '.join(failing)}"
    return None


def head_moved(head_sha: str, validated_sha: str | None) -> str:
    """That the pull request's head is no longer the commit codeloop validated, in words."""
    return f"its head moved to {head_sha[:12]} after codeloop validated {str(validated_sha)[:12]}"


def must_turn_off_after_push(outcome: AutoMergeOutcome, head_sha: str) -> bool:
    """Whether a push that made ``head_sha`` the head must turn off the auto-merge codeloop turned
    on: it must unless the head is still the commit auto-merge was turned on for."""
    return outcome.action == "auto_merge_enabled" and outcome.head_sha != head_sha


def turned_off_after_push(
    outcome: AutoMergeOutcome, head_sha: str, github_refusal: str | None = None
) -> AutoMergeOutcome:
    """What to store once codeloop asked GitHub to turn auto-merge off because ``head_sha`` became
    the head; ``github_refusal`` is what GitHub said if it did not."""
    moved = head_moved(head_sha, outcome.head_sha)
    if github_refusal:
        return outcome.model_copy(
            update={
                "action": "auto_merge_disable_refused",
                "reason": f"{moved}, and GitHub refused to turn auto-merge off: {github_refusal}",
            }
        )
    return outcome.model_copy(update={"action": "auto_merge_disabled", "reason": moved})


def should_try_auto_merge(facts: MergeFacts) -> bool:
    """GitHub's auto-merge is tried unless the repository says it does not allow it."""
    return facts.allow_auto_merge is not False


def direct_merge_blocker(facts: MergeFacts) -> str | None:
    """Why codeloop may not merge through REST itself (GitHub's auto-merge being unavailable), or None."""
    if facts.draft:
        return MERGEABLE_STATE_REASONS["draft"]
    if facts.mergeable is not True or facts.mergeable_state != "clean":
        state = facts.mergeable_state or "unknown"
        return MERGEABLE_STATE_REASONS.get(state, f"GitHub reports its merge state as {state!r}")
    unfinished = sorted(check.name for check in facts.checks if check.status != "completed")
    if unfinished:
        return f"checks have not finished on its head: {', '.join(unfinished)}"
    return None


def graphql_method(method: MergeMethod) -> str:
    """The ``PullRequestMergeMethod`` enum value GitHub's GraphQL API takes."""
    return method.upper()


def outcome_text(outcome: AutoMergeOutcome) -> str:
    """One sentence for the comment and the check run summary."""
    where = f"#{outcome.pr_number}" if outcome.pr_number else "the pull request"
    if outcome.action == "auto_merge_enabled":
        return (
            f"Auto-merge ({outcome.method}) is on for {where}: GitHub merges it once branch protection, "
            "required reviews and required checks allow."
        )
    if outcome.action == "auto_merge_disabled":
        return (
            f"Auto-merge turned off for {where}: {outcome.reason}; GitHub would otherwise merge "
            "commits codeloop did not validate."
        )
    if outcome.action == "auto_merge_disable_refused":
        return (
            f"Auto-merge may still be on for {where}: {outcome.reason}. Turn it off by hand, or "
            "GitHub may merge commits codeloop did not validate."
        )
    if outcome.action == "merged":
        return f"Merged {where} ({outcome.method}) at {str(outcome.head_sha)[:12]}, the commit codeloop validated."
    return f"Not merged automatically: {outcome.reason}."
