"""Print how long the receiver's pure work takes: verify + parse + envelope + route, and the
command parser on the largest comment GitHub accepts (65,536 characters).

Run: .venv/bin/python bench/ingress_parse.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeloop.domain.commands import parse_commands
from codeloop.domain.webhooks import parse_delivery, route, sign
from tests.fixtures import WEBHOOK_EXAMPLES

SECRET = "bench-secret"  # noqa: S105 - signs sample payloads only
ROUNDS = 200


def per_call_ms(function, rounds: int = ROUNDS) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        function()
    return (time.perf_counter() - started) * 1000 / rounds


def main() -> None:
    paths = sorted(WEBHOOK_EXAMPLES.glob("*/*.json"))
    largest = max(paths, key=lambda path: path.stat().st_size)
    body = largest.read_bytes()
    headers = {
        "x-github-event": largest.parent.name,
        "x-github-delivery": "bench",
        "x-hub-signature-256": sign(body, SECRET),
    }
    ms = per_call_ms(lambda: route(parse_delivery(headers, body, [SECRET])[0]))
    print(f"parse_delivery+route, largest example ({len(body):,} bytes): {ms:.3f} ms")
    total = 0.0
    for path in paths:
        data = path.read_bytes()
        hdrs = {
            "x-github-event": path.parent.name,
            "x-github-delivery": "b",
            "x-hub-signature-256": sign(data, SECRET),
        }
        total += per_call_ms(lambda d=data, h=hdrs: parse_delivery(h, d, [SECRET]), rounds=20)
    print(f"parse_delivery, mean over {len(paths)} examples: {total / len(paths):.3f} ms")

    prose = ("A paragraph of ordinary discussion text, with `code` and > quotes.\n" * 1000)[:60_000]
    comment = prose + "\n```\n/codeloop fix\n```\n/codeloop fix handle empty input\n"
    ms = per_call_ms(lambda: parse_commands(comment))
    print(f"parse_commands, {len(comment):,}-character comment: {ms:.3f} ms")
    one_line = "/codeloop fix " + "x" * 65_000
    print(
        f"parse_commands, one 65,000-character line: {per_call_ms(lambda: parse_commands(one_line)):.3f} ms"
    )


if __name__ == "__main__":
    main()
