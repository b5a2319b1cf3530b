"""Test settings: the real settings, with the few things tests decide before start-up."""

import os

# Tests never run with a production key; the real settings refuse to start without one.
os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)

from rlhf_site.settings import *  # noqa: F403
from rlhf_site.settings import Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's test client logs in without a request, which django-axes refuses; the lockout
# tests switch it on for themselves (tests/test_security.py).
AXES_ENABLED = False
# Run background tasks inline: django-q2 reads this once at start-up.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
SECURE_SSL_REDIRECT = False
# Export files of a test run go to a folder of their own (tests may point it elsewhere).
import tempfile as _tempfile  # noqa: E402

EXPORTS_DIR = Path(_tempfile.mkdtemp(prefix="rlhf-exports-"))  # noqa: F405
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files come from the finders in tests; there is no collected STATIC_ROOT.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# A file, not SQLite's in-memory default, so that tests with real threads wait on the
# write lock (busy timeout) as production does, instead of failing at once.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    import hashlib
    import tempfile
    from pathlib import Path

    _here = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"rlhf-tests-{_here}.sqlite3")
    }

# Outside CI the test database is made from the models directly (about 3 s less per
# worker); CI builds it by running every migration, on both databases. The migrations
# only reshape existing data, so both give the same tables.
if not os.environ.get("CI"):
    DATABASES["default"].setdefault("TEST", {})["MIGRATE"] = False  # noqa: F405

# The live server answers each request in a thread of its own: with persistent connections
# those threads would leave sessions open and block dropping the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
