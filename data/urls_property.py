"""The property dialect's data paths (SPEC §6), included under `v3/` and `v3/accounts/<acc>/`.

Each exists under `data/devices/` (things) and `data/apps/` (controllers). A property name may
hold `/` (a channel of several levels), so `{prp}` is a path segment run; `…/query` is matched
first (and `…/export`).
"""

from django.urls import URLPattern, path

from data import property_api as api
from devices.models import Plug


def _paths(prefix: str, kind: str) -> list[URLPattern]:
    name = prefix.removeprefix("data/").rstrip("/")
    return [
        path(f"{prefix}<str:ref>", api.DeviceDataView.as_view(plug_kind=kind), name=f"v3-{name}-data"),
        path(
            f"{prefix}<str:ref>/properties",
            api.PropertiesFeedView.as_view(plug_kind=kind),
            name=f"v3-{name}-feed",
        ),
        path(
            f"{prefix}<str:ref>/properties/<path:prp>/query",
            api.PropertyQueryView.as_view(plug_kind=kind),
            name=f"v3-{name}-query",
        ),
        path(
            f"{prefix}<str:ref>/properties/<path:prp>/export",
            api.PropertyExportView.as_view(plug_kind=kind),
            name=f"v3-{name}-export",
        ),
        path(
            f"{prefix}<str:ref>/properties/<path:prp>",
            api.PropertyDataView.as_view(plug_kind=kind),
            name=f"v3-{name}-property",
        ),
        path(f"{prefix}<str:ref>/events", api.EventsView.as_view(plug_kind=kind), name=f"v3-{name}-events"),
    ]


urlpatterns = [*_paths("data/devices/", Plug.Kind.THING), *_paths("data/apps/", Plug.Kind.CONTROLLER)]
