"""bench/help_burst: a burst of ``/codeloop help`` comments on ``make dev``'s stack.

600 comments spread over 20 issues of one repository (one FIFO message group per issue), 10 %
of them delivered twice (a redelivery: same id, same body), at concurrency 8, against
``codeloop dev`` talking to the GitHub fake. Prints the acknowledgement latencies, the time until
every comment has its one reply (settled), and the GitHub calls made per comment.
Aims: settled <= 30 s, acknowledgement p99 <= 200 ms.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import dev_stack, drive, percentiles, signed_comment

from codeloop.local.sample_events import DEV_WEBHOOK_SECRET
from tests.fakes.github import GitHubFake, app_key_pair

REPO = "Codertocat/Hello-World"  # the repository of GitHub's example payload (events/)
COMMENTS = 600
ISSUES = 20
DUPLICATED = 0.10
CONCURRENCY = 8
SETTLE_LIMIT_SECONDS = 180
REPLY_PATH = r"/repos/[^/]+/[^/]+/issues/\d+/comments"


def serve_github(pipe: Connection) -> None:
    """The GitHub fake in a process of its own (its work must not share the GIL with the client
    that times the acknowledgements): seeds the repository and the comments, then answers counts."""
    private_pem, public_pem = app_key_pair()
    with GitHubFake(public_key_pem=public_pem) as github:
        repo = github.add_repo(REPO, installation_id=1)
        repo.set_permission("Codertocat", "write")
        issues = [repo.add_issue() for _ in range(ISSUES)]
        comments = [
            (issue, repo.add_comment(issue, "/codeloop help", login="Codertocat"))
            for issue in (issues[i % ISSUES] for i in range(COMMENTS))
        ]
        pipe.send((github.url, github.app_id, private_pem, comments))
        while (request := pipe.recv()) != "stop":
            if request == "clear":
                github.clear_calls()
                pipe.send(None)
            elif request == "replies":
                pipe.send(len(github.calls_to("POST", REPLY_PATH)))
            else:
                pipe.send(Counter(f"{call.method} {_shape(call.path)}" for call in github.calls))


def main() -> None:
    here, there = multiprocessing.Pipe()
    fake = multiprocessing.get_context("spawn").Process(target=serve_github, args=(there,), daemon=True)
    fake.start()

    def ask(request: str) -> Any:
        here.send(request)
        return here.recv()

    url, app_id, private_pem, seeded = here.recv()
    env = {
        "GITHUB_API_URL": url,
        "GITHUB_APP_ID": str(app_id),
        "GITHUB_APP_PRIVATE_KEY": private_pem,
        # the burst measures throughput, not the reply limits (30 per user an hour by default)
        "REPLIES_PER_USER": str(COMMENTS * 2),
        "REPLIES_PER_INSTALLATION": str(COMMENTS * 2),
    }
    comments = [
        signed_comment(f"help-{i}", comment_id, "/codeloop help", DEV_WEBHOOK_SECRET, issue)
        for i, (issue, comment_id) in enumerate(seeded)
    ]
    rng = random.Random(16)
    requests = list(comments)
    for again in rng.sample(comments, int(COMMENTS * DUPLICATED)):  # redelivered a little later
        requests.insert(min(len(requests), requests.index(again) + rng.randint(1, 40)), again)
    with dev_stack(env) as (base, _, _):
        ask("clear")
        start = time.perf_counter()
        latencies, statuses, wall = drive(f"{base}/webhooks/github", requests, CONCURRENCY)
        replies = 0
        while time.perf_counter() - start < SETTLE_LIMIT_SECONDS:
            replies = ask("replies")
            if replies >= COMMENTS:
                break
            time.sleep(0.05)
        settled = time.perf_counter() - start
        time.sleep(1)  # any reply a duplicate would wrongly add
        replies = ask("replies")
    calls = ask("calls")
    here.send("stop")
    fake.join(10)
    print(
        f"{len(requests)} deliveries ({COMMENTS} comments over {ISSUES} issues, "
        f"{len(requests) - COMMENTS} redelivered), concurrency {CONCURRENCY}"
    )
    print(
        f"acknowledgement: {percentiles(latencies)}   max {max(latencies):.1f} ms   ({wall:.1f} s for the burst)"
    )
    print(f"statuses: {dict(Counter(statuses))}")
    state = "settled" if replies >= COMMENTS else "NOT settled"
    print(
        f"{state}: {replies} replies for {COMMENTS} comments in {settled:.1f} s ({COMMENTS / settled:.1f} commands/s)"
    )
    print("GitHub calls per comment:")
    for name, count in calls.most_common():
        print(f"  {count / COMMENTS:6.2f}  {name}")


def _shape(path: str) -> str:
    import re

    return re.sub(r"/\d+", "/{n}", path)


if __name__ == "__main__":
    main()
