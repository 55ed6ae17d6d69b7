"""The Linear webhook fixtures hold only what Linear's schema documents, and all it requires."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLUnionType, get_named_type

from tests.fakes.linear_api import linear_schema
from tests.fixtures import LINEAR_WEBHOOKS

# Where each part of a delivery is documented in the schema.
DATA_TYPES = {"Issue": "IssueWebhookPayload", "Comment": "CommentWebhookPayload"}
NESTED = {
    "actor": "UserActorWebhookPayload",
    "team": "TeamChildWebhookPayload",
    "labels": "IssueLabelChildWebhookPayload",
    "state": "WorkflowStateChildWebhookPayload",
    "issue": "IssueChildWebhookPayload",
    "user": "UserChildWebhookPayload",
}


def problems(value: dict, type_name: str, where: str) -> list[str]:
    object_type = linear_schema().get_type(type_name)
    assert isinstance(object_type, GraphQLObjectType), type_name
    found = []
    for name, field in object_type.fields.items():
        if isinstance(field.type, GraphQLNonNull) and name not in value and not _union(field.type):
            found.append(f"{where}.{name} is required by {type_name}")
    for name, item in value.items():
        if name not in object_type.fields:
            found.append(f"{where}.{name} is not a field of {type_name}")
        elif name in NESTED and item is not None:
            for element in item if isinstance(item, list) else [item]:
                found += problems(element, NESTED[name], f"{where}.{name}")
        elif isinstance(_unwrap(object_type.fields[name].type), GraphQLList) and not isinstance(item, list):
            found.append(f"{where}.{name} should be a list")
    return found


def _unwrap(graphql_type):
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


def _union(graphql_type) -> bool:
    return isinstance(get_named_type(graphql_type), GraphQLUnionType)


@pytest.mark.parametrize("path", sorted(LINEAR_WEBHOOKS.glob("*.json")), ids=lambda p: p.stem)
def test_every_field_is_documented_and_every_required_one_is_there(path):
    payload = json.loads(path.read_text())
    found = problems({k: v for k, v in payload.items() if k != "data"}, "EntityWebhookPayload", "delivery")
    found += problems(payload["data"], DATA_TYPES[payload["type"]], "data")
    assert found == []
