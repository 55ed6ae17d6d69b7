"""Gather what a prompt is built from (:class:`PromptInputs`) for one task, through the GitHub module.

The task's own text comes from PostgreSQL and is always there. Everything else is an optional
*piece* (repository metadata, README, file tree, named or changed files, the PR and its diff,
dependency manifests, recent commits, and for a fix prompt the previous validation's failures,
annotations and the task's earlier attempts). Each piece is timed and sized; one that fails
(404, no permission, rate limit, a server error after the client's retries) is logged, noted in
the measures and left out; it never fails the build. After a rate limit the remaining GitHub
pieces are skipped rather than spent against the same limit. Raw inputs are capped when
fetched, before any cleaning: the context budget cuts them further.

Task complexity is 1-10 in the database and 1-5 in :class:`TaskSpec`: it is mapped as
``ceil(c / 2)`` (:func:`~codeloop.domain.prompt_context.spec_complexity`) (the database default 5 becomes 3, TaskSpec's default).
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from codeloop.adapters import github
from codeloop.domain.commands import from_fork
from codeloop.domain.models import Repository, Task, TaskSource, TaskType
from codeloop.domain.prompt_context import (
    Commit,
    EarlierAttempt,
    Failure,
    FileText,
    IssueRef,
    PromptInputs,
    PullRequestRef,
    RepositoryInfo,
    ReviewComment,
    TaskSpec,
    spec_complexity,
)
from codeloop.domain.validation import Annotation, ValidationReport
from codeloop.observability import logger

# Caps on raw inputs, applied when fetched.
MAX_DIFF_CHARS = 300_000
MAX_FILE_CHARS = 100_000
MAX_FILES = 15
MAX_FILES_TOTAL_CHARS = 1_000_000
MAX_README_CHARS = 20_000
MAX_MANIFEST_CHARS = 20_000
MAX_LOG_CHARS = 1_000_000  # per failing command: its output's tail
MAX_TEST_FAILURES = 25
MAX_ANNOTATIONS = 50
COMMIT_FILES = 3  # recent commits are asked for the first few relevant files
COMMITS_PER_FILE = 5

# Every call of one build shares one installation token.
READ_PERMISSIONS: github.Permissions = {"metadata": "read", "contents": "read", "pull_requests": "read"}

MANIFEST_NAMES = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "requirements.txt",
    "requirements-dev.txt",
    "Pipfile",
    "package.json",
    "go.mod",
    "Cargo.toml",
    "Gemfile",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "composer.json",
    "mix.exs",
    "Package.swift",
)
_MANIFEST_PATTERN = re.compile(r"^requirements[\w.-]*\.(txt|in)$")
README_NAMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")
# A path-like token: at least one dot or slash, no spaces; trailing punctuation trimmed.
_PATH_TOKEN = re.compile(r"[\w@~+-][\w./@~+-]*[./][\w./@~+-]*\w")

Outcome = Literal["ok", "empty", "not_found", "failed", "skipped"]


class PieceMeasure(BaseModel):
    """How gathering one piece went: for the manifest and the metrics line."""

    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    ms: float
    chars: int = 0
    note: str = ""


class Gathered(BaseModel):
    model_config = ConfigDict(frozen=True)

    inputs: PromptInputs
    measures: list[PieceMeasure]
    github_ms: float  # wall time inside GitHub-backed pieces


class FixContext(BaseModel):
    """What a fix prompt adds: the state machine's previous codegen and validation outputs."""

    model_config = ConfigDict(extra="allow", frozen=True)

    pr_number: int | None = None
    head_sha: str | None = None
    validation_run_id: str | None = None
    verdict: str | None = None
    same_failure: bool | None = None


class _Result:
    """What a piece's body reports back to :meth:`_Gathering.piece`."""

    __slots__ = ("chars", "missing", "note")

    def __init__(self) -> None:
        self.chars = 0
        self.note = ""
        self.missing = False  # GitHub has no such thing (a file read answers None on 404)


class _Gathering:
    def __init__(self) -> None:
        self.measures: list[PieceMeasure] = []
        self.rate_limited = False
        self.github_ms = 0.0

    @contextmanager
    def piece(self, name: str, *, uses_github: bool = True) -> Iterator[_Result | None]:
        """Time and size a piece; an optional piece's GitHub failure is noted and swallowed."""
        result = _Result()
        if uses_github and self.rate_limited:
            self.measures.append(PieceMeasure(name=name, outcome="skipped", ms=0.0, note="GitHub rate limit"))
            yield None
            return
        started = time.perf_counter()
        outcome: Outcome = "ok"
        try:
            yield result
        except github.GitHubNotFound:
            outcome, result.note = "not_found", "404"
        except github.GitHubError as exc:
            self.rate_limited |= isinstance(exc, github.GitHubRateLimited)
            outcome, result.note = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
            logger.warning("optional prompt context left out", extra={"piece": name, "error": result.note})
        ms = (time.perf_counter() - started) * 1000
        if uses_github:
            self.github_ms += ms
        if outcome == "ok" and result.missing:
            outcome, result.note = "not_found", "404"
        elif outcome == "ok" and not result.chars:
            outcome = "empty"
        self.measures.append(
            PieceMeasure(name=name, outcome=outcome, ms=round(ms, 2), chars=result.chars, note=result.note)
        )


def _cap(text: str, limit: int, keep: Literal["head", "tail"] = "head") -> str:
    if len(text) <= limit:
        return text
    return text[:limit] if keep == "head" else text[-limit:]


def mentioned_paths(texts: list[str], tree: list[str]) -> list[str]:
    """Paths in the tree that the texts name: exactly, or by a file name only one path has."""
    in_tree = set(tree)
    by_name: dict[str, list[str]] = {}
    for path in tree:
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    found: list[str] = []
    for text in texts:
        for token in _PATH_TOKEN.findall(text or ""):
            token = token.strip("./").removeprefix("a/").removeprefix("b/") if "/" in token else token
            candidates = [token] if token in in_tree else by_name.get(token, [])
            if len(candidates) == 1 and candidates[0] not in found:
                found.append(candidates[0])
    return found


def gather(
    task: Task,
    repository: Repository,
    *,
    attempt: int,
    fix: FixContext | None = None,
    validation_run: Any = None,
    earlier_attempts: list[EarlierAttempt] | None = None,
) -> Gathered:
    """The prompt inputs for ``task``; ``fix`` (with the previous validation run and the earlier
    attempts, read from the database by the caller) makes it a fix prompt's."""
    if repository.installation_id is None:
        raise ValueError(f"repository {repository.full_name} has no installation")
    inst, name = repository.installation_id, repository.full_name
    gathering = _Gathering()

    repo_info = RepositoryInfo(full_name=name, default_branch=repository.default_branch)
    with gathering.piece("repository") as result:
        if result is not None:
            meta = github.get_repository(inst, name, permissions=READ_PERMISSIONS)
            languages = github.get_languages(inst, name, permissions=READ_PERMISSIONS)
            repo_info = RepositoryInfo(
                full_name=meta.full_name,
                default_branch=meta.default_branch,
                html_url=meta.html_url,
                languages=languages,
            )
            result.chars = len(repo_info.model_dump_json())
    web_url = repo_info.html_url or f"https://github.com/{name}"

    pr_number = fix.pr_number if fix and fix.pr_number else task.pr_number
    pull_request: PullRequestRef | None = None
    changed: list[str] = []
    diff: str | None = None
    if pr_number:
        with gathering.piece("pull_request") as result:
            if result is not None:
                pr = github.get_pull_request(inst, name, pr_number, permissions=READ_PERMISSIONS)
                pull_request = PullRequestRef(
                    number=pr.number,
                    title=pr.title,
                    body=pr.body,
                    url=pr.html_url,
                    head_branch=head_label(pr, name),
                    base_branch=pr.base_ref,
                    head_sha=pr.head_sha,
                    author=pr.user_login,
                )
                result.chars = len(pr.title) + len(pr.body or "")
        with gathering.piece("pull_request_files") as result:
            if result is not None:
                files = github.list_pull_request_files(inst, name, pr_number, permissions=READ_PERMISSIONS)
                changed = [f.filename for f in files if f.status != "removed"]
                result.chars = sum(len(f.filename) for f in files)
        with gathering.piece("diff") as result:
            if result is not None:
                diff = _cap(
                    github.get_pull_request_diff(inst, name, pr_number, permissions=READ_PERMISSIONS),
                    MAX_DIFF_CHARS,
                )
                result.chars = len(diff)
        if pull_request is None:  # the PR could not be read: what the task knows stands in
            pull_request = PullRequestRef(
                number=pr_number,
                title=task.title,
                body=task.metadata.get("subject_body"),
                url=task.pr_url or f"{web_url}/pull/{pr_number}",
                head_branch=task.branch
                or ("(a fork):(unknown)" if task.metadata.get("from_fork") else "(unknown)"),
                base_branch=task.base_branch or repo_info.default_branch,
            )
    ref = (
        (pull_request.head_sha if pull_request else None)
        or (fix.head_sha if fix else None)
        or repo_info.default_branch
    )

    tree: list[str] = []
    with gathering.piece("file_tree") as result:
        if result is not None:
            listing = github.get_tree(inst, name, ref, permissions=READ_PERMISSIONS)
            tree = [entry.path for entry in listing.entries if entry.type == "blob"]
            result.chars = sum(len(p) + 1 for p in tree)
            result.note = "truncated by GitHub" if listing.truncated else ""

    texts: dict[str, str | None] = {}  # a README or manifest the PR changes is read once

    def read(path: str, cap: int, result: _Result) -> str | None:
        if path not in texts:
            texts[path] = github.get_file_content(inst, name, path, ref, permissions=READ_PERMISSIONS)
        text = texts[path]
        result.missing = text is None
        return None if text is None else _cap(text, cap)

    readme: str | None = None
    readme_path = next((p for p in README_NAMES if p in tree), None) if tree else "README.md"
    if readme_path:
        with gathering.piece(f"readme:{readme_path}") as result:
            if result is not None:
                readme = read(readme_path, MAX_README_CHARS, result)
                result.chars = len(readme or "")

    task_texts = _task_texts(task)
    wanted = [*mentioned_paths(task_texts, tree), *changed] if tree else list(changed)
    files: list[FileText] = []
    total = 0
    for path in dict.fromkeys(wanted):
        if len(files) >= MAX_FILES or total >= MAX_FILES_TOTAL_CHARS:
            gathering.measures.append(
                PieceMeasure(name=f"file:{path}", outcome="skipped", ms=0.0, note="file cap")
            )
            continue
        with gathering.piece(f"file:{path}") as result:
            if result is not None and (text := read(path, MAX_FILE_CHARS, result)) is not None:
                files.append(FileText(path=path, content=text))
                total += len(text)
                result.chars = len(text)

    manifests: list[FileText] = []
    for path in (p for p in tree if p in MANIFEST_NAMES or _MANIFEST_PATTERN.match(p)):
        with gathering.piece(f"manifest:{path}") as result:
            if result is not None and (text := read(path, MAX_MANIFEST_CHARS, result)) is not None:
                manifests.append(FileText(path=path, content=text))
                result.chars = len(text)

    commits: dict[str, Commit] = {}
    for path in [f.path for f in files][:COMMIT_FILES]:
        with gathering.piece(f"commits:{path}") as result:
            if result is not None:
                for item in github.list_commits(
                    inst, name, path=path, ref=ref, limit=COMMITS_PER_FILE, permissions=READ_PERMISSIONS
                ):
                    commits.setdefault(
                        item.sha, Commit(sha=item.sha, message=item.message, author=item.author_name)
                    )
                    result.chars += len(item.message)

    review_comments: list[ReviewComment] = []
    if pr_number and task.type == TaskType.REVIEW_FEEDBACK:
        with gathering.piece("review_comments") as result:
            if result is not None:
                threads = github.list_review_threads(inst, name, pr_number, permissions=READ_PERMISSIONS)
                review_comments = open_thread_comments(threads, task.metadata.get("trusted_reviewers") or [])
                result.chars = sum(len(c.body) + len(c.diff_hunk or "") for c in review_comments)

    failures: list[Failure] = []
    annotations: list[Annotation] = []
    if fix is not None:
        with gathering.piece("previous_validation", uses_github=False) as result:
            assert result is not None
            failures, annotations, result.note = _validation_pieces(validation_run)
            result.chars = sum(len(f.output) for f in failures) + sum(len(a.message) for a in annotations)
    attempts = list(earlier_attempts or [])
    if attempts:
        with gathering.piece("attempts", uses_github=False) as result:
            assert result is not None
            result.chars = sum(len(a.summary) for a in attempts)

    spec = TaskSpec(
        type="fix_failing_checks" if fix is not None else task.type,
        complexity=spec_complexity(task.complexity),
        request=_request(task),
        requested_by=task.requested_by,
        acceptance_criteria=[str(c) for c in task.acceptance_criteria],
        issue=_issue(task, web_url),
        pull_request=pull_request,
        attempt=max(attempt, 1),
    )
    inputs = PromptInputs(
        task=spec,
        repository=repo_info,
        readme=readme,
        file_tree=tree,
        files=files,
        diff=diff,
        manifests=manifests,
        commits=list(commits.values()),
        failures=failures,
        annotations=annotations,
        attempts=attempts,
        review_comments=review_comments,
    )
    return Gathered(inputs=inputs, measures=gathering.measures, github_ms=round(gathering.github_ms, 2))


def head_label(pull: github.PullRequest, full_name: str) -> str:
    """The pull request's head branch; a fork's as GitHub labels it, ``owner/name:branch`` (git
    forbids ``:`` in a branch name, so the delivery instructions tell a fork's head apart by it)."""
    if not from_fork(pull.head_repo_full_name, full_name):
        return pull.head_ref
    return f"{pull.head_repo_full_name or '(a deleted fork)'}:{pull.head_ref}"


def open_thread_comments(
    threads: list[github.ReviewThread], trusted_reviewers: Collection[str]
) -> list[ReviewComment]:
    """The comments of the unresolved threads that a trusted reviewer opened (the intake's
    ``trusted_reviewers``: people with ``commands.min_permission``), numbered by thread. A resolved
    thread is settled, and one anyone else opened is not an instruction: both stay out of the
    prompt. The diff hunk is given once, with a thread's first comment."""
    open_threads = [
        t
        for t in threads
        if not t.is_resolved and t.comments and t.comments[0].author_login in trusted_reviewers
    ]
    return [
        ReviewComment(
            thread=number,
            author=comment.author_login,
            body=comment.body,
            path=thread.path,
            line=thread.line or thread.original_line,
            diff_hunk=comment.diff_hunk if position == 0 else None,
            url=comment.url,
        )
        for number, thread in enumerate(open_threads, start=1)
        for position, comment in enumerate(thread.comments)
    ]


def _task_texts(task: Task) -> list[str]:
    return [
        task.title,
        task.description,
        str(task.metadata.get("subject_body") or ""),
        *map(str, task.requirements),
        *map(str, task.acceptance_criteria),
    ]


def _from_thread(task: Task) -> bool:
    """Comment, label and Slack tasks take their title from the issue or PR: third-party text."""
    return task.source in (TaskSource.COMMENT, TaskSource.LABEL, TaskSource.SLACK)


def _request(task: Task) -> str:
    """The maintainer's words: the instructions, requirements, and (for API tasks) the title."""
    parts = [] if _from_thread(task) else [task.title]
    if task.description.strip():
        parts.append(task.description.strip())
    if task.requirements:
        parts.append("Requirements:\n" + "\n".join(f"- {r}" for r in task.requirements))
    if not parts:
        parts.append("No further instructions: work from the issue or pull request below.")
    return "\n\n".join(parts)


def _issue(task: Task, web_url: str) -> IssueRef | None:
    linear = task.metadata.get("linear")
    if isinstance(linear, dict):  # a Linear issue: named by its identifier (ENG-123), text fenced
        return IssueRef(
            number=int(linear.get("number") or 0),
            reference=str(linear["identifier"]),
            title=task.title,
            body=str(task.metadata.get("subject_body") or "") or None,
            url=str(linear.get("url") or ""),
        )
    if task.issue_number is None or task.issue_number == task.pr_number or not _from_thread(task):
        return None
    return IssueRef(
        number=task.issue_number,
        title=task.title,
        body=str(task.metadata.get("subject_body") or "") or None,
        url=f"{web_url}/issues/{task.issue_number}",
    )


def _validation_pieces(run: Any) -> tuple[list[Failure], list[Annotation], str]:
    """Failures and annotations from a validation_runs row, read defensively: its ``results``
    should hold a :class:`ValidationReport`; anything else falls back to the summary."""
    if run is None:
        return [], [], "no validation run recorded"
    try:
        report = ValidationReport.model_validate(run.results)
    except ValidationError:
        summary = getattr(run, "summary", None)
        fallback = [Failure(source="validation", output=summary)] if summary else []
        return fallback, [], "results not in the expected shape; the summary stands in"
    failures = [
        Failure(
            source=f"{command.phase} command {command.command}",
            exit_code=command.exit_code,
            output=_cap(command.output, MAX_LOG_CHARS, "tail"),
        )
        for command in report.commands
        if not command.succeeded
    ]
    if report.deployment is not None and not report.deployment.ready:
        failures.append(
            Failure(
                source="deploy: the app never became ready",
                output=_cap(
                    f"{report.deployment.problem}\n{report.deployment.output}", MAX_LOG_CHARS, "tail"
                ),
            )
        )
    failures.extend(
        Failure(
            source=f"HTTP check {check.name}: {check.method} {check.url}",
            output=f"{check.problem}\nstatus: {check.status}\nbody:\n{check.body}".strip(),
        )
        for check in report.checks
        if not check.passed
    )
    if report.review is not None and report.review.blocks:
        failures.append(
            Failure(
                source="AI review (blocking): changes requested",
                output="\n".join(
                    [
                        report.review.summary,
                        *(f"{f.file}:{f.line}: {f.message}" for f in report.review.findings),
                    ]
                ).strip(),
            )
        )
    for test in report.failures[:MAX_TEST_FAILURES]:
        where = (
            f"{test.file}:{test.line}\n"
            if test.file and test.line
            else (f"{test.file}\n" if test.file else "")
        )
        failures.append(
            Failure(source=f"test {test.name}", output=f"{where}{test.message}\n{test.details}".strip())
        )
    annotations = report.annotations[:MAX_ANNOTATIONS]
    note = f"{report.failures_total} failing tests" if report.failures_total else ""
    return failures, annotations, note
