"""Plugboard settings: everything comes from the environment (SPEC §2).

With nothing set the platform runs embedded: SQLite under var/, the in-memory channel layer and
Celery tasks executed in-process. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.conf import global_settings
from django.core.exceptions import ImproperlyConfigured

# The MQTT protocol core imports no Django: its defaults are safe to read here, before setup.
from commands.mqtt.protocol.connection import DEFAULT_MAX_INFLIGHT, DEFAULT_MAX_PACKET

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PLUGBOARD_VAR_DIR") or BASE_DIR / "var")


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into var/ (never committed)."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# --- console sessions (SPEC §9): the cookie is never readable by scripts nor sent cross-site ----
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = _env_int("PLUGBOARD_SESSION_SECONDS", 12 * 3600)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)  # on behind HTTPS
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "plugboard.apps.PlugboardConfig",
    "devices.apps.DevicesConfig",
    "data.apps.DataConfig",
    "commands.apps.CommandsConfig",
    "outbound.apps.OutboundConfig",
    "alerts.apps.AlertsConfig",
]

MIDDLEWARE = [
    # First: it times and logs every request, refusals of the guards below included.
    "plugboard.middleware.AccessLogMiddleware",
    # Every HTML page (console, admin, API docs, landing) gets the Content-Security-Policy.
    "plugboard.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files answered before sessions, CSRF or the API guard look at the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "plugboard.middleware.ApiGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The pages' Content-Security-Policy: scripts, styles, fonts, frames and connections (the
# console's live WebSocket included: 'self' covers ws:/wss: of this origin) from this origin
# only, no inline script or style anywhere (the pages hold none: the console's and the admin's
# scripts are files, the Swagger UI's init script is served as a file), images from here or
# data: URLs (Swagger UI's icons), no plugin, no framing by another site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

ROOT_URLCONF = "plugboard.urls"
ASGI_APPLICATION = "plugboard.asgi.application"
WSGI_APPLICATION = None

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
            "libraries": {"console": "plugboard.console.templatetags"},
        },
    },
]

# --- database -------------------------------------------------------------------------------
_sqlite_default = f"sqlite:///{VAR_DIR / 'plugboard.sqlite3'}"
# An empty variable counts as unset, so `DATABASE_URL= make …` selects the embedded default.
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _sqlite_default)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL + immediate transactions + busy timeout: concurrent writers wait, they do not fail.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A connection pool per process: Daphne runs each request's sync code in a fresh thread,
    # so persistent per-thread connections (CONN_MAX_AGE) would still reconnect per request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Django hands the pool `check=ConnectionPool.check_connection` with health checks on: a
    # pooled connection is tried (an empty query) before it is given out, so one the server
    # closed (a restart, pg_terminate_backend) is replaced instead of failing a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", 2)  # an unreachable server fails fast, not in minutes
    _pg_options["pool"] = {
        "min_size": 2,
        "max_size": _env_int("PLUGBOARD_DB_POOL_SIZE", 20),
        "timeout": 20,  # waiting for a free connection (or for the server to come back)
        "max_idle": 60,  # idle connections above min_size are closed after a minute
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, Celery broker ------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Short socket timeouts: with Redis down or hung a request loses a few milliseconds (refused)
    # or at most about a second, never its answer (SPEC §11; plugboard.cache, plugboard.live).
    _redis_timeouts = {"socket_connect_timeout": 1, "socket_timeout": 1}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, **_redis_timeouts}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "plugboard.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": _redis_timeouts,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# Beat's state file lives under var/ (never in the directory beat is started from).
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "plugboard.celery:Scheduler"  # makes var/ if it is missing
CELERY_BEAT_SCHEDULE = {
    "purge-expired": {
        "task": "data.tasks.purge_expired",
        "schedule": float(os.environ.get("PURGE_EVERY", 60)),
    },
    # Outbox batches waiting for a retry (fresh ones are kicked after their commit).
    "outbound-sweep": {
        "task": "outbound.tasks.deliver",
        "schedule": float(os.environ.get("PLUGBOARD_OUTBOUND_SWEEP_SECONDS", 5)),
    },
    # Rollups within a minute of the writes: the refresh runs thrice a minute by default.
    "refresh-rollups": {
        "task": "data.tasks.refresh_rollups",
        "schedule": float(os.environ.get("ROLLUP_EVERY", 20)),
    },
    # Silent watched devices turn inactive within their period plus this interval (SPEC §12).
    "scan-activity": {
        "task": "alerts.tasks.scan_activity",
        "schedule": float(os.environ.get("PLUGBOARD_ACTIVITY_SCAN_SECONDS", 1.0)),
    },
}

# --- static files ---------------------------------------------------------------------------
# WhiteNoise serves them from the app in every mode (embedded `serve`, plain Daphne, several
# workers): compressed, content-hashed copies collected into STATIC_ROOT, which the ASGI entry
# point refreshes itself when the sources changed (plugboard.assets), so no deploy step is needed.
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- DRF / OpenAPI ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["plugboard.authentication.PlugCredentialsAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["plugboard.parsers.LenientJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "plugboard.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "plugboard.schema.PlatformAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Plugboard API",
    "DESCRIPTION": "Channel dialect (/iot/) and property dialect (/v3/) of the Plugboard IoT platform.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # Each app's schema_docs describes its operations; the error shapes are shared components.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "plugboard.schema.error_components",
        "plugboard.schema.request_bodies_closed",
        "plugboard.schema.create_links",
    ],
    # Choice sets sharing a field name (status, type) get names of their own in the components.
    "ENUM_NAME_OVERRIDES": {
        "PlugStatusEnum": "devices.schema_docs.PLUG_STATUSES",
        "DeviceStatusEnum": "devices.shapes.devices.V3_STATUSES",
        "AccountStatusEnum": "devices.schema_docs.ACCOUNT_STATUSES",
        "PropertyTypeEnum": "devices.models.Property.Type",
        "PropertyTypeWordEnum": "devices.shapes.properties.PROPERTY_TYPE_WORDS",
        "KeyContextTypeEnum": "devices.shapes.keys.CONTEXT_WORDS",
        "DataConnectorTypeEnum": "outbound.schema_docs.TYPES",
    },
    # Every operation is described by its app's schema_docs (tests/plugboard/test_schema_contract.py
    # checks it), so drf-spectacular has nothing to guess: what it would say is worth reading.
    "DISABLE_ERRORS_AND_WARNINGS": False,
}

# --- platform limits -------------------------------------------------------------------------
# Request bodies above this are refused with 413 in the dialect's error shape.
DATA_UPLOAD_MAX_MEMORY_SIZE = _env_int("PLUGBOARD_MAX_BODY", 4 * 1024 * 1024)
# Load balancers whose word on the client's address is taken (comma-separated addresses or
# networks): X-Forwarded-For over HTTP and WebSocket, the PROXY protocol (v1) over MQTT TCP.
PLUGBOARD_TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("PLUGBOARD_TRUSTED_PROXIES", "").split(",") if p.strip()
]
# Who may read /metrics (SPEC §14; devices.access.metrics_readable): a scrape with this bearer
# token, or from these networks (comma-separated addresses or CIDRs); neither set: nobody.
PLUGBOARD_METRICS_TOKEN = os.environ.get("PLUGBOARD_METRICS_TOKEN", "")
PLUGBOARD_METRICS_NETWORKS = [
    n.strip() for n in os.environ.get("PLUGBOARD_METRICS_NETWORKS", "").split(",") if n.strip()
]
for _network in PLUGBOARD_METRICS_NETWORKS:  # a typo would open nothing, silently: say it now
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"PLUGBOARD_METRICS_NETWORKS: {_exc}") from None
PLUGBOARD = {
    "MAX_BATCH": _env_int("PLUGBOARD_MAX_BATCH", 10_000),  # records in one publish / feed
    "MAX_VALUE_BYTES": _env_int("PLUGBOARD_MAX_VALUE_BYTES", 64 * 1024),  # one point's JSON value
    "AUTH_CACHE_SECONDS": _env_int("PLUGBOARD_AUTH_CACHE_SECONDS", 60),
    # Failed authentications a minute: of one credential from one address, and from one address.
    "AUTH_FAILURES_PER_MINUTE": _env_int("PLUGBOARD_AUTH_FAILURES_PER_MINUTE", 20),
    "ADDRESS_FAILURES_PER_MINUTE": _env_int("PLUGBOARD_ADDRESS_FAILURES_PER_MINUTE", 200),
    "JOURNAL_RETENTION_DAYS": _env_int("PLUGBOARD_JOURNAL_RETENTION_DAYS", 30),
    "COMMAND_TTL_SECONDS": _env_int("PLUGBOARD_COMMAND_TTL_SECONDS", 24 * 3600),
    # Every so many seconds each MQTT process hands its connected devices the pending commands
    # whose live push was lost (a Redis outage): one query per process, not per connection.
    "COMMAND_SWEEP_SECONDS": _env_int("PLUGBOARD_COMMAND_SWEEP_SECONDS", 10),
    "PURGE_BATCH": _env_int("PLUGBOARD_PURGE_BATCH", 5_000),
    # After each full purge batch, rest this share (%) of the batch's time: ingest keeps the CPU.
    "PURGE_PAUSE_PERCENT": _env_int("PLUGBOARD_PURGE_PAUSE_PERCENT", 150),
    # Marks (changed minutes) one rollup refresh transaction takes (data.rollups).
    "ROLLUP_BATCH": _env_int("PLUGBOARD_ROLLUP_BATCH", 2_000),
    # Days each rollup level is kept (0: for ever); raw points keep their own expiry.
    "ROLLUP_MINUTE_DAYS": _env_int("PLUGBOARD_ROLLUP_MINUTE_DAYS", 90),
    "ROLLUP_HOUR_DAYS": _env_int("PLUGBOARD_ROLLUP_HOUR_DAYS", 0),
    "ROLLUP_DAY_DAYS": _env_int("PLUGBOARD_ROLLUP_DAY_DAYS", 0),
    "MQTT_MAX_PACKET": _env_int("MQTT_MAX_PACKET", DEFAULT_MAX_PACKET),
    "MQTT_MAX_INFLIGHT": _env_int("MQTT_MAX_INFLIGHT", DEFAULT_MAX_INFLIGHT),
    "MQTT_PUBLISH_RATE": _env_int("MQTT_PUBLISH_RATE", 5_000),  # messages/s per connection
    # Points per second of one account over every process and transport (0: no limit);
    # single accounts' own limits are ACCOUNT_POINTS_PER_SECOND_OVERRIDES (plugboard.ratelimits).
    "ACCOUNT_POINTS_PER_SECOND": _env_int("PLUGBOARD_ACCOUNT_POINTS_PER_SECOND", 0),
    # Seconds in a row an MQTT connection may stay over its account's limit (slowed) before it
    # is closed.
    "MQTT_LIMIT_STRIKES": _env_int("MQTT_LIMIT_STRIKES", 3),
}
# "acc-…=500,acc-…=0": accounts whose points per second differ from the default above.
ACCOUNT_POINTS_PER_SECOND_OVERRIDES: dict[str, int] = {
    account: int(limit)
    for account, _, limit in (
        pair.strip().partition("=")
        for pair in os.environ.get("PLUGBOARD_ACCOUNT_POINTS_PER_SECOND_OVERRIDES", "").split(",")
        if pair.strip()
    )
}

# --- outbound delivery (SPEC §13): the outbox, data connectors ------------------------------------
# Networks outbound targets may resolve into although not global (loopback, private, link-local…):
# none by default, so an account cannot make the platform reach its own network.
PLUGBOARD_OUTBOUND_ALLOW_NETWORKS = [
    n.strip() for n in os.environ.get("PLUGBOARD_OUTBOUND_ALLOW_NETWORKS", "").split(",") if n.strip()
]
# Every outbound call (connect, send, each read) is bounded by this many seconds.
PLUGBOARD_OUTBOUND_TIMEOUT = float(os.environ.get("PLUGBOARD_OUTBOUND_TIMEOUT", 10))
# Delays between a failing batch's attempts, in turn; the last one repeats.
PLUGBOARD_OUTBOUND_RETRY_SECONDS = [
    float(s) for s in os.environ.get("PLUGBOARD_OUTBOUND_RETRY_SECONDS", "1,5,15,30,60,120,300").split(",")
]
# A message still failing this long after it was queued becomes a dead letter (replayable).
PLUGBOARD_OUTBOUND_RETENTION_SECONDS = float(
    os.environ.get("PLUGBOARD_OUTBOUND_RETENTION_SECONDS", 24 * 3600)
)
# How often batches waiting for a retry are looked for (beat, or the embedded runner).
PLUGBOARD_OUTBOUND_SWEEP_SECONDS = float(os.environ.get("PLUGBOARD_OUTBOUND_SWEEP_SECONDS", 5))

# --- email (alert notifications, SPEC §12): Django's SMTP backend, from one URL ---------------------
# `smtp://user:pass@host:port` (STARTTLS with `?tls=1`), `smtps://…` (TLS from the start).
_email = urlsplit(os.environ.get("EMAIL_URL", "smtp://localhost:25"))
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _email.hostname or "localhost"
EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 25)
EMAIL_HOST_USER = unquote(_email.username or "")
EMAIL_HOST_PASSWORD = unquote(_email.password or "")
EMAIL_USE_SSL = _email.scheme == "smtps"
EMAIL_USE_TLS = "tls=1" in _email.query
EMAIL_TIMEOUT = PLUGBOARD_OUTBOUND_TIMEOUT
DEFAULT_FROM_EMAIL = os.environ.get("PLUGBOARD_EMAIL_FROM", "plugboard@localhost")

MQTT_TCP_PORT = _env_int("MQTT_TCP_PORT", 1883)
MQTT_TLS_PORT = _env_int("MQTT_TLS_PORT", 8883)
MQTT_TLS_CERT = os.environ.get("MQTT_TLS_CERT", "")
MQTT_TLS_KEY = os.environ.get("MQTT_TLS_KEY", "")

# Hashers named here come first (the test suite names a fast one so it is not dominated by
# PBKDF2); Django's defaults always stay, so stored hashes of any of them verify.
PASSWORD_HASHERS = [
    *[h for h in os.environ.get("PLUGBOARD_PASSWORD_HASHERS", "").split(",") if h],
    *global_settings.PASSWORD_HASHERS,
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- structured logs ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "plugboard.logs.JSONFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # Outbound clients: a line per webhook request or AMQP connection step is noise; the
        # outbox logs each failed delivery itself (logger outbound.outbox).
        "httpx": {"level": "WARNING"},
        "pika": {"level": "WARNING"},
    },
}
