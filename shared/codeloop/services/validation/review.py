"""The AI review of ``validation.review``, asked on the trusted side when the runner's report
comes back (the runner holds no provider key and never sees the reviewer).

The OpenAI-compatible provider gets the pull request's diff, the task's acceptance criteria and
the results; its answer is checked against the fixed shape in :mod:`codeloop.domain.review`.
Whatever goes wrong (no provider, an unreachable provider or GitHub, an answer of another shape)
becomes a review outcome that says so. (Only the review lock can raise: its wait is bounded, and
the report's message is then retried and finds the stored review.) What that outcome does to the attempt
(a blocking review that could not be obtained is not a pass) is :func:`codeloop.domain.validation.with_review`'s.

A review the model answered is kept per validation run and head commit (``validation_reviews``)
and asked under the task's review lock: a redelivered report, even one processed at the same
time, reuses it and the model is asked, and paid, once. A review that got no answer is not kept,
so a redelivery asks again.
"""

from __future__ import annotations

from codeloop.adapters import github
from codeloop.adapters.openai_compat import OpenAIChat, first_message
from codeloop.db import store, validation_store
from codeloop.db.locks import task_lock
from codeloop.db.pool import transaction
from codeloop.domain.costs import Charge
from codeloop.domain.providers import FinalError
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
REVIEW_LOCK = "ai_review"  # task_lock purpose: one review asked at a time per task
NO_PROVIDER = "no OpenAI-compatible provider is configured (OPENAI_BASE_URL)"
ANSWERED = frozenset({"reviewed", "unreadable"})  # the model answered (and was paid): kept


def review_pull_request(job: ValidationJob, report: ValidationReport) -> AIReview | None:
    """The review of the job's pull request, or None when the repository did not ask for one
    (or nothing ran). The review kept for this validation run and head commit, if any."""
    config: ReviewConfig = job.review
    if not config.enabled or report.verdict not in REVIEWED_VERDICTS:
        return None
    if not get_settings().openai_base_url:
        return AIReview(status="skipped", blocking=config.blocking, problem=NO_PROVIDER)
    with task_lock(REVIEW_LOCK, job.task_id):
        with transaction() as conn:
            kept = validation_store.stored_review(conn, job.task_id, job.attempt, job.head_sha)
        if kept is not None:
            logger.info("AI review reused: this report was delivered before", extra={"status": kept.status})
            return kept
        review = _ask_reviewer(job, report, config)
        if review.status in ANSWERED:
            with transaction() as conn:
                validation_store.store_review(conn, job.task_id, job.attempt, job.head_sha, review)
    return review


def _ask_reviewer(job: ValidationJob, report: ValidationReport, config: ReviewConfig) -> AIReview:
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
            answer = chat.complete(messages, charge)
        finally:
            chat.close()
    except Exception as exc:  # an optional review never fails the step: its outcome says why
        problem = f"{type(exc).__name__}: {exc}"[:300]
        logger.warning("AI review unavailable", extra={"error": problem})
        return AIReview(status="unavailable", blocking=config.blocking, problem=problem)
    try:
        content, _ = first_message(chat.name, answer)
        parsed = parse_review_answer(content)
    except (FinalError, UnreadableReview) as exc:
        return AIReview(status="unreadable", blocking=config.blocking, problem=str(exc))
    return AIReview(
        status="reviewed",
        blocking=config.blocking,
        verdict=parsed.verdict,
        summary=parsed.summary,
        findings=parsed.findings,
        changed_files=diff_files(diff),
    )
