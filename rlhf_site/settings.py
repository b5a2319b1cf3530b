"""Settings for the preference-labelling service, all read from environment variables.

The README's configuration table lists every variable. There is no separate production
file: production differs only by the variables it sets.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from rlhf_site.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)
DEVELOPMENT_KEY = "django-insecure-local-development-only-never-in-production"

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=true for local development."
        )
    # Only ever used with DEBUG on, where `check --deploy` complains anyway.
    SECRET_KEY = DEVELOPMENT_KEY
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY == DEVELOPMENT_KEY):
    # Sessions, CSRF tokens, password-reset links and rater pseudonyms all rest on it.
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: it must be at least 50 characters and "
        "not the development key "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
# With DEBUG on (make run), an error page shows neither settings nor the environment:
# the traceback goes to the console only (rlhf_site.errors).
DEFAULT_EXCEPTION_REPORTER = "rlhf_site.errors.QuietExceptionReporter"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # DRF's plain tokens: kept only so a migration can turn the old ones into hashed ones.
    "rest_framework.authtoken",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "labelling",
    "ranking",
    "exports",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Query strings and form fields: no NUL, control characters or direction overrides
    # (labelling.inputs); JSON bodies are checked by the API's parser.
    "labelling.inputs.StrictInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login attempt into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy, enforced on every page (django-csp). Scripts only from our own
# static files: no inline script anywhere, so injected markup cannot run. Inline styles
# stay allowed (the Django admin and Swagger UI set style attributes); images may be data:
# URLs (Swagger UI's icons) but never third-party (model output cannot beacon out).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "rlhf_site.urls"
WSGI_APPLICATION = "rlhf_site.wsgi.application"
ASGI_APPLICATION = "rlhf_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
# SQLite in the project folder by default, so a fresh clone runs with no server;
# PostgreSQL (or anything dj-database-url understands) through DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with the health check asked only of idle connections.
    DATABASES["default"]["ENGINE"] = "rlhf_site.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to one file: WAL lets readers run beside a
    # writer, IMMEDIATE takes the write lock when a transaction starts (so two writers
    # queue on busy_timeout instead of failing half-way with "database is locked").
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a rule: every password change revokes the user's API tokens (labelling.tokens).
    {"NAME": "labelling.tokens.TokenRevocation"},
]
LOGIN_URL = "login"

# Login rate limiting (django-axes, labelling.lockout): within LOGIN_LOCKOUT_MINUTES,
# LOGIN_FAILURE_LIMIT failures for one username from one address lock that pair,
# LOGIN_ADDRESS_FAILURE_LIMIT from one address lock the address, and
# LOGIN_USER_FAILURE_LIMIT for one username lock it for addresses it never logged in
# from; on the login page, the admin and the API's token endpoint alike. A success
# clears the pair's count. Behind reverse proxies, TRUSTED_PROXIES says how many.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_HANDLER = "labelling.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "labelling.lockout.client_address"
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 30)
LOGIN_USER_FAILURE_LIMIT = env_int("LOGIN_USER_FAILURE_LIMIT", 20)
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- language, time -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "media")
# Finished export files (issue 6): written under a temporary name, renamed when complete.
EXPORTS_DIR = Path(env_str("EXPORTS_DIR") or BASE_DIR / "var" / "exports")

# --- security -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
# Strict by default in production, as `check --deploy` asks; a site that shares its domain
# with plain-HTTP subdomains turns these off explicitly.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS")

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
    # JSON bodies only (the import endpoint adds its own JSONL and upload parsers): one
    # way to send data, as the schema documents.
    # Every JSON body passes the strict input layer (labelling.inputs).
    "DEFAULT_PARSER_CLASSES": ["labelling.inputs.StrictJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labelling.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}
# API tokens (issue 15): django-rest-knox stores a SHA-512 digest, never the token, which
# is shown once; each has a name and an expiry, a user may hold several, and they are
# revoked from the tokens page, by the API, and all at once on a password change.
KNOX_TOKEN_MODEL = "labelling.ApiToken"  # noqa: S105 - a model name
# knox's own migrations would create its AuthToken table, which our model replaces (and
# which, unknown to Django's flush, would block emptying the users' table).
MIGRATION_MODULES = {"knox": None}
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "rlhf_",  # recognisable to secret scanners
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preference labelling API",
    "DESCRIPTION": "Projects, prompts, annotations and preference exports for RLHF.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN, nothing fetched at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_errors.schema_error_responses",
    ],
}

# --- background jobs (django-q2, ORM broker: no extra service) --------------------------


class _QCluster(TypedDict):
    """The keys of django-q2's configuration this service sets."""

    name: str
    orm: str
    workers: int
    timeout: int
    retry: int
    max_attempts: int
    ack_failures: bool
    catch_up: bool
    sync: bool


# A task that runs longer than `timeout` is killed; an unacknowledged one is handed out
# again after `retry`, so timeout < retry, and max_attempts stops endless retries.
Q_CLUSTER: _QCluster = {
    "name": "rlhf",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 1800),
    "retry": env_int("Q_RETRY", 2100),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3),
    "ack_failures": True,
    "catch_up": False,
    "sync": env_bool("Q_SYNC", default=False),
}
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT must be below Q_RETRY.")

# --- the service's own limits -----------------------------------------------------------
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 1_000_000)
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 1_000_000_000)
IMPORT_MAX_ERRORS = env_int("IMPORT_MAX_ERRORS", 1000)

# Reward models (issue 15, labelling.scoring): only staff-registered ones are loaded, from
# files on this machine unless downloads are switched on here (and for the model).
REWARD_MODEL_DOWNLOADS = env_bool("REWARD_MODEL_DOWNLOADS", default=False)
if not REWARD_MODEL_DOWNLOADS:
    # Hugging Face's libraries read these: nothing is fetched, whatever a model names.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Hard limits on a scoring run: memory it may add to the worker, wall-clock seconds (the
# run fails, keeping what it scored), and seconds for one rendering of a chat template.
SCORING_MEMORY_MB = env_int("SCORING_MEMORY_MB", 4096)
SCORING_MAX_SECONDS = env_int("SCORING_MAX_SECONDS", 1500)
CHAT_TEMPLATE_SECONDS = env_int("CHAT_TEMPLATE_SECONDS", 2)
if Q_CLUSTER["timeout"] <= SCORING_MAX_SECONDS:
    raise ImproperlyConfigured(
        "SCORING_MAX_SECONDS must be below Q_TIMEOUT: a run stops itself before the "
        "worker is killed."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
