"""Check out exactly one commit of a pull request: shallow, from the repository's clone URL.

The installation token reaches git only through a private configuration file (mode 0600, named
by ``GIT_CONFIG_GLOBAL``) holding an ``http.<origin>.extraHeader``: never in an environment
(``/proc/<pid>/environ`` of git is readable by processes of its user), never in the remote URL,
in ``.git/config`` or on a command line. The file is removed before :func:`checkout` returns, so
no command of the pull request ever runs while it exists. The header is scoped to the clone
URL's origin: a redirect elsewhere gets nothing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from codeloop.adapters import sandbox
from codeloop.settings import get_settings

GIT_USER = "x-access-token"
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_GIT_OUTPUT_BYTES = 8 * 1024
_FILE_LIST_BYTES = 64 * 1024**2
# git's own fatal line when the server answers 401 (and git may not prompt) or 403. Anchored to
# the whole message: a bare "403" also matches a port or repository name in the URL git quotes,
# which turned a 503 into "token not accepted"; "remote:" lines are the server's text, not git's.
_AUTH_REFUSED = re.compile(
    r"^fatal: (?:could not read Username for '[^']*': terminal prompts disabled"
    r"|Authentication failed for '[^']*'"
    r"|unable to access '[^']*': The requested URL returned error: 40[13]\b)",
    re.MULTILINE,
)


class CheckoutError(RuntimeError):
    """The commit could not be checked out; the message is safe to show (no token in it)."""


class CloneUrlRefused(CheckoutError):
    """The clone URL does not point at the GitHub the App talks to."""


@dataclass(frozen=True)
class Checkout:
    path: Path
    head_sha: str
    files: list[str]  # every tracked path, as the repository names it
    duration_seconds: float


def check_clone_url(clone_url: str) -> str:
    """The URL's origin (``scheme://host[:port]``) when it is on ``GITHUB_API_URL``'s web host;
    raises :class:`CloneUrlRefused` otherwise. Plain http is allowed only if the API is on http."""
    settings = get_settings()
    try:
        parts = urlsplit(clone_url)
        port = parts.port
    except ValueError:
        raise CloneUrlRefused(f"refusing clone URL {clone_url!r}: it is not a valid URL") from None
    allowed_schemes = {"https", urlsplit(settings.github_api_url).scheme}
    if parts.scheme not in allowed_schemes:
        raise CloneUrlRefused(
            f"refusing clone URL {clone_url!r}: scheme must be {' or '.join(sorted(allowed_schemes))}"
        )
    if parts.username or parts.password:
        raise CloneUrlRefused("refusing a clone URL that carries credentials")
    expected = urlsplit(f"//{settings.github_web_host}")
    default_port = _DEFAULT_PORTS[parts.scheme]
    if (parts.hostname, port or default_port) != (expected.hostname, expected.port or default_port):
        raise CloneUrlRefused(
            f"refusing clone URL {clone_url!r}: its host is not {settings.github_web_host}, "
            "the GitHub this App uses"
        )
    if not parts.path.strip("/"):
        raise CloneUrlRefused(f"refusing clone URL {clone_url!r}: it names no repository")
    return f"{parts.scheme}://{parts.netloc}"


def write_credential_file(directory: Path, origin: str, token: str, user: sandbox.SandboxUser | None) -> Path:
    """A git configuration file, readable by git's user only, that authenticates to ``origin``."""
    basic = base64.b64encode(f"{GIT_USER}:{token}".encode()).decode()
    fd, name = tempfile.mkstemp(prefix=".git-auth-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        if user is not None:
            os.fchown(handle.fileno(), user.uid, user.gid)
        handle.write(f'[http "{origin}/"]\n\textraHeader = Authorization: Basic {basic}\n')
    return Path(name)


def fetch_environment(credential_file: Path, origin: str) -> dict[str, str]:
    """git configuration for the fetch: the credential file, and no other way to leave ``origin``."""
    settings = {
        "credential.helper": "",
        "protocol.version": "2",
        "protocol.allow": "never",
        f"protocol.{urlsplit(origin).scheme}.allow": "always",
        "protocol.file.allow": "never",
        "submodule.recurse": "false",
        "advice.detachedHead": "false",
        "core.hooksPath": "/dev/null",
    }
    env = {"GIT_CONFIG_GLOBAL": str(credential_file), "GIT_CONFIG_COUNT": str(len(settings))}
    for index, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _git_environment(home: Path, tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return sandbox.sandbox_environment(
        home,
        tmp,
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_LFS_SKIP_SMUDGE": "1",
            **(extra or {}),
        },
    )


def checkout(
    clone_url: str,
    head_sha: str,
    token: str,
    destination: Path,
    *,
    home: Path,
    tmp: Path,
    timeout_seconds: float,
    user: sandbox.SandboxUser | None = None,
) -> Checkout:
    """Fetch ``head_sha`` alone (depth 1) into a new repository at ``destination`` and check it out.

    ``token``: an installation token narrowed to this repository and ``contents: read``; the
    credential file lives in ``tmp`` for the fetch only. ``user``: run git as that user.
    """
    started = time.monotonic()
    if not _SHA.match(head_sha):
        raise CheckoutError(f"refusing head commit {head_sha!r}: not a full commit id")
    origin = check_clone_url(clone_url)
    plain_env = _git_environment(home, tmp)
    secrets = (token, base64.b64encode(f"{GIT_USER}:{token}".encode()).decode())
    deadline = started + timeout_seconds

    def git(*args: str, env: dict[str, str] = plain_env, keep_bytes: int = _GIT_OUTPUT_BYTES) -> str:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CheckoutError(f"checkout took longer than {timeout_seconds:.0f} s")
        result = sandbox.run(
            ["git", *args],
            cwd=destination,
            env=env,
            timeout_seconds=remaining,
            limits=sandbox.Limits(output_head_bytes=keep_bytes, output_tail_bytes=_GIT_OUTPUT_BYTES),
            user=user,
        )
        output = result.output
        for secret in secrets:
            output = output.replace(secret, "***")
        if result.timed_out:
            raise CheckoutError(f"git {args[0]} took longer than {timeout_seconds:.0f} s")
        if result.exit_code != 0 and _AUTH_REFUSED.search(output):
            raise CheckoutError(
                f"git {args[0]} was refused by {origin}: the installation token was not accepted "
                "(expired, or not granted contents: read on this repository)"
            )
        if result.exit_code != 0:
            raise CheckoutError(
                f"git {args[0]} failed ({result.exit_code or result.signal}): {output.strip()}"
            )
        return output

    destination.mkdir(parents=True, exist_ok=False)
    if user is not None:
        os.chown(destination, user.uid, user.gid)
    git("init", "--quiet", "--template=", str(destination))
    credential_file = write_credential_file(tmp, origin, token, user)
    try:
        git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-recurse-submodules",
            "--no-write-fetch-head",
            "--depth=1",
            "--",
            clone_url,
            head_sha,
            env=_git_environment(home, tmp, fetch_environment(credential_file, origin)),
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            credential_file.unlink()
    git("checkout", "--quiet", "--detach", head_sha)
    files = [path for path in git("ls-files", "-z", keep_bytes=_FILE_LIST_BYTES).split("\0") if path]
    return Checkout(destination, head_sha, files, time.monotonic() - started)
