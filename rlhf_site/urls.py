from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request: the manifest of collected static files may not exist yet
    # when the URLconf is imported (manage.py check, migrate).
    return HttpResponsePermanentRedirect(static("favicon.svg"))


class IdConverter:
    """A database id in a URL: digits, short enough for a 64-bit integer column. Django's
    int converter takes any length, and a 20-digit id overflowed the database (500)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


class LetterConverter:
    """A response's letter in an assignment: A to I."""

    regex = "[A-I]"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return str(value)


class TokenKeyConverter:
    """The key an API token is listed by (its first characters): letters, digits and _."""

    regex = "[A-Za-z0-9_]{1,25}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return str(value)


# Registered before the apps' URLconfs are included: they use them.
register_converter(IdConverter, "id")
register_converter(LetterConverter, "letter")
register_converter(TokenKeyConverter, "token_key")

# Under /api/, errors without a view of their own are JSON too.
handler404 = "core.api_errors.api_not_found"
handler500 = "core.api_errors.api_server_error"

urlpatterns = [
    path("", include("labelling.urls")),
    path("", include("ranking.urls")),
    path("", include("exports.urls")),
    # Browsers ask for /favicon.ico whatever the page's <link> says.
    path("favicon.ico", favicon),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("labelling.api_urls")),
    path("api/", include("exports.api_urls")),
    path("api/", include("ranking.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
