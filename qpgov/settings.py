"""qpgov settings, read from the environment.

Zero setup by default (SQLite and a file-system broker under var/), PostgreSQL
and Redis by setting DATABASE_URL and CELERY_BROKER_URL.
"""

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("QPGOV_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


# "dev" is the only mode with a built-in secret key and DEBUG on. Anything
# else is treated as production and must be configured explicitly.
QPGOV_ENV = os.getenv("QPGOV_ENV", "production")
DEV = QPGOV_ENV == "dev"

SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEV:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment, or set QPGOV_ENV=dev "
            "for a local development instance."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-qpgov-0123456789"

DEBUG = envbool("DEBUG", "true" if DEV else "false")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEV else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
# Where people reach qpgov: links in e-mails and feeds. Outside dev it must be
# an https URL (qpgov/checks.py refuses to start otherwise).
SITE_ROOT = os.getenv("SITE_ROOT", "http://127.0.0.1:8000" if DEV else "")
# RFC 4151 tagging entity for feed ids: a domain you held on a date. Set it
# once and never change it, or every feed reader sees every entry as new.
QPGOV_TAG_AUTHORITY = os.getenv(
    "QPGOV_TAG_AUTHORITY", f"{urlsplit(SITE_ROOT).hostname or 'qpgov.invalid'},2026"
)
# The author of both Atom feeds (RFC 4287 4.1.1): the organisation, not a person.
QPGOV_FEED_AUTHOR = os.getenv("QPGOV_FEED_AUTHOR", "Quantumpay mainnet governance")
# When the public status page began (ISO 8601, with a time zone; default: the day public
# notices shipped). The Statuspage-compatible JSON sends it as the Mainnet component's
# created_at, and as the page's updated_at until the first notice is published: Statuspage
# always sends both as date-times, never null. Set it once and leave it.
QPGOV_STATUS_PAGE_CREATED_AT = datetime.fromisoformat(
    os.getenv("QPGOV_STATUS_PAGE_CREATED_AT", "2026-11-30T00:00:00+00:00"))
if QPGOV_STATUS_PAGE_CREATED_AT.utcoffset() is None:
    raise ImproperlyConfigured("QPGOV_STATUS_PAGE_CREATED_AT needs a time zone, e.g. 2026-11-30T00:00:00Z.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_fsm",
    "axes",
    "qpgov",
    "changes",
    "fleet",
    "incidents",
]

MIDDLEWARE = [
    "qpgov.metrics.RequestMetricsMiddleware",  # first, so it times the whole answer
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "qpgov.http.ConflictMiddleware",
    "qpgov.http.SecurityHeadersMiddleware",
    "qpgov.rolelog.ActorMiddleware",
    # Last, so it turns a refused sign-in into the lock-out page after the view ran.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = os.getenv("QPGOV_URLCONF", "qpgov.urls")  # bench/ adds a floor view
WSGI_APPLICATION = "qpgov.wsgi.application"

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
                "qpgov.roles.context_processor",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{VAR_DIR / 'qpgov.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", "0"),
        # With persistent connections, check one before reuse, so a restarted
        # PostgreSQL costs a reconnect instead of a failed request or task.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue up instead of
    # one failing half-way with "database is locked"; WAL lets the web server
    # read while the worker writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The test database must be a file, not memory: the Celery worker that the
    # tests start is a separate process and has to see the same rows.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_qpgov.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes; see qpgov/signin.py and docs/security.md).
# This many failures for one username, or QPGOV_SIGNIN_MAX_FAILURES_PER_ADDRESS
# from one client address, lock further tries until the window has passed
# since the last failure. A password reset through the account's own e-mail
# lifts the username lock at once.
QPGOV_SIGNIN_MAX_FAILURES = envint("QPGOV_SIGNIN_MAX_FAILURES", "5")
QPGOV_SIGNIN_MAX_FAILURES_PER_ADDRESS = envint("QPGOV_SIGNIN_MAX_FAILURES_PER_ADDRESS", "20")
QPGOV_SIGNIN_WINDOW_MINUTES = envint("QPGOV_SIGNIN_WINDOW_MINUTES", "15")
# How many reverse proxies in front of gunicorn append the peer address to
# X-Forwarded-For (nginx's $proxy_add_x_forwarded_for). 0: REMOTE_ADDR is the
# client. Too high lets a client choose its own address; too low makes the
# proxy everyone's address. See docs/operations.md.
QPGOV_TRUSTED_PROXIES = envint("QPGOV_TRUSTED_PROXIES", "0" if DEV else "1")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out tries before any hashing
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "qpgov.signin.SignInAttempts"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = "qpgov.signin.failure_limit"
AXES_COOLOFF_TIME = "qpgov.signin.cool_off"
AXES_USERNAME_CALLABLE = "qpgov.signin.username_key"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A success must not wipe the failures of a client address: an insider could
# sign in to their own account to clear the count of their guesses at others.
AXES_RESET_ON_SUCCESS = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_DISABLE_ACCESS_LOG = True  # who signed in is not ours to keep forever
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged, by their keys
# django-ipware: with N trusted proxies, the client is the N-th address from
# the right of X-Forwarded-For (ipware counts the proxies listed in the header,
# which is one fewer: the last proxy is REMOTE_ADDR). Not strict, so a client
# that sends its own X-Forwarded-For only adds entries on the left, ignored.
IPWARE_STRICT = False
AXES_IPWARE_PROXY_ORDER = "left-most"
if QPGOV_TRUSTED_PROXIES > 0:
    AXES_IPWARE_PROXY_COUNT = QPGOV_TRUSTED_PROXIES - 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
else:
    AXES_IPWARE_PROXY_COUNT = None
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Sessions grant governance powers: a sign-in lasts SESSION_COOKIE_AGE seconds
# (default 12 hours, one shift) and no longer, however busy the session is
# (qpgov.signin.end_session_on_time pins the expiry at sign-in).
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(12 * 3600))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
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

# Email: console in dev, SMTP otherwise.
EMAIL_BACKEND = os.getenv(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEV
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.getenv("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "25")
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
# A mail server that stops answering fails the try (it is recorded and retried)
# instead of holding the sweep that sends it.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "10")
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "qpgov@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security headers. In production mode these satisfy `check --deploy`.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEV:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# /healthz is probed over plain HTTP by load balancers on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Cache: only for rendered public pages, keyed by the data's last change, so a
# stale entry is never served. Redis in production (shared by all web hosts).
CACHE_URL = os.getenv("CACHE_URL", "")
CACHES = {
    "default": (
        # Short socket timeouts: the cache fails open (qpgov/cache.py), which helps
        # only if a Redis that stopped answering is given up on quickly.
        {"BACKEND": "qpgov.cache.RedisCache", "LOCATION": CACHE_URL, "TIMEOUT": 3600,
         "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "TIMEOUT": 3600}
    )
}

# Each web process keeps a public page it has read for this long before asking
# the cache again: the most a page can lag a change made through another
# process (qpgov/pagecache.py). 0 turns the copy off.
PAGE_CACHE_LOCAL_SECONDS = float(os.getenv("PAGE_CACHE_LOCAL_SECONDS", "1"))

# Celery. The database is the source of truth; messages only wake work up, so
# a lost message delays work (the sweeps re-dispatch) but never loses it.
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_queue_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        # How often the worker looks for new messages (kombu's default is 1 s):
        # each step hands over to the next through the broker, so this bounds a
        # response's pace. Listing a folder ten times a second costs next to nothing.
        "polling_interval": float(os.getenv("QPGOV_BROKER_POLLING_INTERVAL", "0.1")),
    }
else:
    # Fail fast when the broker is down: the row is already saved and the
    # sweep will send the message again later.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection around every task unless
# this is set. qpgov.celery closes connections between tasks the way Django does
# between requests (DB_CONN_MAX_AGE, health checks); this only bounds the reuse.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
# Incident steps have their own queue and their own worker (`-Q incident-steps`:
# the `steps` line of Procfile.dev, qpgov-steps.service), so that thousands of
# e-mails, webhooks or a long check run in the default queue never hold the
# process a freeze needs. The default worker consumes `-Q celery` only: on the
# file-system broker two workers must never poll the same queue. docs/operations.md.
INCIDENT_STEPS_QUEUE = "incident-steps"
CELERY_TASK_ROUTES = {
    "incidents.run_step": {"queue": INCIDENT_STEPS_QUEUE},
    "incidents.unfreeze_node": {"queue": INCIDENT_STEPS_QUEUE},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Each app adds its periodic sweeps here. Production runs two beats on two hosts (no
# single point of failure), so every sweep must be safe to run twice at once: it claims
# its work with a row lock, a conditional update or a unique constraint
# (tests/test_beat_redundancy.py; docs/operations.md "Beat: run two").
CELERY_BEAT_SCHEDULE = {
    "decide-due-proposals": {
        "task": "changes.tasks.decide_due_proposals",
        "schedule": timedelta(seconds=60),
    },
    "incidents-sweep-steps": {
        "task": "incidents.sweep_steps",
        "schedule": timedelta(seconds=60),
    },
    "fleet-sweep-alert-deliveries": {
        "task": "fleet.sweep_alert_deliveries",
        "schedule": timedelta(seconds=60),
    },
    "fleet-check-watchdog": {
        "task": "fleet.check_watchdog",
        "schedule": timedelta(seconds=60),
    },
    "reconcile-roles": {
        "task": "qpgov.tasks.reconcile_roles",
        "schedule": timedelta(minutes=5),
    },
}

# Signed checkpoints of the event log (docs/security.md). The Ed25519 key lives
# outside the database: `manage.py checkpoint_key --generate` writes one (make run
# does, for dev). The origin names the log in every checkpoint and names the key.
QPGOV_CHECKPOINT_KEY_FILE = os.getenv(
    "QPGOV_CHECKPOINT_KEY_FILE", str(VAR_DIR / "checkpoint-key.pem") if DEV else "")
QPGOV_CHECKPOINT_ORIGIN = os.getenv(
    "QPGOV_CHECKPOINT_ORIGIN", urlsplit(SITE_ROOT).netloc + "/qpgov/event-log")
QPGOV_CHECKPOINT_INTERVAL_SECONDS = envint("QPGOV_CHECKPOINT_INTERVAL_SECONDS", "300")
CELERY_BEAT_SCHEDULE["sign-event-log-checkpoint"] = {
    "task": "qpgov.tasks.sign_checkpoint",
    "schedule": timedelta(seconds=QPGOV_CHECKPOINT_INTERVAL_SECONDS),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals_one_line": {"()": "qpgov.logfilters.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler (DEBUG only) would print each record a
        # second time: the root handler alone prints it.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["refusals_one_line"]},
    },
}

# Change control.
QPGOV_APPROVAL_LAPSE_DAYS = envint("QPGOV_APPROVAL_LAPSE_DAYS", "14")
QPGOV_MAX_MARKDOWN_CHARS = envint("QPGOV_MAX_MARKDOWN_CHARS", "50000")
# An open incident at this severity or worse on a mainnet node freezes changes
# (changes.freezes): SEV1 only by default; SEV2 would include SEV1 and SEV2.
QPGOV_FREEZE_SEVERITY = os.getenv("QPGOV_FREEZE_SEVERITY", "SEV1")
if QPGOV_FREEZE_SEVERITY not in ("SEV1", "SEV2", "SEV3"):
    raise ImproperlyConfigured("QPGOV_FREEZE_SEVERITY must be SEV1, SEV2 or SEV3.")
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(512 * 1024))

# Incident response. Dev (make run, tests) drives the local demo node; anything
# else defaults to systemd commands. See docs/incidents.md.
QPGOV_NODE_DRIVER = os.getenv("QPGOV_NODE_DRIVER", "fleet.drivers.CommandDriver")
if QPGOV_NODE_DRIVER.startswith("incidents.drivers."):
    # Fail at start, not at the first step of the next incident.
    raise ImproperlyConfigured("QPGOV_NODE_DRIVER: the node driver moved; use fleet.drivers."
                               + QPGOV_NODE_DRIVER.rsplit(".", 1)[-1])
QPGOV_NODE_COMMAND_SET = os.getenv("QPGOV_NODE_COMMAND_SET", "demo" if DEV else "systemd")
# Per-command overrides of the command set, as JSON, e.g. {"snapshot": "tar -C {data_dir} -cf - ."}.
QPGOV_NODE_COMMANDS: dict[str, str] = json.loads(os.getenv("QPGOV_NODE_COMMANDS", "{}"))
# Streaming logs and a snapshot may take minutes; stopping, checking and starting
# a service takes seconds, so a node that does not answer those within the
# (short) freeze timeout is recorded as hung and the step goes on without it.
QPGOV_NODE_COMMAND_TIMEOUT = envint("QPGOV_NODE_COMMAND_TIMEOUT", "300")
QPGOV_NODE_FREEZE_TIMEOUT = envint("QPGOV_NODE_FREEZE_TIMEOUT", "30")
# How many nodes one step acts on at the same time (threads in the worker, each
# waiting on one command). High enough for a fleet of 50 in one wave.
QPGOV_NODE_PARALLELISM = envint("QPGOV_NODE_PARALLELISM", "64")
QPGOV_DEMO_NODE_DIR = Path(os.getenv("QPGOV_DEMO_NODE_DIR", VAR_DIR / "demo-nodes"))
# A node's data directory must lie inside one of these (separated by ":"); the
# snapshot step archives it, so this is what keeps it off the worker's keys.
# Dev adds the demo nodes' folder. See docs/security.md.
QPGOV_NODE_DATA_ROOTS = [
    Path(root) for root in os.getenv(
        "QPGOV_NODE_DATA_ROOTS",
        f"/var/lib/quantumpay:{QPGOV_DEMO_NODE_DIR}" if DEV else "/var/lib/quantumpay",
    ).split(":") if root
]
# What the signed-in home page lists (qpgov/inbox.py): one function per app.
# Readiness adds its own here once it exists.
QPGOV_INBOX_SECTIONS = [
    "fleet.inbox.sections",
    "changes.inbox.sections",
    "incidents.inbox.sections",
]
# How long a due step may wait for a worker before the incident page says so:
# a healthy worker picks a step up within a second or two, so "waiting for a
# worker" sooner than this would only alarm people.
QPGOV_WORKER_GRACE_SECONDS = envint("QPGOV_WORKER_GRACE_SECONDS", "30")
QPGOV_SSH_COMMAND = os.getenv(
    "QPGOV_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=15 {target} --"
)
QPGOV_EVIDENCE_DIR = Path(os.getenv("QPGOV_EVIDENCE_DIR", VAR_DIR / "evidence"))
QPGOV_EVIDENCE_SPOOL_DIR = os.getenv("QPGOV_EVIDENCE_SPOOL_DIR") or None  # None: system temp
STORAGES["evidence"] = {
    "BACKEND": os.getenv("QPGOV_EVIDENCE_STORAGE", "django.core.files.storage.FileSystemStorage"),
    "OPTIONS": {"location": str(QPGOV_EVIDENCE_DIR)},
}
QPGOV_INCIDENT_WEBHOOK_URL = os.getenv("QPGOV_INCIDENT_WEBHOOK_URL", "")
QPGOV_INCIDENT_WEBHOOK_SECRET = os.getenv("QPGOV_INCIDENT_WEBHOOK_SECRET", "")

# qpgov's own metrics at /metrics (qpgov/metrics.py; docs/operations.md,
# "Monitoring qpgov itself"). Readable from an allowed client address or with
# the bearer token; with neither set the endpoint answers 404. Dev allows
# loopback only.
QPGOV_METRICS_TOKEN = os.getenv("QPGOV_METRICS_TOKEN", "")
QPGOV_METRICS_ALLOWED_ADDRESSES = envlist(
    "QPGOV_METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1" if DEV else ""
)

# Alerts from Prometheus Alertmanager (docs/fleet.md, "Alerts"). The body limit
# leaves room for 10,000 alerts: a real one from Alertmanager measured 3.3 MB (see
# docs/fleet.md); Django's own DATA_UPLOAD_MAX_MEMORY_SIZE does not apply there.
QPGOV_ALERT_MAX_BODY_BYTES = envint("QPGOV_ALERT_MAX_BODY_BYTES", str(16 * 1024 * 1024))
# Raw bodies of processed deliveries are emptied after this many days (their SHA-256,
# size and every alert row stay); failed or unprocessed ones are kept. 0 keeps all.
QPGOV_ALERT_BODY_RETENTION_DAYS = envint("QPGOV_ALERT_BODY_RETENTION_DAYS", "30")
# The label whose value names the node (less any ":port"): a node's name or its SSH host.
QPGOV_ALERT_NODE_LABEL = os.getenv("QPGOV_ALERT_NODE_LABEL", "instance")
# The always-firing alert that proves monitoring is alive, and how long it may be unheard.
QPGOV_ALERT_WATCHDOG_NAME = os.getenv("QPGOV_ALERT_WATCHDOG_NAME", "Watchdog")
QPGOV_ALERT_WATCHDOG_SILENT_MINUTES = envint("QPGOV_ALERT_WATCHDOG_SILENT_MINUTES", "10")
# Who declares the incidents an alert rule declares at once: a service account
# that is an Incident Responder; the commander defaults to it.
QPGOV_ALERT_DECLARER = os.getenv("QPGOV_ALERT_DECLARER", "alertmanager")
QPGOV_ALERT_COMMANDER = os.getenv("QPGOV_ALERT_COMMANDER", "")
# Fleet watch: the daily node checks (playbook section 2; docs/fleet.md). The
# check commands are templates in the same command set as the incident steps.
QPGOV_NODE_CHECK_EVERY_HOURS = envint("QPGOV_NODE_CHECK_EVERY_HOURS", "24")
QPGOV_NODE_CHECK_TIMEOUT = envint("QPGOV_NODE_CHECK_TIMEOUT", "30")
# The two block-height readings of a run are this far apart.
QPGOV_NODE_CHECK_HEIGHT_INTERVAL = envint("QPGOV_NODE_CHECK_HEIGHT_INTERVAL", "60")
QPGOV_NODE_CHECK_DISK_MAX_PERCENT = envint("QPGOV_NODE_CHECK_DISK_MAX_PERCENT", "70")
# Memory fails when it grew by more than this across the last readings.
QPGOV_NODE_CHECK_MEMORY_GROWTH_PERCENT = envint("QPGOV_NODE_CHECK_MEMORY_GROWTH_PERCENT", "20")
QPGOV_NODE_CHECK_MEMORY_READINGS = envint("QPGOV_NODE_CHECK_MEMORY_READINGS", "7")
# The service fails when systemd restarted it more often than this since the last check.
QPGOV_NODE_CHECK_RESTARTS_ALLOWED = envint("QPGOV_NODE_CHECK_RESTARTS_ALLOWED", "0")
# Uptime: an observation's state holds until the next one, for at most this long.
QPGOV_UPTIME_MAX_GAP_HOURS = envint("QPGOV_UPTIME_MAX_GAP_HOURS", "26")
QPGOV_UPTIME_TARGET_PERCENT = float(os.getenv("QPGOV_UPTIME_TARGET_PERCENT", "99.5"))
# Alert rules whose firing means the node is down for uptime (deploy/prometheus rules).
QPGOV_UPTIME_DOWN_ALERTS = envlist("QPGOV_UPTIME_DOWN_ALERTS",
                                   "BlockProductionStalled,ServiceRestartLoop")
CELERY_BEAT_SCHEDULE["fleet-prune-alert-bodies"] = {
    "task": "fleet.prune_alert_bodies",
    "schedule": timedelta(hours=1),
}
CELERY_BEAT_SCHEDULE["fleet-sweep-checks"] = {
    "task": "fleet.sweep_checks",
    "schedule": timedelta(seconds=60),
}
