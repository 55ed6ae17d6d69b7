"""The AI review of ``validation.review``, asked on the trusted side when the runner's report
comes back (the runner holds no provider key and never sees the reviewer).

The OpenAI-compatible provider gets the pull request's diff, the task's acceptance criteria and
the results; its answer is checked against the fixed shape in :mod:`codeloop.domain.review`.
Whatever goes wrong (no provider, an unreachable provider or GitHub, an answer of another shape)
becomes a review outcome that says so: it never fails the step.
"""

from __future__ import annotations

from codeloop.adapters import github
from codeloop.adapters.openai_compat import OpenAIChat, first_message
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.costs import Charge
from codeloop.domain.repo_config import ReviewConfig
from codeloop.domain.review import (
    AIReview,
    UnreadableReview,
    diff_files,
    parse_review_answer,
    review_messages,
)
from codeloop.domain.validation import ValidationReport, results_text
from codeloop.domain.validation_request import ValidationJob
from codeloop.observability import logger
from codeloop.services.costs.ledger import record as record_usage
from codeloop.settings import get_settings

REVIEWED_VERDICTS = frozenset({"passed", "failed"})  # the code ran: there are results to review
REVIEW_PROMPT_NAME = "ai_review@1"  # gen_ai.prompt.name of the review's fixed prompt (domain/review.py)
NO_PROVIDER = "no OpenAI-compatible provider is configured (OPENAI_BASE_URL)"


def review_pull_request(job: ValidationJob, report: ValidationReport) -> AIReview | None:
    """The review of the job's pull request, or None when the repository did not ask for one
    (or nothing ran)."""
    config: ReviewConfig = job.review
    if not config.enabled or report.verdict not in REVIEWED_VERDICTS:
        return None
    if not get_settings().openai_base_url:
        return AIReview(status="skipped", blocking=config.blocking, problem=NO_PROVIDER)
    try:
        diff = github.get_pull_request_diff(job.installation_id, job.full_name, job.pr_number)
        with transaction() as conn:
            criteria = [str(c) for c in store.require_task(conn, job.task_id).acceptance_criteria]
        messages = review_messages(
            repository=job.full_name,
            diff=diff,
            acceptance_criteria=criteria,
            results=results_text(report),
            instructions=config.instructions,
        )
        chat = OpenAIChat.from_settings(usage_sink=record_usage)
        try:
            charge = Charge(task_id=job.task_id, attempt=job.attempt, prompt_name=REVIEW_PROMPT_NAME)
            content, _ = first_message(chat.name, chat.complete(messages, charge))
        finally:
            chat.close()
    except Exception as exc:  # an optional review never fails the validation
        problem = f"{type(exc).__name__}: {exc}"[:300]
        logger.warning("AI review unavailable", extra={"error": problem})
        return AIReview(status="unavailable", blocking=config.blocking, problem=problem)
    try:
        answer = parse_review_answer(content)
    except UnreadableReview as exc:
        return AIReview(status="unreadable", blocking=config.blocking, problem=str(exc))
    return AIReview(
        status="reviewed",
        blocking=config.blocking,
        verdict=answer.verdict,
        summary=answer.summary,
        findings=answer.findings,
        changed_files=diff_files(diff),
    )
