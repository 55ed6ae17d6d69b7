"""Lambda SnapStart's runtime hooks, and the warm-up they share with the local stack.

With SnapStart, Lambda initialises a published version once, snapshots its memory and resumes
copies of that snapshot for cold starts. Before the snapshot, a function imports and warms what
is safe to copy: modules, and boto3 clients (botocore's service models are the slow part; a
client opens no connection until its first call). It holds no database connection and reads no
secret. After each restore, the copy reseeds ``random`` (every copy would otherwise draw the
same numbers), forgets settings (a secret may have rotated since the snapshot), drops the
pool, the AWS clients and the GitHub client (tokens, JWT), recreates the clients and opens a
pool of its own, so every copy's connections are its own.

``snapshot_restore_py`` is part of Lambda's Python runtime (3.12+), not of the layer: a second
copy in the layer would hold hooks the runtime never calls. Where it is absent (off Lambda, or
a runtime without SnapStart) ``register`` does nothing.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterable


def warm(modules: Iterable[str] = (), clients: Iterable[str] = ()) -> None:
    """Import ``modules`` and create the AWS ``clients`` (service names) the first request needs."""
    from codeloop.adapters.aws import client

    for name in modules:
        importlib.import_module(name)
    for service in clients:
        client(service)


def before_snapshot(modules: tuple[str, ...], clients: tuple[str, ...]) -> None:
    from codeloop.db.pool import close_pool

    warm(modules, clients)
    close_pool()  # no connection goes into the snapshot


def after_restore(clients: tuple[str, ...]) -> None:
    from codeloop.adapters import aws, github
    from codeloop.db.pool import close_pool, get_pool
    from codeloop.settings import reset_settings

    random.seed()
    reset_settings()
    close_pool()
    aws.reset_clients()
    github.reset_clients()
    warm(clients=clients)
    get_pool()  # opens its connections in the background, for this copy alone


def register(modules: Iterable[str] = (), clients: Iterable[str] = ()) -> bool:
    """Register the hooks for this function; False where the runtime has no SnapStart hooks."""
    try:
        import snapshot_restore_py
    except ImportError:
        return False
    snapshot_restore_py.register_before_snapshot(before_snapshot, tuple(modules), tuple(clients))
    snapshot_restore_py.register_after_restore(after_restore, tuple(clients))
    return True
