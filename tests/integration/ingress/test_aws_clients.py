"""The AWS clients the receiver uses: created once (also when prepared in the background while a
delivery is stored), from botocore's own models."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from codeloop.adapters import aws as aws_adapter


def test_a_client_prepared_in_the_background_is_created_once_and_used(aws, monkeypatch):
    created = []
    new_client = aws_adapter._new_client
    monkeypatch.setattr(aws_adapter, "_new_client", lambda service: created.append(service) or new_client(service))

    aws_adapter.prepare("sqs")
    sqs = aws_adapter.client("sqs")
    aws_adapter.prepare("sqs")  # it exists: nothing more is created

    assert aws_adapter.client("sqs") is sqs
    assert created == ["sqs"]
    sqs.send_message(QueueUrl=aws["EVENTS_QUEUE_URL"], MessageBody="{}", MessageGroupId="g",
                     MessageDeduplicationId="prepared")  # fmt: skip


def test_clients_load_botocores_models_and_refuse_an_unknown_service(aws):
    plain = botocore.session.get_session().create_client("sqs", region_name="us-east-1")

    assert aws_adapter.client("sqs").meta.service_model.operation_names == plain.meta.service_model.operation_names
    with pytest.raises(UnknownServiceError):
        aws_adapter.client("no-such-service")
