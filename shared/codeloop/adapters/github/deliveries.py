"""The App's webhook deliveries (App JWT): listing them and asking for one again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from codeloop.adapters.github.client import PAGE_SIZE, _app_request
from codeloop.adapters.github.models import HookDelivery


def list_hook_deliveries(*, since: datetime | None = None, limit: int = 500) -> list[HookDelivery]:
    """The App's recent webhook deliveries, newest first, back to ``since`` (or ``limit`` of them)."""
    deliveries: list[HookDelivery] = []
    url: str | None = "/app/hook/deliveries"
    params: dict[str, Any] | None = {"per_page": PAGE_SIZE}
    while url is not None and len(deliveries) < limit:
        response = _app_request("GET", url, params=params)
        for item in response.json():
            delivery = HookDelivery.model_validate(item)
            if since is not None and delivery.delivered_at < since:
                return deliveries
            deliveries.append(delivery)
        next_link = response.links.get("next")
        url, params = (next_link["url"], None) if next_link else (None, None)
    return deliveries[:limit]


def redeliver_hook_delivery(delivery_id: int) -> None:
    """Ask GitHub to send a delivery again (it keeps its ``X-GitHub-Delivery`` guid)."""
    _app_request("POST", f"/app/hook/deliveries/{delivery_id}/attempts")
