"""Alerts, incidents and device activity through the property dialect (SPEC §12):
`/v3/alerts`, `/v3/alerts/{id}`, `/v3/incidents`, `/v3/incidents/{id}`,
`/v3/incidents/{id}/ack`, `/v3/devices/{ref}/activity`, under `/v3/` and `/v3/accounts/{acc}/`.
Views only translate: who may is `devices.access`'s, the work `alerts.services`'."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import schema_docs as docs
from alerts.activity import activity_of
from alerts.presenters import alert_json, incident_json
from alerts.selectors import alert_lookup, alerts_of, incident_lookup, incidents_of
from alerts.services import alert_create, alert_delete, alert_update, incident_ack, incident_clear
from devices import access
from devices.selectors import plug_resolve
from devices.shapes.base import body_object
from plugboard.errors import ApiError
from plugboard.property_dialect import PropertyDialectView, page


def _owner_param(request: Request) -> str | None:
    return request.query_params.get("owner") or request.query_params.get("ownerId") or None


@extend_schema_view(**docs.alert_list)
class AlertListView(PropertyDialectView):
    def get(self, request: Request, **_: Any) -> Response:
        rows = alerts_of(principal=self.principal, owner_id=_owner_param(request))
        return Response(page(request, rows, alert_json))

    def post(self, request: Request, **_: Any) -> Response:
        alert = alert_create(
            principal=self.principal, body=body_object(request), owner_id=_owner_param(request)
        )
        return Response(alert_json(alert), status=201)


@extend_schema_view(**docs.alert_detail)
class AlertView(PropertyDialectView):
    def get(self, request: Request, alert_id: str, **_: Any) -> Response:
        return Response(alert_json(alert_lookup(principal=self.principal, alert_id=alert_id)))

    def put(self, request: Request, alert_id: str, **_: Any) -> Response:
        alert = alert_lookup(principal=self.principal, alert_id=alert_id, change=True)
        changed = alert_update(principal=self.principal, alert=alert, body=body_object(request))
        return Response(alert_json(changed))

    def delete(self, request: Request, alert_id: str, **_: Any) -> Response:
        alert = alert_lookup(principal=self.principal, alert_id=alert_id, change=True)
        return Response({"nrOfItems": alert_delete(principal=self.principal, alert=alert)})


@extend_schema_view(**docs.incident_list)
class IncidentListView(PropertyDialectView):
    def get(self, request: Request, **_: Any) -> Response:
        params = request.query_params
        rows = incidents_of(
            principal=self.principal,
            device=params.get("device"),
            alert=params.get("alert"),
            status=params.get("status"),
        )
        return Response(page(request, rows, incident_json))


@extend_schema_view(**docs.incident_detail)
class IncidentView(PropertyDialectView):
    def get(self, request: Request, incident_id: str, **_: Any) -> Response:
        return Response(incident_json(incident_lookup(principal=self.principal, incident_id=incident_id)))

    def delete(self, request: Request, incident_id: str, **_: Any) -> Response:
        incident = incident_lookup(principal=self.principal, incident_id=incident_id)
        incident_clear(principal=self.principal, incident=incident)
        incident.refresh_from_db()
        return Response(incident_json(incident))


@extend_schema_view(**docs.incident_ack)
class IncidentAckView(PropertyDialectView):
    def post(self, request: Request, incident_id: str, **_: Any) -> Response:
        incident = incident_lookup(principal=self.principal, incident_id=incident_id)
        return Response(incident_json(incident_ack(principal=self.principal, incident=incident)))


@extend_schema_view(**docs.device_activity)
class DeviceActivityView(PropertyDialectView):
    def get(self, request: Request, ref: str, **_: Any) -> Response:
        plug = plug_resolve(principal=self.principal, ref=ref)
        if not access.management_reach(self.principal, plug.kind).allows(plug.id):
            raise ApiError(403, f"these credentials may not look at {plug.id}")
        row = activity_of(plug_id=plug.id)
        if row is None or row.period == 0:
            return Response({"period": 0, "active": "unknown", "lastIn": None, "lastOut": None})
        return Response(
            {
                "period": row.period,
                "active": row.state,
                "lastIn": {"property": row.last_in_property, "t": row.last_in_at} if row.last_in_at else None,
                "lastOut": {"property": row.last_out_property, "t": row.last_out_at}
                if row.last_out_at
                else None,
            }
        )
