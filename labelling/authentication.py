"""API token authentication: django-rest-knox's hashed tokens, looked up in one query.

knox stores a token's SHA-512 digest and the first characters of the token to find it
by, never the token itself. Its own authentication reads the token, then the user, then
every other token of the user (to delete expired ones) on every call; every API call pays
for it, and the queue's whole lease costs less (bench/annotate.py). This class keeps
knox's rules (the digest compared in constant time, the expiry, an inactive user
refused) in one hand-written query, and leaves expired tokens for the tokens page to
show as expired.
"""

from datetime import timedelta
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import exceptions

from labelling.models import ApiToken
from labelling.rows import columns_as, instance_from_row

# How stale "last used" may be: a write at most this often per token, not per call.
LAST_USED_EVERY = timedelta(minutes=5)


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[User, ApiToken]:
        key = token.decode("utf-8", errors="replace")
        user_model = get_user_model()
        users = user_model._meta.db_table
        found = list(
            user_model.objects.raw(
                f"SELECT u.*, {columns_as(ApiToken, table='t', prefix='token__')}"  # noqa: S608
                f" FROM {ApiToken._meta.db_table} t"
                f" JOIN {users} u ON u.{user_model._meta.pk.column} = t.user_id"
                " WHERE t.token_key = %s",
                [key[: CONSTANTS.TOKEN_KEY_LENGTH]],
            )
        )
        digest = hash_token(key)
        for user in found:
            api_token = instance_from_row(ApiToken, vars(user), prefix="token__")
            if not compare_digest(digest, api_token.digest):
                continue
            now = timezone.now()
            if api_token.expiry is not None and api_token.expiry <= now:
                raise exceptions.AuthenticationFailed(_("Token expired."))
            if not user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            api_token.user = user
            if api_token.last_used_at is None or api_token.last_used_at < now - LAST_USED_EVERY:
                ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            return user, api_token
        raise exceptions.AuthenticationFailed(_("Invalid token."))


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema's description of this authentication: `Authorization: Token <token>`."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: object) -> dict:
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Token",  # noqa: S106 - the header's scheme word
        )
