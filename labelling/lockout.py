"""Login lockout that an outsider cannot turn against a user (issue 15 point 9), on
django-axes, for the login page, the admin and the API's token endpoint.

Three limits, each over the cool-off window (LOGIN_LOCKOUT_MINUTES):

- one username from one address: LOGIN_FAILURE_LIMIT failures lock that pair (axes's
  own rule);
- one address, whatever the usernames: LOGIN_ADDRESS_FAILURE_LIMIT failures lock the
  address (one machine trying many accounts);
- one username, from many addresses: LOGIN_USER_FAILURE_LIMIT failures lock the username
  for addresses it never logged in from (many machines trying one account). An address
  the user logged in from in the last KNOWN_DAYS days stays open: an attacker who does
  not share the user's address cannot keep them out.

The address is the client's: REMOTE_ADDR, or behind TRUSTED_PROXIES reverse proxies the
address the outermost of them saw (X-Forwarded-For, counted from the right, where each
proxy appends: entries further left were written by the client and prove nothing).
"""

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

KNOWN_DAYS = 90


def client_address(request: HttpRequest) -> str | None:
    """The client's address, as far as the trusted proxies vouch for it."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return _valid(remote)
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return _valid(remote)  # not through all the proxies: the direct peer
    return _valid(forwarded[-proxies]) or _valid(remote)


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def _recent(now: datetime) -> datetime:
    return now - settings.AXES_COOLOFF_TIME


class LockoutHandler(AxesDatabaseHandler):
    def is_locked(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or self._wide_lock(request, credentials)

    def user_login_failed(
        self, sender: object, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        """axes marks a request locked out (the lockout page, the API's 429) for its own
        rule only; a failure that the address or username rules refuse is marked too."""
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not getattr(request, "axes_locked_out", False):
            # axes' own attribute on the request, which Django's type does not declare.
            request.axes_locked_out = self._wide_lock(request, credentials)  # type: ignore[attr-defined]

    def _wide_lock(self, request: HttpRequest, credentials: dict | None) -> bool:
        now = timezone.now()
        address = getattr(request, "axes_ip_address", None) or client_address(request)
        recent = AccessAttempt.objects.filter(attempt_time__gte=_recent(now))
        from_address = recent.filter(ip_address=address).aggregate(n=Sum("failures_since_start"))
        if (from_address["n"] or 0) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return True
        username = get_client_username(request, credentials)
        if not username:
            return False
        for_user = recent.filter(username=username).aggregate(n=Sum("failures_since_start"))
        if (for_user["n"] or 0) < settings.LOGIN_USER_FAILURE_LIMIT:
            return False
        known = AccessLog.objects.filter(
            username=username,
            ip_address=address,
            attempt_time__gte=now - timedelta(days=KNOWN_DAYS),
        ).exists()
        return not known
