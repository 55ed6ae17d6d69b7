"""AWS clients, created at first use and reused across warm invocations.

They are the clients boto3 hands out, built from botocore's session directly: the same API calls,
without importing boto3, whose ``compat`` module imports s3transfer (~150 ms of a cold start).
``AWS_ENDPOINT_URL`` (a local AWS emulation) is honoured; on AWS it is unset.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from codeloop.settings import get_settings


@functools.cache
def _session() -> Any:
    import botocore.session
    from botocore.loaders import create_loader

    session = botocore.session.get_session()
    # The same search paths as botocore's own loader (AWS_DATA_PATH first, then its data).
    paths = create_loader(session.get_config_variable("data_path")).search_paths
    session.register_component("data_loader", _service_loader()(paths, include_default_search_paths=False))
    return session


@functools.cache
def _service_loader() -> type:
    """botocore's data loader, except that a service's latest model is looked up in that service's
    own directory: botocore first lists every service it knows to check that this one is among
    them (hundreds of directories, each stat'ed: ~50 ms of creating a client, twice). A service
    it does not know still gets botocore's own error."""
    import os

    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader, instance_cache

    class ServiceLoader(Loader):
        @instance_cache
        def load_service_model(
            self, service_name: str, type_name: str, api_version: str | None = None
        ) -> Any:
            if api_version is not None:
                return super().load_service_model(service_name, type_name, api_version)
            try:
                latest = self.determine_latest_version(service_name, type_name)
            except DataNotFoundError:
                return super().load_service_model(service_name, type_name)
            model = self.load_data(os.path.join(service_name, latest, type_name))
            self._extras_processor.process(model, self._find_extras(service_name, type_name, latest))
            return model

    return ServiceLoader


# One client created at a time: a creation under way in the background (``prepare``) is waited
# for and its client taken, not created a second time.
_creating = threading.Lock()
_ready: dict[str, Any] = {}  # clients prepare() created, until client() takes them
_asked: set[str] = set()  # services whose client exists or is being created


@functools.cache
def client(service: str) -> Any:
    _asked.add(service)
    with _creating:
        return _ready.pop(service, None) or _new_client(service)


def _new_client(service: str) -> Any:
    settings = get_settings()
    return _session().create_client(
        service, endpoint_url=settings.aws_endpoint_url or None, region_name=settings.aws_region
    )


def prepare(service: str) -> None:
    """Start creating ``service``'s client on a thread of its own unless it exists: its CPU work
    (importing botocore, loading models) then runs while the caller waits on the database. A
    failure is left for ``client()`` to meet again where the client is used."""
    if service in _asked:
        return
    _asked.add(service)
    _creating.acquire()  # released by the thread: client() cannot start a second creation first
    try:
        threading.Thread(target=_prepare, args=(service,), name=f"codeloop-aws-{service}", daemon=True).start()
    except RuntimeError:  # no thread to be had: client() creates it when it is used
        _creating.release()


def _prepare(service: str) -> None:
    try:
        _ready[service] = _new_client(service)
    except Exception:  # noqa: S110 - client() creates it again, and raises there
        pass
    finally:
        _creating.release()


def reset_clients() -> None:
    """Forget the clients and the session (its credentials): tests, the local stack, a SnapStart restore."""
    with _creating:
        client.cache_clear()
        _session.cache_clear()
        _ready.clear()
        _asked.clear()
