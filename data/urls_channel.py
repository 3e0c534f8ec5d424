"""Channel dialect, data side (SPEC §5), included under `/iot/`.

Channels and masks are routed with `<path:…>`: Django matches on the percent-decoded path, so
`data/home%2Fkitchen` and `data/home/kitchen` name the same channel and `%23` is `#`.
"""

from django.urls import path

from data.channel_api import ChannelListView, DataView

urlpatterns = [
    path("data", DataView.as_view(), name="channel-data"),
    path("data/<path:channel>", DataView.as_view(), name="channel-data-channel"),
    path("channel", ChannelListView.as_view(), name="channel-list"),
    path("channel/<path:mask>", ChannelListView.as_view(), name="channel-list-mask"),
]
