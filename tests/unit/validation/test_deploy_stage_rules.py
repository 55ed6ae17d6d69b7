"""validation.deploy / ready / checks: the configuration's shapes and refusals, the verdict, the
signature, the stored fallback and what a fix prompt is given."""

from __future__ import annotations

from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from codeloop.domain.repo_config import ConfigProblem, json_schema, parse_repo_config, with_stored_commands
from codeloop.domain.validation import CheckResult, CommandResult, DeployedCommand, Deployment, build_report
from codeloop.services.prompting.context import _validation_pieces

DESIGN_EXAMPLE = """
validation:
  deploy: ["python app.py --port 8080"]
  ready: {url: "http://127.0.0.1:8080/health", timeout_seconds: 60}
  checks:
    - {name: mean, url: "http://127.0.0.1:8080/api/mean?xs=1,2,3", method: GET, status: 200,
       contains: "2.0", timeout_seconds: 10}
  test: ["python -m pytest -q"]
"""


def test_the_design_shapes_are_valid_for_the_model_and_the_published_schema():
    config = parse_repo_config(DESIGN_EXAMPLE)
    assert config.validation.deploy == ["python app.py --port 8080"]
    assert config.validation.ready.url == "http://127.0.0.1:8080/health"
    [check] = config.validation.checks
    assert (check.name, check.method, check.status, check.contains, check.timeout_seconds) == (
        "mean",
        "GET",
        200,
        "2.0",
        10,
    )
    jsonschema.validate(yaml.safe_load(DESIGN_EXAMPLE), json_schema())
    command_ready = (
        'validation: {deploy: [a], ready: {command: "curl -f localhost:3000", timeout_seconds: 5}}'
    )
    assert parse_repo_config(command_ready).validation.ready.command == "curl -f localhost:3000"
    for host in ("localhost", "[::1]"):
        assert parse_repo_config(f'validation: {{deploy: [a], ready: {{url: "http://{host}:1/"}}}}')


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'validation: {deploy: [a], ready: {url: "http://example.com/health"}}',
            "validation.ready.url: Value error, 'http://example.com/health' must be on this machine "
            "(127.0.0.1, localhost, ::1), not 'example.com'",
        ),
        (
            'validation: {deploy: [a], checks: [{name: x, url: "http://10.0.0.1:80/"}]}',
            "validation.checks.0.url: Value error, 'http://10.0.0.1:80/' must be on this machine",
        ),
        (
            'validation: {deploy: [a], checks: [{name: x, url: "file:///etc/passwd"}]}',
            "must be an http:// or https:// URL",
        ),
        ('validation: {checks: [{name: x, url: "http://localhost/"}]}', "ready and checks need deploy"),
        ("validation: {deploy: [a], ready: {timeout_seconds: 5}}", "give either url or command"),
        (
            'validation: {deploy: [a], checks: [{name: x, url: "http://localhost/"}, {name: x, url: "http://localhost/"}]}',
            "each check needs its own name",
        ),
        ('validation: {deploy: [a], checks: [{name: x, url: "http://localhost/", method: FETCH}]}', "method"),
    ],
)
def test_bad_deploy_settings_are_refused_with_a_message_naming_the_key(text, problem):
    with pytest.raises(ConfigProblem) as info:
        parse_repo_config(text)
    assert any(problem in item for item in info.value.problems), info.value.problems


def test_the_published_schema_refuses_a_check_on_another_host():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"validation": {"deploy": ["a"], "checks": [{"name": "x", "url": "http://example.com/"}]}},
            json_schema(),
        )


def test_stored_deploy_commands_fill_in_with_the_stored_setup_and_tests_only_when_the_file_names_none():
    empty = parse_repo_config(None)
    filled = with_stored_commands(empty, ["pip install ."], ["pytest"], ["python app.py"])
    assert filled.validation.deploy == ["python app.py"] and filled.validation.test == ["pytest"]
    own = parse_repo_config("validation: {test: [make test]}")
    assert with_stored_commands(own, [], ["pytest"], ["python app.py"]) == own


def _check(name: str, passed: bool, body: str = "", problem: str | None = None) -> CheckResult:
    return CheckResult(
        name=name,
        method="GET",
        url=f"http://127.0.0.1:8080/{name}",
        status=200,
        passed=passed,
        problem=problem,
        body=body,
        duration_seconds=0.01,
    )


def _report(checks=(), deployment=None, commands=()):
    return build_report(
        head_sha="a" * 40,
        commands=list(commands),
        failures=[],
        results_source="none",
        changed_paths=set(),
        repo_files=set(),
        deployment=deployment,
        checks=checks,
    )


MISSING = "the body does not contain '2.0'"
NOT_READY = Deployment(
    urls=["http://127.0.0.1:8080"],
    ready=False,
    problem="not ready after 60 s (last try: connection refused (nothing listens there))",
    processes=[
        DeployedCommand(
            command="python app.py",
            ended="stopped at the end of the validation",
            output="Traceback ...\nModuleNotFoundError: No module named 'flask'\n",
            output_bytes=60,
        )
    ],
)


def test_a_failed_check_fails_the_attempt_with_a_signature_of_its_own():
    passing = _report([_check("health", True), _check("mean", True)])
    assert (passing.verdict, passing.summary) == (
        "passed",
        "Passed: 0 test commands succeeded, 2 checks passed",
    )
    assert passing.failure_signature is None
    failing = _report([_check("health", True), _check("mean", False, '{"mean": 1.5}', MISSING)])
    assert (failing.verdict, failing.summary) == ("failed", "Checks failed: mean")
    same = _report([_check("health", True), _check("mean", False, '{"mean": 1.5}', MISSING)])
    other_body = _report([_check("health", True), _check("mean", False, '{"mean": 3.0}', MISSING)])
    other_check = _report([_check("health", False, "", "expected status 200, got 500"), _check("mean", True)])
    assert failing.failure_signature == same.failure_signature
    assert len({failing.failure_signature, other_body.failure_signature, other_check.failure_signature}) == 3


def test_failing_checks_and_tests_are_both_in_the_summary():
    test = CommandResult(
        phase="test", command="pytest", exit_code=1, duration_seconds=1, output="", output_bytes=0
    )
    report = _report([_check("mean", False, "", MISSING)], commands=[test])
    assert report.summary == "Checks failed: mean; Tests failed: `pytest` exited with 1"


def test_an_app_that_never_got_ready_fails_with_the_reason_and_its_signature_follows_its_output():
    report = _report(deployment=NOT_READY)
    assert report.verdict == "failed"
    assert report.summary == f"Deploy failed: {NOT_READY.problem}"
    other = NOT_READY.model_copy(
        update={
            "processes": [NOT_READY.processes[0].model_copy(update={"output": "SyntaxError: invalid syntax"})]
        }
    )
    assert _report(deployment=other).failure_signature != report.failure_signature


def test_the_fix_prompt_is_given_the_failed_check_and_the_deploy_output():
    failing = _report([_check("health", True), _check("mean", False, '{"mean": 1.5}', MISSING)])
    failures, _, _ = _validation_pieces(SimpleNamespace(results=failing.model_dump(mode="json")))
    [check] = failures
    assert check.source == "HTTP check mean: GET http://127.0.0.1:8080/mean"
    assert check.output == "the body does not contain '2.0'\nstatus: 200\nbody:\n{\"mean\": 1.5}"
    not_ready = _report(deployment=NOT_READY)
    [deploy] = _validation_pieces(SimpleNamespace(results=not_ready.model_dump(mode="json")))[0]
    assert deploy.source == "deploy: the app never became ready"
    assert "No module named 'flask'" in deploy.output and NOT_READY.problem in deploy.output


def test_the_check_run_text_shows_the_deployment_each_check_and_the_output_of_an_app_never_ready():
    from codeloop.domain.report import _validation_text

    failing = _report([_check("health", True), _check("mean", False, '{"mean": 1.5}', MISSING)])
    failing = failing.model_copy(
        update={"deployment": Deployment(urls=["http://127.0.0.1:8080"], ready=True, ready_seconds=0.4)}
    )
    text = _validation_text(failing)
    assert "- ✅ ready at `http://127.0.0.1:8080` after 0.4 s" in text
    assert "- ✅ check `health`: `GET http://127.0.0.1:8080/health` → status 200 ·" in text
    assert f"- ❌ check `mean`: `GET http://127.0.0.1:8080/mean` → status 200: {MISSING} ·" in text
    never = _validation_text(_report(deployment=NOT_READY))
    assert "- ❌ never ready at `http://127.0.0.1:8080`: not ready after 60 s" in never
    assert "- deploy: `python app.py` stopped at the end of the validation" in never
    assert "No module named 'flask'" in never


def test_a_large_deploy_output_is_cut_to_fit_the_report_message():
    from codeloop.domain.validation_request import fit_report

    process = NOT_READY.processes[0].model_copy(update={"output": "GET /health 200\n" * 20_000})
    report = _report(deployment=NOT_READY.model_copy(update={"processes": [process]}))
    fitted = fit_report(report, max_bytes=100_000)
    assert len(fitted.model_dump_json().encode()) <= 100_000
    assert "output cut to fit the report message" in fitted.deployment.output
