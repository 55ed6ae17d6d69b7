"""The repository's own CI folded into a validation: what is waited for, what is blamed."""

from codeloop.domain.repo_checks import CheckRunState, SuiteState, fold_checks, unfinished_suites
from codeloop.domain.validation import ValidationReport, with_repo_checks

OURS = 4242  # codeloop's App id
APP_IDS = {"github-actions": 15368, "buildkite": 501, "idle-app": 502, "circleci": 503, "other-app": 504}


def run(
    name: str,
    conclusion: str | None = "success",
    *,
    app: str = "github-actions",
    app_id: int | None = None,
    status: str = "completed",
):
    return CheckRunState(
        name=name, app=app, app_id=app_id or APP_IDS[app], status=status, conclusion=conclusion
    )


def suite(app: str, status: str, conclusion: str | None = None, app_id: int | None = None) -> SuiteState:
    return SuiteState(app=app, app_id=app_id or APP_IDS[app], status=status, conclusion=conclusion)


PASSED = ValidationReport(verdict="passed", summary="Passed: 1 test command succeeded", head_sha="a" * 40)


def test_running_suites_of_other_apps_are_waited_for_but_not_ours_nor_idle_queued_ones():
    suites = [
        suite("codeloop", "in_progress", app_id=OURS),
        suite("github-actions", "in_progress"),
        suite("idle-app", "queued"),  # never creates a run: GitHub leaves it queued
        suite("buildkite", "queued"),  # queued but its runs exist: it will run
        suite("circleci", "completed", "success"),
    ]
    runs = [run("build", app="buildkite", status="queued", conclusion=None)]
    assert [s.app for s in unfinished_suites(suites, runs, OURS)] == ["github-actions", "buildkite"]


def test_codeloop_knows_its_own_checks_by_app_id_not_by_name():
    suites = [
        suite("acme-review-bot", "in_progress", app_id=OURS),  # codeloop, installed under another name
        suite("codeloop", "in_progress", app_id=9999),  # another App that happens to be called codeloop
    ]
    runs = [
        run("review", "failure", app="acme-review-bot", app_id=OURS),
        run("codeloop", "failure", app="codeloop", app_id=9999),
    ]
    assert [s.app_id for s in unfinished_suites(suites, runs, OURS)] == [9999]
    checks = fold_checks(runs, set(), own_app_id=OURS, complete=True)
    assert [(c.app, c.name, c.outcome) for c in checks.checks] == [("codeloop", "codeloop", "failed")]


def test_failures_are_blamed_unless_the_base_branch_fails_the_same_check():
    checks = fold_checks(
        [
            run("unit", "failure"),
            run("lint", "failure"),
            run("docs", "timed_out"),
            run("deploy-preview", "cancelled"),
            run("codeloop", "failure", app="codeloop", app_id=OURS),
        ],
        {("github-actions", "lint"), ("other-app", "docs")},
        own_app_id=OURS,
        complete=True,
    )
    assert {c.name: c.outcome for c in checks.checks} == {
        "unit": "failed",
        "lint": "failing_on_base",
        "docs": "failed",  # same name, another App: not the same check
        "deploy-preview": "neutral",
    }
    assert [c.name for c in checks.blamed] == ["docs", "unit"]
    assert checks.notes == ["Already failing on the base branch, not counted against this pull request: lint"]


def test_a_wait_ended_at_its_deadline_says_what_had_not_finished():
    checks = fold_checks(
        [run("unit"), run("e2e", None, status="in_progress")],
        set(),
        own_app_id=OURS,
        complete=False,
        waited_minutes=60,
    )
    assert [c.outcome for c in checks.checks] == ["not_finished", "passed"]
    assert checks.blamed == []
    assert checks.notes == [
        "The repository's CI had not finished after 60 minutes: e2e; decided on the checks that had finished"
    ]


def test_a_blamed_check_fails_a_passing_report_with_a_signature_of_its_own():
    failing = fold_checks([run("unit", "failure"), run("lint")], set(), own_app_id=OURS, complete=True)
    report = with_repo_checks(PASSED, failing)
    assert (report.verdict, report.summary) == ("failed", "Repository checks failed: unit")
    again = with_repo_checks(
        PASSED, fold_checks([run("lint"), run("unit", "failure")], set(), own_app_id=OURS, complete=True)
    )
    other = with_repo_checks(
        PASSED, fold_checks([run("lint", "failure")], set(), own_app_id=OURS, complete=True)
    )
    assert report.failure_signature == again.failure_signature != other.failure_signature
    assert ValidationReport.model_validate(report.model_dump(mode="json")) == report  # stored and read back


def test_passing_checks_keep_the_verdict_and_are_counted():
    report = with_repo_checks(
        PASSED, fold_checks([run("unit"), run("lint")], set(), own_app_id=OURS, complete=True)
    )
    assert (report.verdict, report.summary) == (
        "passed",
        "Passed: 1 test command succeeded; repository checks: 2 passed",
    )
    assert report.failure_signature is None


def test_a_failed_report_stays_failed_with_its_own_signature():
    failed = PASSED.model_copy(
        update={"verdict": "failed", "summary": "Tests failed", "failure_signature": "abc"}
    )
    report = with_repo_checks(
        failed, fold_checks([run("unit", "failure")], set(), own_app_id=OURS, complete=True)
    )
    assert (report.verdict, report.summary, report.failure_signature) == ("failed", "Tests failed", "abc")
    assert report.repo_checks is not None
