"""Live records to MQTT subscribers and console pages, sent after the write commits."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def account_group(account_id: str) -> str:
    """The channel-layer group of every live reader of an account's data."""
    return f"data.{account_id}"


def broadcast_points(records: list[dict[str, Any]]) -> None:
    """One group message per account with that account's new records."""
    layer = get_channel_layer()
    if layer is None:
        return
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_account[record["account"]].append({k: v for k, v in record.items() if k != "account"})
    for account_id, items in by_account.items():
        try:
            async_to_sync(layer.group_send)(
                account_group(account_id), {"type": "data.points", "records": items}
            )
        except Exception:  # a live push is best effort; the data is stored
            log.exception("live broadcast failed", extra={"account": account_id})
