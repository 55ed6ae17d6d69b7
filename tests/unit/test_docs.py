"""The docs a new adopter reads (README.md, docs/*.md) agree with the code: settings, HTTP routes,
the per-repository configuration, the `codeloop` commands and the repository paths they name."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from decimal import Decimal

import jsonschema
import pytest
import yaml

from codeloop.api import front
from codeloop.api.tasks import app as task_api
from codeloop.cli import build_parser
from codeloop.domain.repo_config import RepoConfig, ValidationConfig, json_schema, parse_repo_config
from codeloop.local.http import to_event
from codeloop.settings import SECRET_SETTINGS, Settings
from tests.unit.deploy.cloudformation import REPO_ROOT, load_template

README = (REPO_ROOT / "README.md").read_text()
DOCS = {
    path.relative_to(REPO_ROOT).as_posix(): path.read_text()
    for path in sorted((REPO_ROOT / "docs").glob("*.md"))
}
ALL_DOCS = {"README.md": README, **DOCS}


def section(text: str, heading: str) -> str:
    """The text under a ``## heading``, up to the next heading of that level."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


# -- settings ------------------------------------------------------------------------------

SETTINGS_SECTION = section(README, "Settings")
SETTINGS_INTRO, _, SETTINGS_TABLE = SETTINGS_SECTION.partition("\n|")
ENV_NAMES = {name: name.upper() for name in Settings.fields()}


def table_rows() -> dict[str, str]:
    """Each variable named in the first column of the settings table -> its whole row."""
    rows = {}
    for line in ("|" + SETTINGS_TABLE).splitlines():
        first_cell = line.split(" | ")[0]
        for variable in re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell):
            rows[variable] = line
    return rows


def test_every_setting_is_in_the_readme_settings_table():
    rows = table_rows()
    undocumented = []
    for name, env in ENV_NAMES.items():
        base = name.removesuffix("_secret_arn")
        if name != base and base in SECRET_SETTINGS:
            # <NAME>_SECRET_ARN: documented by the intro's list of the settings that take one.
            documented = f"`{ENV_NAMES[base]}`" in SETTINGS_INTRO
        else:
            documented = env in rows or f"`{env}`" in SETTINGS_INTRO
        if not documented:
            undocumented.append(env)
    assert not undocumented, f"add to README's Settings: {undocumented}"


def test_the_settings_table_names_only_settings():
    assert set(table_rows()) <= set(ENV_NAMES.values())


def test_secret_settings_take_an_arn_and_the_readme_lists_them():
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", SETTINGS_INTRO))
    for name in SECRET_SETTINGS:
        arn = "github_app_client_secret_arn" if name == "github_app_client_secret" else f"{name}_secret_arn"
        assert arn in Settings.fields(), name
        assert ENV_NAMES[arn if name == "github_app_client_secret" else name] in listed, name


def shown_default(value: object) -> str | None:
    """A default as the README writes it, or None for "unset" defaults the row need not state."""
    if value is None or value == {}:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float | Decimal):
        return f"{value:g}"
    return str(value)


def test_each_settings_row_states_the_default():
    rows = table_rows()
    for name, setting in Settings.fields().items():
        default = shown_default(setting.default)
        if default is not None:
            assert default in rows[ENV_NAMES[name]], f"README's row of {ENV_NAMES[name]} should say {default}"


# -- HTTP routes ---------------------------------------------------------------------------


def normalised(path: str) -> str:
    """A route with its parameters unnamed: API Gateway's {id}, the resolver's <task_id>, the README's {id}."""
    return re.sub(r"[{<][^}>]+[}>]", "{}", path)


def template_routes() -> set[tuple[str, str]]:
    events = load_template()["Resources"]["WebhookReceiverFunction"]["Properties"]["Events"]
    return {
        (e["Properties"]["Method"], normalised(e["Properties"]["Path"]))
        for e in events.values()
        if e["Type"] == "HttpApi"
    }


FRONT_ROUTES = {
    ("POST", front.WEBHOOK_PATH),
    ("POST", front.LINEAR_WEBHOOK_PATH),
    *(("POST", path) for path in front.SLACK_PATHS),
    ("ANY", front.DASHBOARD_PREFIX),
    ("ANY", front.DASHBOARD_PREFIX + "/{}"),
}


def resolver_routes() -> set[tuple[str, str]]:
    routes = task_api._static_routes + task_api._dynamic_routes
    return {(route.method, normalised(route.path)) for route in routes}


def served_openapi_document() -> dict:
    answer = front.handle(to_event("GET", "/api/v1/openapi.json", {}, b""))
    assert answer["statusCode"] == 200
    return json.loads(answer["body"])


def test_the_template_routes_exactly_what_the_front_and_the_task_api_serve():
    """A route the code serves but API Gateway does not route is dead on AWS, and the reverse a 404."""
    deployed = template_routes()
    assert deployed >= FRONT_ROUTES
    assert deployed - FRONT_ROUTES == resolver_routes()


def test_the_openapi_document_describes_every_task_api_route():
    document = served_openapi_document()
    described = {
        (method.upper(), normalised(path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert described == resolver_routes()


def test_the_readme_names_every_deployed_route():
    text = normalised(README)
    missing = sorted(path for _, path in template_routes() if path not in text)
    assert not missing, f"README does not mention {missing}"


# -- .github/codeloop.yml -----------------------------------------------------------------


def test_the_readme_configuration_examples_are_valid():
    config_section = section(README, "Per-repository configuration: `.github/codeloop.yml`")
    examples = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert examples and examples[0] in config_section
    for example in examples:
        parse_repo_config(example)
        jsonschema.validate(yaml.safe_load(example), json_schema())
    reference = yaml.safe_load(examples[0])
    assert set(reference) == set(RepoConfig.model_fields), "the reference example shows every key"
    assert set(reference["validation"]) == set(ValidationConfig.model_fields)


# -- the codeloop command ---------------------------------------------------------------------


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def documented_commands() -> list[tuple[str, str, bool]]:
    """(document, command line, whole) for each `codeloop …` the docs show: whole lines of shell
    blocks (complete commands), and inline code spans (often a command's head only)."""
    found = []
    for name, text in ALL_DOCS.items():
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.removeprefix(".venv/bin/")
                if line.startswith("codeloop "):
                    found.append((name, line, True))
        for span in re.findall(r"`((?:\.venv/bin/)?codeloop [a-z][^`]*)`", text):
            found.append((name, span.removeprefix(".venv/bin/"), False))
    return found


def as_arguments(line: str) -> list[str]:
    """A documented command line as argv: placeholders filled, optional parts included."""
    line = re.sub(r"<[^>]*>", "1", line)
    line = line.replace("[", "").replace("]", "")
    return shlex.split(line, comments=True)[1:]


@pytest.mark.parametrize(("document", "line", "whole"), documented_commands())
def test_documented_commands_exist(document, line, whole, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # `codeloop replay events/…` opens its file
    argv = as_arguments(line)
    parser = build_parser()
    if whole:
        parser.parse_args(argv)  # exits (SystemExit) on anything the parser does not know
        return
    words = [word for word in argv if not word.startswith("-")]
    for word in words:
        choices = subcommands(parser)
        if not choices:
            break
        assert word in choices, f"{document}: `{line}`: no command {word!r}"
        parser = choices[word]
    for option in (word.split("=")[0] for word in argv if word.startswith("--")):
        assert option in parser._option_string_actions, f"{document}: `{line}`: no option {option}"


# -- paths ---------------------------------------------------------------------------------------


def named_paths() -> list[tuple[str, str]]:
    """Repository paths the docs name in code spans (not placeholders or patterns), under a folder
    the repository has (not `.github/` of an adopter's repository, nor a runtime folder such as `.codeloop/`)."""
    found = []
    for name, text in ALL_DOCS.items():
        for path in re.findall(r"`([\w.-]+(?:/[\w.+-]*)+)`", text):
            top = path.split("/")[0]
            if (REPO_ROOT / top).is_dir() and top not in (".git", ".venv", ".codeloop", ".artifacts"):
                found.append((name, path))
    return found


@pytest.mark.parametrize(("document", "path"), named_paths())
def test_named_paths_exist(document, path):
    assert (REPO_ROOT / path).exists(), f"{document} names {path}"


def test_the_paths_check_sees_the_docs():
    assert len(named_paths()) > 30 and any(document.startswith("docs/") for document, _ in named_paths())
