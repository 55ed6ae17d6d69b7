"""Read the SAM template and the state machine definitions as plain data for the deploy tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short tags (!Ref, !GetAtt, !Sub ...) as their long form."""


def _construct_intrinsic(loader: CloudFormationLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader subclass)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def ref_target(value: Any) -> str | None:
    """The logical id that a !Ref or !GetAtt names, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def referenced_ids(value: Any) -> set[str]:
    """Every logical id named anywhere inside ``value`` (by Ref, GetAtt or ${Name} in a Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        target = ref_target(value)
        if target:
            found.add(target)
        sub = value.get("Fn::Sub")
        if isinstance(sub, str):
            found.update(_sub_names(sub))
        elif isinstance(sub, list):
            found.update(_sub_names(sub[0]))
        for item in value.values():
            found |= referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return found


def _sub_names(text: str) -> set[str]:
    return {match.split(".")[0] for match in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)}


def policy_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_definition(relative_path: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / relative_path).read_text())


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, state, the States map it belongs to) for every state, nested Map processors included."""
    for name, state in definition["States"].items():
        yield name, state, definition["States"]
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor)
