"""Enrollment and plug management of the channel dialect, under `/iot/` (SPEC §5)."""

from django.urls import path

from devices.channel_api import DeviceEnrollmentView, DevicePropsView, DevicePropView, DeviceView

urlpatterns = [
    path("device", DeviceEnrollmentView.as_view(), name="iot-device"),
    path("device/", DeviceEnrollmentView.as_view()),
    path("device/<str:ref>", DeviceView.as_view(), name="iot-device-detail"),
    path("device/<str:ref>/", DevicePropsView.as_view(), name="iot-device-props"),
    path("device/<str:ref>/<path:key>", DevicePropView.as_view(), name="iot-device-prop"),
]
