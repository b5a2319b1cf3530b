"""Django's PostgreSQL backend, with the connection health check asked only of a
connection that has sat idle.

Django's health check (CONN_HEALTH_CHECKS) sends `SELECT 1` before the first query of
every request that reuses a connection: one round trip in nine of an annotator's `next`
(bench/annotate.py). A connection whose previous request ended without a database error
less than a second before this one started is trusted instead; one idle for longer is
checked as before. After a PostgreSQL restart, which takes longer than that second,
every connection is checked and replaced before use, as with Django's own check. What is
left is a connection the server drops within a second of its last request: the next
request on it gets the 503 of core/api_errors.py, and Django replaces it.
"""

import time

from django.db.backends.postgresql import base

TRUSTED_IDLE_SECONDS = 1.0
_NEVER = float("-inf")


class DatabaseWrapper(base.DatabaseWrapper):
    # Django calls close_if_unusable_or_obsolete as each request starts and as it ends:
    # the time between an end and the next start is how long the connection sat idle.
    sound_at = _NEVER  # when the connection was last seen sound at a request's edge
    idle_seconds = float("inf")

    def close_if_unusable_or_obsolete(self) -> None:
        now = time.monotonic()
        self.idle_seconds = now - self.sound_at
        sound = self.connection is not None and not self.errors_occurred
        super().close_if_unusable_or_obsolete()
        self.sound_at = now if sound and self.connection is not None else _NEVER

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and self.idle_seconds < TRUSTED_IDLE_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def connect(self) -> None:
        super().connect()
        self.sound_at, self.idle_seconds = _NEVER, float("inf")
