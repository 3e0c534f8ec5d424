"""The base of every HTTP view of both dialects."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.views import APIView

from plugboard.principals import Principal


class PlatformView(APIView):
    @property
    def principal(self) -> Principal:
        """Who is calling (see `plugboard.authentication`)."""
        user = self.request.user
        if not isinstance(user, Principal):
            raise exceptions.NotAuthenticated()
        return user
