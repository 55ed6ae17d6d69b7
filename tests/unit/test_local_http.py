"""The local stack's front makes each request into the event API Gateway (HTTP API, payload 2.0)
would hand the Lambda."""

from codeloop.local.http import to_event


def test_the_query_reaches_the_handler_as_api_gateway_gives_it():
    event = to_event("DELETE", "/api/v1/linear/mappings/ENG?project=Mobile%20App&tag=a&tag=b&empty=", {}, b"")
    assert event["rawPath"] == "/api/v1/linear/mappings/ENG"
    assert event["rawQueryString"] == "project=Mobile%20App&tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"project": "Mobile App", "tag": "a,b", "empty": ""}


def test_without_a_query_there_are_no_parameters():
    assert "queryStringParameters" not in to_event("GET", "/health", {}, b"")
