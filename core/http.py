"""The requests of views that only a signed-in user reaches, for type checking: Django and
DRF type `request.user` as a user or AnonymousUser, and these say which one it is.

Nothing here is ever instantiated: a view is still handed Django's or DRF's request, and
these classes only name what its `user` is once the view's guard has let it through.
"""

from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.request import Request


class AuthenticatedHttpRequest(HttpRequest):
    """A page's request behind `login_required`: the user is signed in."""

    user: User


class AuthenticatedRequest(Request):
    """An API request past DRF's IsAuthenticated (every API view's default permission)."""

    user: User
