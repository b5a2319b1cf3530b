"""The one place that asks which database this is.

PostgreSQL runs the hand-written statements of the hot paths (named constants beside the
function that runs them); every other database, SQLite in the demo and the tests, runs
the ORM version of the same step, which also states the rule in a form easier to read.
"""

from django.db import connection


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"
