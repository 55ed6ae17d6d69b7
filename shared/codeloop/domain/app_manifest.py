"""The GitHub App's registration: one definition of what codeloop asks GitHub for.

``codeloop app create`` posts :func:`build_manifest` to GitHub's manifest flow; the README's
"Install the GitHub App" list is :func:`permissions_markdown`, and a test keeps them equal. The
permissions are the union of what the code's installation tokens request (adapters/github/);
the events are the ones the webhook receiver acts on (domain/webhooks.py), less the installation
events that GitHub sends every App without a subscription.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from codeloop.domain.webhooks import ACTED_ON


class Permission(NamedTuple):
    level: Literal["read", "write"]
    title: str  # as GitHub's App settings page names it
    why: str


# Repository permission -> what the App needs, and why.
APP_PERMISSIONS: dict[str, Permission] = {
    "checks": Permission(
        "write", "Checks", "the codeloop check run; read the repository's own CI on the head commit"
    ),
    "contents": Permission(
        "write",
        "Contents",
        "read code and .github/codeloop.yml; push the fallback provider's branch; merge the agent's PR "
        "(auto_merge)",
    ),
    "issues": Permission("write", "Issues", "react to and answer commands, keep the one status comment"),
    "merge_queues": Permission(
        "read", "Merge queues", "receive merge_group events, to conclude the codeloop check of a merge group at once"
    ),
    "metadata": Permission(
        "read", "Metadata", "repository facts and collaborators' permissions; every App has it"
    ),
    "pull_requests": Permission(
        "write",
        "Pull requests",
        "read PRs, their diffs and review comments, open the fallback provider's PR, add `Fixes ENG-123` "
        "to an agent PR of a Linear task, comment, turn on auto-merge",
    ),
}

# What the App needs beyond its tokens' requests: GitHub delivers ``merge_group`` only to an App
# that may read merge queues.
EVENT_SUBSCRIPTIONS = {"merge_queues": "read"}

# Sent to every App without a subscription (and not accepted in ``default_events``).
ALWAYS_DELIVERED_EVENTS = frozenset({"installation", "installation_repositories"})
APP_EVENTS: tuple[str, ...] = tuple(sorted(set(ACTED_ON) - ALWAYS_DELIVERED_EVENTS))

DESCRIPTION = "Closes the loop between AI code generation and CI: tasks, prompts, validation, fixes."
# GitHub's manifest codes are short opaque tokens; anything else never reaches a URL path.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def build_manifest(
    *, name: str, homepage_url: str, webhook_url: str, redirect_url: str, public: bool = False
) -> dict[str, Any]:
    """The manifest GitHub's ``settings/apps/new`` takes as its ``manifest`` form field."""
    return {
        "name": name,
        "url": homepage_url,
        "description": DESCRIPTION,
        "hook_attributes": {"url": webhook_url, "active": True},
        "redirect_url": redirect_url,
        "callback_urls": [dashboard_callback_url(webhook_url)],
        "public": public,
        "default_permissions": {name: permission.level for name, permission in APP_PERMISSIONS.items()},
        "default_events": list(APP_EVENTS),
    }


def dashboard_callback_url(webhook_url: str) -> str:
    """Where GitHub sends a user back after sign-in with GitHub: the dashboard on the webhook's host."""
    parts = urlsplit(webhook_url)
    return f"{parts.scheme}://{parts.netloc}/app/oauth/callback"


def new_app_url(web_url: str, org: str | None = None) -> str:
    """Where the manifest form posts: the user's (or an organization's) new-App page."""
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{web_url}{owner}/settings/apps/new"


def install_url(web_url: str, slug: str) -> str:
    return f"{web_url}/apps/{quote(slug, safe='')}/installations/new"


class AppCredentials(BaseModel):
    """What ``POST /app-manifests/{code}/conversions`` returns that codeloop keeps."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    slug: str
    pem: SecretStr
    webhook_secret: SecretStr
    client_id: str
    client_secret: SecretStr

    def settings(self) -> dict[str, str]:
        """The settings (environment variable names) these credentials fill."""
        return {
            "GITHUB_APP_ID": str(self.id),
            "GITHUB_APP_SLUG": self.slug,
            "GITHUB_APP_PRIVATE_KEY": self.pem.get_secret_value(),
            "GITHUB_WEBHOOK_SECRET": self.webhook_secret.get_secret_value(),
            "GITHUB_APP_CLIENT_ID": self.client_id,
            "GITHUB_APP_CLIENT_SECRET": self.client_secret.get_secret_value(),
        }


LEVEL_TITLES = {"read": "read-only", "write": "read & write"}


def permissions_markdown() -> str:
    """The README's list of what the App asks for, generated from the same definition."""
    lines = ["- **Repository permissions**:"]
    for permission in APP_PERMISSIONS.values():
        lines.append(f"  - {permission.title}: {LEVEL_TITLES[permission.level]} ({permission.why})")
    events = ", ".join(f"`{event}`" for event in APP_EVENTS)
    always = ", ".join(f"`{event}`" for event in sorted(ALWAYS_DELIVERED_EVENTS))
    lines.append(f"- **Events**: {events} (and {always}, which every App receives)")
    return "\n".join(lines)
