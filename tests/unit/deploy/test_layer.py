"""The dependencies layer: its requirements follow pyproject.toml, and its Makefile builds what
the template asks for, for the template's architecture."""

from __future__ import annotations

import re
import subprocess
import tomllib

from packaging.requirements import Requirement

from tests.unit.deploy.cloudformation import REPO_ROOT, resources_of_type

MAKEFILE = REPO_ROOT / "layers" / "Makefile"
LAYER_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


def normalized(requirement: str) -> tuple[str, frozenset[str], str, str]:
    parsed = Requirement(requirement)
    name = re.sub(r"[-_.]+", "-", parsed.name).lower()
    return name, frozenset(parsed.extras), str(parsed.specifier), str(parsed.marker or "")


def layer_requirements() -> list[str]:
    lines = (REPO_ROOT / "layers" / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_layer_requirements_match_the_project_dependencies():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {normalized(r) for r in project["dependencies"]}
    shipped = {normalized(r) for r in layer_requirements()}
    assert shipped == declared, (
        f"layers/requirements.txt drifted from pyproject.toml: "
        f"missing {sorted(declared - shipped)}, extra {sorted(shipped - declared)}"
    )


def test_layer_requirements_list_each_package_once():
    names = [normalized(r)[0] for r in layer_requirements()]
    assert len(names) == len(set(names))


def test_the_layer_is_built_by_its_makefile_target(template):
    layers = resources_of_type(template, "AWS::Serverless::LayerVersion")
    makefile = MAKEFILE.read_text()
    for logical_id, layer in layers.items():
        assert layer["Metadata"]["BuildMethod"] == "makefile"
        assert (REPO_ROOT / layer["Properties"]["ContentUri"] / "Makefile") == MAKEFILE
        assert re.search(rf"^build-{logical_id}:", makefile, re.MULTILINE), f"no build-{logical_id} target"
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def test_the_makefile_installs_wheels_for_the_templates_architecture_and_python(template):
    (architecture,) = template["Globals"]["Function"]["Architectures"]
    (layer,) = resources_of_type(template, "AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
    assert layer["Metadata"]["BuildArchitecture"] == architecture
    makefile = MAKEFILE.read_text()
    assert re.search(rf"^LAMBDA_ARCH \?= {LAYER_ARCH[architecture]}$", makefile, re.MULTILINE)
    assert re.search(r"^PYTHON_VERSION := 3\.12$", makefile, re.MULTILINE)
    for flag in (
        "--platform manylinux2014_$(LAMBDA_ARCH)",
        "--only-binary=:all:",
        "--python-version $(PYTHON_VERSION)",
    ):
        assert flag in makefile, flag


def test_the_makefile_ships_the_package_and_the_prompts_from_any_working_directory(tmp_path):
    """SAM runs make in a scratch copy of layers/: the recipe must still find the repository."""
    artifacts = tmp_path / "artifacts"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dry_run = subprocess.run(
        [
            "make",
            "--dry-run",
            "--makefile",
            str(MAKEFILE),
            "build-DependenciesLayer",
            f"ARTIFACTS_DIR={artifacts}",
        ],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    site = artifacts / "python"
    assert f"--requirement {REPO_ROOT}/layers/requirements.txt" in dry_run
    assert f"--target {site}" in dry_run
    assert f"cp -R {REPO_ROOT}/shared/codeloop {site}/codeloop" in dry_run
    assert f"cp -R {REPO_ROOT}/prompts/. {site}/prompts/" in dry_run
    assert f"-m compileall -q -j 0 --invalidation-mode unchecked-hash {site}" in dry_run


def test_the_makefile_refuses_to_run_outside_sam_build():
    outside = subprocess.run(
        ["make", "--makefile", str(MAKEFILE), "build-DependenciesLayer", "ARTIFACTS_DIR="],
        capture_output=True,
        text=True,
    )
    assert outside.returncode != 0
    assert "ARTIFACTS_DIR is not set" in outside.stderr
