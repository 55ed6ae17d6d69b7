"""bench/capacity: the receiver's and the status syncer's code paths at a target rate, on the local
AWS emulation and real PostgreSQL, with each one's cost per delivery (the figures behind
docs/deploy.md's capacity section).

The receiver is paced at ``TARGET_PER_SECOND`` deliveries a second (issue comments spread over
``CONVERSATIONS`` issues, 10 % of them ``/codeloop help``). Then the status syncer works
through the events queue the way its event source mapping feeds it (batches of 10). For each:
the rate reached, latency, CPU time, database transactions, AWS requests and GitHub calls per
delivery.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault(
    "POWERTOOLS_LOG_LEVEL", "WARNING"
)  # before the logger exists: a line per delivery is noise

import psycopg
from _support import percentiles, scratch_database, signed_comment

from codeloop.local import aws as local_aws
from codeloop.local.sample_events import DEV_WEBHOOK_SECRET
from tests.fakes.github import GitHubFake, app_key_pair

REPO = "Codertocat/Hello-World"
TARGET_PER_SECOND = 50
DELIVERIES = 500
CONVERSATIONS = 50
HELP_EVERY = 10


class AwsRequests:
    """Counts the requests a botocore client sends."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: object) -> None:
        self.count += 1


def transactions(url: str) -> int:
    with psycopg.connect(url) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        return conn.execute(
            "select xact_commit + xact_rollback from pg_stat_database where datname = current_database()"
        ).fetchone()[0]


def report(
    name: str, count: int, wall: float, cpu: float, latencies: list[float], xacts: int, aws: int, github: int
) -> None:
    print(f"{name}: {count} deliveries, {count / wall:.1f}/s reached, {percentiles(latencies)}")
    print(
        f"  per delivery: CPU {cpu / count * 1000:.2f} ms (this process), {xacts / count:.2f} database "
        f"transactions, {aws / count:.2f} AWS requests, {github / count:.2f} GitHub calls"
    )


def main() -> None:
    from codeloop.adapters.aws import client
    from codeloop.local.handlers import load
    from codeloop.local.pollers import to_lambda_record

    private_pem, public_pem = app_key_pair()
    emulation = local_aws.start_emulation()
    try:
        with scratch_database() as url, GitHubFake(public_key_pem=public_pem) as github:
            repo = github.add_repo(REPO, installation_id=1)
            repo.set_permission("Codertocat", "write")
            issues = [repo.add_issue() for _ in range(CONVERSATIONS)]
            env = local_aws.provision(emulation.endpoint_url)
            os.environ.update(
                env
                | {
                    "DATABASE_URL": url,
                    "GITHUB_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
                    "GITHUB_API_URL": github.url,
                    "GITHUB_APP_ID": str(github.app_id),
                    "GITHUB_APP_PRIVATE_KEY": private_pem,
                    "REPLIES_PER_USER": str(DELIVERIES),
                    "REPLIES_PER_INSTALLATION": str(DELIVERIES),
                }
            )
            receiver, syncer = load("webhook_receiver"), load("status_syncer")
            sqs = client("sqs")
            sent = AwsRequests()
            sqs.meta.events.register("before-send", sent)
            requests = []
            for i in range(DELIVERIES):
                text = "/codeloop help" if i % HELP_EVERY == 0 else "Looks good to me"
                issue = issues[i % CONVERSATIONS]
                comment_id = repo.add_comment(issue, text, login="Codertocat")
                body, headers = signed_comment(f"capacity-{i}", comment_id, text, DEV_WEBHOOK_SECRET, issue)
                requests.append(
                    {
                        "rawPath": "/webhooks/github",
                        "requestContext": {"http": {"method": "POST"}},
                        "headers": headers,
                        "body": body.decode(),
                        "isBase64Encoded": False,
                    }
                )
            receiver(requests[0], None)  # warm; not counted
            requests = requests[1:]
            github.clear_calls()

            xacts, sent.count, latencies = transactions(url), 0, []
            cpu, start = time.process_time(), time.perf_counter()
            for index, event in enumerate(requests):
                due = start + index / TARGET_PER_SECOND
                if (pause := due - time.perf_counter()) > 0:
                    time.sleep(pause)
                began = time.perf_counter()
                assert receiver(event, None)["statusCode"] == 202
                latencies.append((time.perf_counter() - began) * 1000)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            report(f"receiver at a target of {TARGET_PER_SECOND}/s", len(requests), wall, cpu, latencies,
                   transactions(url) - xacts, sent.count, len(github.calls))  # fmt: skip

            arn = sqs.get_queue_attributes(QueueUrl=env["EVENTS_QUEUE_URL"], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            xacts, sent.count, latencies, done = transactions(url), 0, [], 0
            github.clear_calls()
            cpu, start = time.process_time(), time.perf_counter()
            while done < len(requests):
                messages = sqs.receive_message(
                    QueueUrl=env["EVENTS_QUEUE_URL"],
                    MaxNumberOfMessages=10,
                    AttributeNames=["All"],
                    WaitTimeSeconds=1,
                ).get("Messages", [])
                if not messages:
                    break
                began = time.perf_counter()
                event = {"Records": [to_lambda_record(m, arn, "us-east-1") for m in messages]}
                assert syncer(event, None) == {"batchItemFailures": []}
                latencies.append((time.perf_counter() - began) * 1000 / len(messages))
                sqs.delete_message_batch(
                    QueueUrl=env["EVENTS_QUEUE_URL"],
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
                done += len(messages)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            report("status syncer, batches of 10 (latency: per delivery within a batch)", done, wall, cpu,
                   latencies, transactions(url) - xacts, sent.count, len(github.calls))  # fmt: skip
    finally:
        emulation.stop()


if __name__ == "__main__":
    main()
