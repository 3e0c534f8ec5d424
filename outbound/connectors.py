"""Data connectors (SPEC §13): an app's connectors forward every accepted point of the devices
plugged into the app — from every write path, through the write service's sink — to an HTTP
receiver, an external MQTT broker or an AMQP exchange, through the durable outbox (kind
`dataconnector`, target the connector's id, key the device's id: in order per device).

One write's points for one device and connector are one outbox message (its size: the number of
points). The sink costs nothing for devices no connector watches: each process keeps a map of watched
devices, loaded in one pair of queries, and reloads it when a connector changes (a version in
the shared cache, checked at most once a second) and every `WATCH_RELOAD_SECONDS` (plugging a
device into an app or out of it reaches every process within that bound). While no connector is
enabled at all, plugging changes nothing and the periodic reload waits `WATCH_IDLE_SECONDS`
instead: a platform where nobody configured a connector pays no query on its writes but that one
(only a lost cache write, with Redis down, leans on it to see a new connector).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.core.cache import cache
from django.db import transaction

from data.services import WriteOutcome
from devices.models import Control, Plug
from outbound.models import DataConnector
from outbound.network import TargetRefused, target_resolve
from outbound.outbox import Entry, TargetStatus, outbox_add_many, outbox_discard, outbox_status
from plugboard.channels import BadChannel, mask_regex, validate_mask
from plugboard.credentials import secret_decrypt, secret_encrypt
from plugboard.errors import ApiError
from plugboard.identifiers import new_connector_id

KIND = "dataconnector"
MAX_PER_APP = 10
MAX_HEADERS = 10
SCHEMES = {"http": ("http", "https"), "mqtt": ("mqtt", "mqtts"), "amqp": ("amqp", "amqps")}
TEMPLATE_RE = re.compile(r"\$\{(account|device|property)\}")
WATCH_CHECK_SECONDS = 1.0
WATCH_RELOAD_SECONDS = 5.0
WATCH_IDLE_SECONDS = 60.0
_VERSION_KEY = "outbound:connectors:version"


# --- the connector's settings --------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A connector's settings as its deliverer uses them (secrets decrypted)."""

    id: str
    type: str
    disabled: bool
    config: dict[str, Any]
    secrets: dict[str, str]

    def url_with_password(self) -> str:
        """The broker URL as given, password included (mqtt, amqp)."""
        url: str = self.config.get("url", "")
        password = self.secrets.get("urlPassword")
        if not password:
            return url
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def connector_settings(connector: DataConnector) -> Settings:
    secrets: dict[str, str] = (
        json.loads(secret_decrypt(connector.secrets) or "{}") if connector.secrets else {}
    )
    return Settings(connector.id, connector.type, connector.disabled, dict(connector.config), secrets)


def _split_password(url: str) -> tuple[str, str]:
    """The URL without its password, and the password ('' when none)."""
    parts: SplitResult = urlsplit(url)
    if parts.password is None:
        return url, ""
    netloc = f"{parts.username or ''}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    if ":" in (parts.hostname or ""):
        netloc = f"{parts.username or ''}@[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


def _template(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{field} must be a non-empty template string")
    leftover = TEMPLATE_RE.sub("", value)
    if "${" in leftover:
        raise ApiError(400, f"{field} may use only ${{account}}, ${{device}} and ${{property}}")
    return value


def _configure(connector: DataConnector, body: dict[str, Any], *, creating: bool) -> dict[str, str]:
    """Apply a validated body (the API's input serializer's data) to `connector`; the secrets it
    names (the rest are kept). Raises ApiError 400 for what the type does not accept."""
    kind = connector.type
    config = dict(connector.config)
    secrets = connector_settings(connector).secrets if connector.secrets else {}
    if "disabled" in body:
        connector.disabled = bool(body["disabled"])
    if kind == DataConnector.Type.HTTP and (
        "server" in body or "ssl" in body or "path" in body or "port" in body
    ):
        # Connio's form of the receiver's address: server, port, ssl, path.
        server = body.get("server") or urlsplit(config.get("url", "")).hostname
        if not server:
            raise ApiError(400, "server (or url) is required")
        ssl = body.get("ssl", urlsplit(config.get("url", "")).scheme == "https")
        port = body.get("port") or (443 if ssl else 80)
        path = body.get("path", urlsplit(config.get("url", "")).path or "/")
        body = {**body, "url": f"{'https' if ssl else 'http'}://{server}:{port}/{path.lstrip('/')}"}
    if "url" in body:
        url, password = _split_password(body["url"])
        try:
            target_resolve(url, schemes=SCHEMES[kind])
        except TargetRefused as exc:
            raise ApiError(400, f"url: {exc}") from None
        config["url"] = url
        if password or "urlPassword" in secrets:
            secrets["urlPassword"] = password
    elif creating:
        raise ApiError(400, "url is required")
    if kind == DataConnector.Type.HTTP:
        if "method" in body:
            config["method"] = body["method"].upper()
        config.setdefault("method", "POST")
        if "headers" in body:
            if len(body["headers"]) > MAX_HEADERS:
                raise ApiError(400, f"at most {MAX_HEADERS} headers")
            config["headers"] = dict(body["headers"])
        if "credentials" in body:
            credentials = body["credentials"] or {}
            config["user"] = credentials.get("user", "")
            secrets["password"] = credentials.get("password", "")
        if "signatureKey" in body:
            secrets["signatureKey"] = body["signatureKey"]
    elif kind == DataConnector.Type.MQTT:
        if "topic" in body:
            config["topic"] = _template(body["topic"], "topic")
        elif creating:
            config["topic"] = "${account}/${device}/${property}"
    else:
        if "exchange" in body:
            config["exchange"] = body["exchange"]
        elif creating:
            raise ApiError(400, "exchange is required")
        if "routingKey" in body:
            config["routingKey"] = _template(body["routingKey"], "routingKey")
        elif creating:
            config["routingKey"] = "${account}.${device}.${property}"
    for field in ("properties", "channels"):
        if field in body:
            config[field] = list(body[field] or [])
    for mask in config.get("channels", []):
        try:
            validate_mask(mask)
        except BadChannel as exc:
            raise ApiError(400, f"channels: {exc}") from None
    connector.config = config
    connector.secrets = secret_encrypt(json.dumps(secrets)) if secrets else ""
    return secrets


# --- services and selectors ----------------------------------------------------------------------


def connectors_of(*, app: Plug) -> list[DataConnector]:
    """An app's connectors, oldest first."""
    return list(DataConnector.objects.filter(app=app))


def connector_of(*, app: Plug, connector_id: str) -> DataConnector:
    """One of an app's connectors; 404 for any other id."""
    connector = DataConnector.objects.filter(app=app, id=connector_id).first()
    if connector is None:
        raise ApiError(404, f"no data connector {connector_id} in app {app.name}")
    return connector


def connector_status(*, connectors: Sequence[DataConnector]) -> dict[str, TargetStatus]:
    """The outbox's status of each connector (three queries whatever their number); what the API
    and the console show."""
    return outbox_status(kind=KIND, targets=[c.id for c in connectors])


def connectors_with_status(*, app: Plug) -> list[tuple[DataConnector, TargetStatus]]:
    """An app's connectors each with its delivery status (the console's table): four queries."""
    connectors = connectors_of(app=app)
    status = connector_status(connectors=connectors)
    return [(c, status[c.id]) for c in connectors]


def connector_create(*, app: Plug, body: dict[str, Any]) -> DataConnector:
    """A new connector of `app` from a validated body; at most MAX_PER_APP per app."""
    kind = body.get("type")
    if kind not in SCHEMES:
        raise ApiError(400, f"type must be one of {', '.join(SCHEMES)}")
    with transaction.atomic():
        Plug.objects.select_for_update().filter(id=app.id).first()  # one count at a time per app
        if DataConnector.objects.filter(app=app).count() >= MAX_PER_APP:
            raise ApiError(400, f"an app has at most {MAX_PER_APP} data connectors")
        connector = DataConnector(id=new_connector_id(), account_id=app.account_id, app=app, type=kind)
        _configure(connector, body, creating=True)
        connector.save()
        transaction.on_commit(watch_invalidate)
    return connector


def connector_update(*, connector: DataConnector, body: dict[str, Any]) -> DataConnector:
    """Change the fields `body` names (the type stays)."""
    if "type" in body and body["type"] != connector.type:
        raise ApiError(400, "a connector's type cannot change; delete it and create another")
    _configure(connector, body, creating=False)
    with transaction.atomic():
        connector.save()
        transaction.on_commit(watch_invalidate)
    return connector


def connector_delete(*, connector: DataConnector) -> None:
    """Delete a connector and what it still had to deliver (its dead letters too)."""
    with transaction.atomic():
        outbox_discard(kind=KIND, target=connector.id)
        connector.delete()
        transaction.on_commit(watch_invalidate)


# --- the write sink ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Watch:
    connector_id: str
    properties: frozenset[str]
    masks: tuple[re.Pattern[str], ...]

    def accepts(self, channel: str) -> bool:
        if not self.properties and not self.masks:
            return True
        return channel in self.properties or any(m.match(channel) for m in self.masks)


_watch_lock = threading.Lock()
_watched: dict[str, tuple[_Watch, ...]] = {}
_watch_loaded = 0.0
_watch_checked = 0.0
_watch_version: object = None
_watch_any = False  # some connector is enabled (plugging then matters)


def watch_invalidate() -> None:
    """A connector changed: this process reloads at its next write, the others within a second."""
    global _watch_loaded
    _watch_loaded = 0.0
    # The cache is best effort: with it unreachable, the periodic reload catches up.
    with contextlib.suppress(Exception):
        cache.set(_VERSION_KEY, uuid.uuid4().hex, None)


def _watch_load() -> tuple[dict[str, tuple[_Watch, ...]], bool]:
    """(device id → the connectors watching it, whether any connector is enabled), in two queries."""
    connectors = list(DataConnector.objects.filter(disabled=False).values_list("id", "app_id", "config"))
    if not connectors:
        return {}, False
    by_app: defaultdict[str, list[_Watch]] = defaultdict(list)
    for connector_id, app_id, config in connectors:
        masks = tuple(re.compile(mask_regex(m)) for m in config.get("channels", []))
        by_app[app_id].append(_Watch(connector_id, frozenset(config.get("properties", [])), masks))
    watched: defaultdict[str, list[_Watch]] = defaultdict(list)
    for app_id, thing_id in Control.objects.filter(controller_id__in=list(by_app)).values_list(
        "controller_id", "thing_id"
    ):
        watched[thing_id].extend(by_app[app_id])
    return {thing: tuple(watches) for thing, watches in watched.items()}, True


def watched_devices() -> dict[str, tuple[_Watch, ...]]:
    """This process's map of watched devices, reloaded when stale (see the module's docstring)."""
    global _watched, _watch_loaded, _watch_checked, _watch_version, _watch_any
    now = time.monotonic()
    if now - _watch_checked >= WATCH_CHECK_SECONDS or not _watch_loaded:
        _watch_checked = now
        version = cache.get(_VERSION_KEY)
        period = WATCH_RELOAD_SECONDS if _watch_any else WATCH_IDLE_SECONDS
        if version != _watch_version or now - _watch_loaded >= period:
            with _watch_lock:
                (_watched, _watch_any), _watch_loaded, _watch_version = _watch_load(), now, version
    return _watched


def iso_at(at: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at // 1000)) + f".{at % 1000:03d}Z"


def connectors_sink(outcome: WriteOutcome) -> None:
    """The write service's sink: queue the stored points of watched devices for their connectors,
    in the write's transaction. No query unless a written device is watched."""
    watched = watched_devices()
    if not watched:
        return
    queued: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    accounts: dict[str, str] = {}
    for point in outcome.stored:
        watches = watched.get(point.of)
        if not watches:
            continue
        payload = None
        for watch in watches:
            if watch.accepts(point.channel):
                payload = payload or {
                    "account": point.account_id,
                    "device": point.of,
                    "property": point.channel,
                    "t": iso_at(point.at),
                    "v": point.data,
                    "id": point.oid,
                }
                queued[(watch.connector_id, point.of)].append(payload)
                accounts[point.of] = point.account_id
    if queued:
        # One outbox row per connector and device of this write, carrying its points: a batch
        # write of 1,000 points queues one row per watching connector, not 1,000.
        outbox_add_many(
            [
                Entry(
                    account_id=accounts[device],
                    kind=KIND,
                    target=connector_id,
                    key=device,
                    payloads=[{"points": points}],
                    sizes=[len(points)],
                )
                for (connector_id, device), points in queued.items()
            ]
        )
