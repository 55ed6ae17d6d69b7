"""A fake of the presigned URL where a CloudFormation custom resource PUTs its answer."""

from __future__ import annotations

from tests.fakes.recording_http import RecordedCall, RecordingServer, Reply


class CloudFormationResponseUrl(RecordingServer):
    """Accepts every answer (as S3 does) and records it; ``answers`` holds the PUT bodies."""

    def route(self, call: RecordedCall) -> Reply:
        return Reply(200)

    @property
    def answers(self) -> list[dict]:
        return [call.body for call in self.calls if call.method == "PUT"]
