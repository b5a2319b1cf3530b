"""The site's URLs and two that fail, for the error-page tests."""

from django.urls import path
from rest_framework.views import APIView

from rlhf_site.urls import handler404, handler500  # noqa: F401 - the site's own
from rlhf_site.urls import urlpatterns as site


def failing(request):
    raise RuntimeError("a bug, with a secret in its message: sk-test-canary")


class FailingAPI(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("a bug, with a secret in its message: sk-test-canary")


urlpatterns = [
    path("failing/", failing),
    path("api/failing/", FailingAPI.as_view()),
    path("api/failing-plain/", failing),
    *site,
]
