"""The code-generation providers this process uses, built from settings at first use, and the
policies (breaker, rate limit, call retries) that govern calls to them."""

from __future__ import annotations

import functools
from datetime import timedelta

from codeloop.domain.breaker import BreakerPolicy
from codeloop.domain.call_retries import CallRetryPolicies
from codeloop.domain.providers import CodeGenerationProvider, NoProviderAvailable, RunRepository
from codeloop.domain.repo_config import RepoConfig
from codeloop.settings import get_settings

# Providers whose API limits how many runs may be created; the shared bucket enforces it.
RATE_WINDOW = timedelta(minutes=1)


@functools.cache
def provider_named(name: str) -> CodeGenerationProvider:
    if name == "codegen":
        from codeloop.adapters.codegen_api import CodegenApiProvider

        return CodegenApiProvider.from_settings()
    if name == "openai":
        from codeloop.adapters.openai_compat import OpenAICompatProvider
        from codeloop.services.costs.ledger import record

        return OpenAICompatProvider.from_settings(read_file=read_repository_file, usage_sink=record)
    raise NoProviderAvailable(f"unknown code-generation provider {name!r}")


def reset_providers() -> None:
    """Close and forget the providers (tests and the local stack change their settings)."""
    if provider_named.cache_info().currsize:
        for name in get_settings().providers:
            try:
                provider_named(name).close()  # type: ignore[attr-defined]
            except NoProviderAvailable:
                continue
    provider_named.cache_clear()


def read_repository_file(repository: RunRepository, path: str) -> str | None:
    """A file at ``repository.ref`` through the GitHub App (the diff provider reads its context here)."""
    from codeloop.adapters import github
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        row = store.get_repository_by_name(conn, repository.full_name)
    if row is None or row.installation_id is None:
        return None
    return github.get_file_content(row.installation_id, repository.full_name, path, repository.ref)


def bot_logins(provider: str) -> list[str]:
    """The GitHub logins whose pull requests may be ``provider``'s (domain/adoption.py).

    An agent opens pull requests as its own GitHub App's bot (settings ``CODEGEN_BOT_LOGINS``);
    a diff provider's pull requests are pushed and opened by codeloop's own App.
    """
    settings = get_settings()
    if provider == "codegen":
        return list(settings.codegen_bot_logins)
    return [f"{settings.github_app_slug}[bot]"]


def runs_per_window(provider: str) -> int | None:
    """How many new runs ``provider`` allows per RATE_WINDOW, or None when it sets no limit."""
    if provider == "codegen":
        return get_settings().codegen_runs_per_minute
    return None


def breaker_policy() -> BreakerPolicy:
    settings = get_settings()
    return BreakerPolicy(
        failure_threshold=settings.breaker_failure_threshold,
        window=timedelta(seconds=settings.breaker_window_seconds),
        cooldown=timedelta(seconds=settings.breaker_cooldown_seconds),
        probe_timeout=timedelta(seconds=settings.breaker_cooldown_seconds),
    )


def call_retry_policies(repo_config: RepoConfig) -> CallRetryPolicies:
    """How provider calls are repeated: the deployment's policies (setting ``RETRY_POLICIES``), then
    the repository's ``retry:`` overrides."""
    return CallRetryPolicies().with_overrides(get_settings().retry_policies).with_overrides(repo_config.retry)
