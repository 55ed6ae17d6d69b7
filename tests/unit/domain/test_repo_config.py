import json
from pathlib import Path

import jsonschema
import pytest

from codeloop.domain.repo_config import ConfigProblem, RepoConfig, json_schema, parse_repo_config

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "codeloop.schema.json"

FULL = """
validation:
  setup: ["python -m pip install -r requirements.txt"]
  test: ["python -m pytest -q --junitxml=report.xml"]
  junit: ["report.xml"]
  timeout_minutes: 20
  include_repo_checks: true
  forks: false
  review: {enabled: false, blocking: false, instructions: ""}
iterations: 3
commands:
  min_permission: write
auto_merge: false
prompts: {bug_fix: bug_fix, feature: {template: feature_large, version: 2}}
"""


def test_the_published_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run: codeloop config schema > schemas/codeloop.schema.json"


def test_the_design_example_is_valid_for_the_model_and_the_schema():
    import yaml

    config = parse_repo_config(FULL)
    assert config.validation.test == ["python -m pytest -q --junitxml=report.xml"]
    assert config.prompt_pin("bug_fix").template == "bug_fix" and config.prompt_pin("feature").version == 2
    assert config.prompt_pin("docs") is None
    jsonschema.validate(yaml.safe_load(FULL), json_schema())


@pytest.mark.parametrize("text", [None, "", "   \n", "# only a comment\n"])
def test_no_file_means_defaults(text):
    assert parse_repo_config(text) == RepoConfig()
    assert RepoConfig().commands.min_permission == "write" and RepoConfig().iterations == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("validaton: {}\n", "validaton: Extra inputs are not permitted"),
        ("iterations: 99\n", "iterations: Input should be less than or equal to 10"),
        ("commands: {min_permission: read}\n", "commands.min_permission"),
        ("validation: {review: {enabled: true, blocks: true}}\n", "validation.review.blocks: Extra inputs"),
        ("validation: [1, 2\n", "not valid YAML at line"),
        ("- a list\n", "must be a mapping"),
        ("linear: {done_state: ''}\n", "linear.done_state: String should have at least 1 character"),
        ("linear: {state: Done}\n", "linear.state: Extra inputs are not permitted"),
    ],
)
def test_problems_name_the_key(text, problem):
    with pytest.raises(ConfigProblem) as info:
        parse_repo_config(text)
    assert any(problem in item for item in info.value.problems), info.value.problems
