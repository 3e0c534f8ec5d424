"""Data connectors through the property dialect (SPEC §13): `/v3/apps/{ref}/dataconnectors`,
`…/{id}`, `…/{id}/test`, `…/{id}/deadletters`, `…/{id}/replay`, under `/v3/` and
`/v3/accounts/{acc}/`.

Who may (`devices.access`, through the app look-up): whoever may see the app sees its connectors;
whoever may change it creates, changes, tests, replays and deletes them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from devices.app_api import AppManagementView
from outbound import schema_docs as docs
from outbound.connectors import (
    KIND,
    connector_create,
    connector_delete,
    connector_of,
    connector_status,
    connector_update,
    connectors_of,
)
from outbound.delivery import DeliveryFailed, connector_test
from outbound.http import WebhookFailed
from outbound.models import DataConnector
from outbound.network import TargetRefused
from outbound.outbox import TargetStatus, outbox_dead_letters, outbox_replay
from plugboard.errors import ApiError
from plugboard.property_dialect import iso_date, page


def connector_json(connector: DataConnector, status: TargetStatus) -> dict[str, Any]:
    """A connector as the API shows it: its settings without any secret, and its status."""
    config = connector.config
    shown: dict[str, Any] = {
        "id": connector.id,
        "accountId": connector.account_id,
        "appId": connector.app_id,
        "type": connector.type,
        "disabled": connector.disabled,
        "url": config.get("url", ""),
    }
    if connector.type == DataConnector.Type.HTTP:
        shown["method"] = config.get("method", "POST")
        shown["headers"] = config.get("headers", {})
        if config.get("user"):
            shown["credentials"] = {"user": config["user"]}
        shown["signed"] = bool(connector.secrets) and "signatureKey" in _secret_names(connector)
    elif connector.type == DataConnector.Type.MQTT:
        shown["topic"] = config.get("topic", "")
        shown["qos"] = 1
    else:
        shown["exchange"] = config.get("exchange", "")
        shown["routingKey"] = config.get("routingKey", "")
    shown["properties"] = config.get("properties", [])
    shown["channels"] = config.get("channels", [])
    shown["status"] = {
        "delivered": status.delivered,
        "pending": status.pending,
        "failed": status.failures,
        "dead": status.dead,
        "lagSeconds": round(status.lag_seconds, 3),
        "lastError": status.last_error,
        "lastErrorAt": status.last_error_at,
        "lastDeliveredAt": status.last_delivered_at,
    }
    shown["dateCreated"] = iso_date(connector.date_created)
    shown["dateModified"] = iso_date(connector.date_modified)
    return shown


def _secret_names(connector: DataConnector) -> set[str]:
    from outbound.connectors import connector_settings  # only the names leave this function

    return {name for name, value in connector_settings(connector).secrets.items() if value}


def _one(connector: DataConnector) -> dict[str, Any]:
    return connector_json(connector, connector_status(connectors=[connector])[connector.id])


def _body(request: Request) -> dict[str, Any]:
    serializer = docs.ConnectorInSerializer(data=request.data if isinstance(request.data, dict) else None)
    if not isinstance(request.data, dict):
        raise ApiError(400, "the body must be a JSON object")
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema_view(**docs.connector_list)
class ConnectorListView(AppManagementView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        connectors = connectors_of(app=self.app(ref))
        status = connector_status(connectors=connectors)
        return Response(page(request, connectors, lambda c: connector_json(c, status[c.id])))

    def post(self, request: Request, ref: str, **_: Any) -> Response:
        app = self.app(ref, to_change=True)
        return Response(_one(connector_create(app=app, body=_body(request))), status=201)


@extend_schema_view(**docs.connector)
class ConnectorView(AppManagementView):
    def get(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        return Response(_one(connector_of(app=self.app(ref), connector_id=connector_id)))

    def put(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        connector = connector_of(app=self.app(ref, to_change=True), connector_id=connector_id)
        return Response(_one(connector_update(connector=connector, body=_body(request))))

    def delete(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        connector = connector_of(app=self.app(ref, to_change=True), connector_id=connector_id)
        connector_delete(connector=connector)
        return Response({"nrOfItems": 1})


@extend_schema_view(**docs.connector_test)
class ConnectorTestView(AppManagementView):
    def post(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        connector = connector_of(app=self.app(ref, to_change=True), connector_id=connector_id)
        try:
            connector_test(connector=connector)
        except TargetRefused as exc:
            raise ApiError(400, str(exc)) from None
        except (DeliveryFailed, WebhookFailed) as exc:
            raise ApiError(502, f"the test point was not taken: {exc}") from None
        return Response({"success": True})


@extend_schema_view(**docs.dead_letters)
class DeadLetterListView(AppManagementView):
    def get(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        connector = connector_of(app=self.app(ref), connector_id=connector_id)
        try:
            after = int(request.query_params.get("after", 0))
            limit = int(request.query_params.get("limit", 100))
        except ValueError:
            raise ApiError(400, "after and limit must be integers") from None
        if not 1 <= limit <= 1000 or after < 0:
            raise ApiError(400, "limit must be 1..1000 and after at least 0")
        letters = outbox_dead_letters(kind=KIND, target=connector.id, limit=limit, after=after)
        return Response(
            [
                {
                    "id": m.id,
                    "device": m.key,
                    "points": m.payload["points"],
                    "deliveryId": m.delivery_id,
                    "attempts": m.attempts,
                    "error": error,
                    "createdAt": m.created_at,
                }
                for m, error in letters
            ]
        )


@extend_schema_view(**docs.replay)
class ReplayView(AppManagementView):
    def post(self, request: Request, ref: str, connector_id: str, **_: Any) -> Response:
        connector = connector_of(app=self.app(ref, to_change=True), connector_id=connector_id)
        serializer = docs.ReplayInSerializer(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("ids")
        return Response({"nrOfItems": outbox_replay(kind=KIND, target=connector.id, ids=ids)})
