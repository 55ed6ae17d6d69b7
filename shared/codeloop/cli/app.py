"""``codeloop app create``: register the GitHub App in one step, on GitHub's manifest flow."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path
from typing import Any

DEFAULT_NAME = "codeloop"
DEFAULT_TIMEOUT_MINUTES = 30.0


def register(subparsers: Any) -> None:
    """Add ``app create`` to the ``codeloop`` command's subparsers."""
    app = subparsers.add_parser("app", help="the GitHub App").add_subparsers(
        dest="app_command", required=True
    )
    create = app.add_parser(
        "create",
        help="register the GitHub App from codeloop's manifest; write .env (or a stack's secrets)",
        description=(
            "Serves a page on 127.0.0.1 that posts codeloop's App manifest to GitHub, receives the "
            "new App's credentials and writes them to .env (mode 0600) or, with --stack, into the "
            "deployed stack's secrets. GitHub Enterprise Server: set GITHUB_API_URL."
        ),
    )
    create.add_argument("--org", help="register the App for this organization (default: your account)")
    create.add_argument("--name", default=DEFAULT_NAME, help="the App's name (GitHub lets you change it)")
    create.add_argument(
        "--webhook-url",
        help="where GitHub sends events (default: the stack's WebhookUrl with --stack, else the local stack)",
    )
    create.add_argument(
        "--stack", help="write into this deployed CloudFormation stack's secrets instead of .env"
    )
    create.add_argument("--env-file", type=Path, default=Path(".env"), help="default .env")
    create.add_argument("--homepage-url", help="the App's homepage (default: GitHub's web host)")
    create.add_argument("--public", action="store_true", help="let other accounts install the App")
    create.add_argument("--port", type=int, default=0, help="the local page's port (default: any free one)")
    create.add_argument("--no-browser", action="store_true", help="print the page's URL, do not open it")
    create.add_argument(
        "--timeout-minutes",
        type=float,
        default=DEFAULT_TIMEOUT_MINUTES,
        help=f"give up if GitHub has not answered by then (default {DEFAULT_TIMEOUT_MINUTES:g})",
    )
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    from codeloop.adapters import env_file, stack_secrets
    from codeloop.domain.app_manifest import AppCredentials, install_url
    from codeloop.services.setup.app_registration import AppRequest, Registration, StoreError
    from codeloop.settings import get_settings

    settings = get_settings()
    webhook_url = args.webhook_url
    outputs: dict[str, str] = {}
    if args.stack:
        try:
            outputs = stack_secrets.app_secret_outputs(args.stack)
        except stack_secrets.StackError as exc:
            print(f"codeloop: {exc}; no App was created", file=sys.stderr)
            return 2
        webhook_url = webhook_url or outputs.get(stack_secrets.WEBHOOK_URL_OUTPUT)

    if not webhook_url:
        webhook_url = f"http://127.0.0.1:{settings.codeloop_port}/webhooks/github"
        print(
            f"Note: webhooks will go to {webhook_url}, which GitHub cannot reach. Events reach the local "
            "stack only through a tunnel (smee.io, cloudflared, ngrok...) forwarding to it: pass its "
            "public URL with --webhook-url, or change the App's webhook URL later. For a deployed stack, "
            "use --stack NAME (its WebhookUrl output).",
            flush=True,
        )

    def store(credentials: AppCredentials) -> str:
        try:
            if args.stack:
                written = stack_secrets.write_app_secrets(outputs, credentials)
                where = f"the secrets of stack {args.stack} ({', '.join(written.written)})"
                if written.not_stored:
                    where += f"; the stack has no {', '.join(written.not_stored)} for the OAuth client"
                return where
            env_file.write_settings(
                args.env_file, {**credentials.settings(), "GITHUB_API_URL": settings.github_api_url}
            )
        except (stack_secrets.StackError, OSError) as exc:
            raise StoreError(str(exc)) from exc
        return f"{args.env_file.resolve()} (mode 0600)"

    request = AppRequest(
        api_url=settings.github_api_url,
        web_url=settings.github_web_url,
        name=args.name,
        homepage_url=args.homepage_url or settings.github_web_url,
        webhook_url=webhook_url,
        org=args.org,
        public=args.public,
    )
    try:
        registration = Registration(request, store, port=args.port).start()
    except OSError as exc:
        print(
            f"codeloop: cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); try --port", file=sys.stderr
        )
        return 2
    try:
        print(f"Open {registration.url} to register the App on {request.web_url}", flush=True)
        if not args.no_browser:
            webbrowser.open(registration.url)
        outcome = registration.wait(args.timeout_minutes * 60)
    except KeyboardInterrupt:
        print("\nstopped; nothing was written", file=sys.stderr)
        return 130
    finally:
        registration.stop()

    if outcome is None:
        print(
            f"codeloop: GitHub did not answer within {args.timeout_minutes:g} minutes; nothing was written",
            file=sys.stderr,
        )
        return 1
    if outcome.error or outcome.credentials is None:
        print(f"codeloop: {outcome.error}", file=sys.stderr)
        return 1
    credentials = outcome.credentials
    print(
        f"GitHub App {credentials.slug} (id {credentials.id}) created; credentials written to {outcome.stored_in}"
    )
    if args.stack:
        print(
            "Give the stack the App's id and slug with its next deploy: "
            f"sam deploy --parameter-overrides GitHubAppId={credentials.id} GitHubAppSlug={credentials.slug}"
        )
    else:
        print(f"`make dev` reads {args.env_file} (variables set in the environment win over it)")
    print(f"Install the App: {install_url(request.web_url, credentials.slug)}")
    return 0
