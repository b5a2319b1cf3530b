"""API token authentication in one hand-written query.

DRF's own TokenAuthentication asks the ORM for the token with its user; every API call
pays for compiling that query, which cost as much as the queue's whole lease
(bench/annotate.py). The same rules, the same errors, the same `(user, token)` pair.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user_model = get_user_model()
        found = list(
            user_model.objects.raw(
                f"SELECT u.*, t.created AS token_created FROM {Token._meta.db_table} t"  # noqa: S608
                f" JOIN {user_model._meta.db_table} u ON u.{user_model._meta.pk.column} = t.user_id"
                " WHERE t.key = %s",
                [key],
            )
        )
        if not found:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = found[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user, created=user.token_created)
        token._state.adding = False
        return user, token
