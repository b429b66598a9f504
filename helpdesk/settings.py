"""Settings read from the environment.

Embedded default (no variables set): SQLite file, in-memory channel layer,
local-memory cache: one process, no other server. Scale-out: set DATABASE_URL
(PostgreSQL) and REDIS_URL and run several ASGI processes.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from helpdesk import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


DEBUG = env_bool("DEBUG", False)
# The embedded default runs without configuration and is still safe: without SECRET_KEY a random
# key is generated once and kept outside the repository (helpdesk/secret_key.py, docs/security.md).
SECRET_KEY = secret_key.load(os.environ, DEBUG)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "accounts.apps.HelpdeskAdminConfig",  # django.contrib.admin with the role-aware site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "channels",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "haystack",
    "accounts",
    "routing",
    "chat",
    "knowledge",
    "orders",
    "replies",
    "connectors",
    "lifecycle",
    "reports",
    "surfaces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A default Content-Security-Policy on every response whose view set none (helpdesk/middleware.py).
    "helpdesk.middleware.ContentSecurityPolicyMiddleware",
    # A NUL character anywhere in the request is a 400 before any view or session lookup sees it.
    "helpdesk.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.otp_device / is_verified() from the session (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # A logged-in user who must pass the TOTP step sees only the 2FA pages until they do.
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"

# Widgets render with the project's templates too (templates/admin/widgets/: the business-hours timetable).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
# A pooled connection checked out again within this many seconds skips the health-check round trip.
DB_POOL_RECHECK_SECONDS = float(os.environ.get("DB_POOL_RECHECK_SECONDS", "2"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Names this installation's backends in pg_stat_activity (and the pool test counts them by it).
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ.get("DB_APPLICATION_NAME", "helpdesk")
    # Server-bound cursors (chat.fast_send's) prepare a statement after this many runs on a connection;
    # Django's own cursors bind client-side and never prepare. 0: never (a pooler without prepared statements).
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = env_int("DB_PREPARE_THRESHOLD", 5) or None
    if DB_POOL_MAX_SIZE > 0:
        # Under ASGI every request runs on a thread of its own, so persistent connections
        # (CONN_MAX_AGE > 0) meant one server connection per request thread until GC: 10,000
        # calls exhausted max_connections. A pool caps them per process; a request past the cap
        # waits up to DB_POOL_TIMEOUT s. Django refuses persistent connections with a pool.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["ENGINE"] = "helpdesk.postgresql"  # the pool's checkout check skips just-used connections
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(env_int("DB_POOL_MIN_SIZE", 2), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
        }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of dead-locking on upgrade.
    # That serialisation is what makes per-conversation seq assignment safe here.
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DATABASES["default"]["NAME"] == ":memory:" else 600
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not shared-cache memory: threads in concurrency tests must see real locking.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_NAME", f"/tmp/helpdesk-test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels, cache ------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer sustains about twice the fan-out of the list-based
            # layer on this hardware (engineering notes); both are at-most-once,
            # which the design tolerates (database + seq + resume).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # socket_timeout=None: redis-py 8 otherwise closes idle consumers after ~5 s. A connect
                # timeout: a Redis that stops answering must not hang a reconnect (and its shard's publishes).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}],
                "prefix": os.environ.get("CHANNEL_PREFIX", "helpdesk"),
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "helpdesk.channel_layer.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses any authenticate() for a locked-out username + IP (needs `request`;
    # tests use force_login, or Client().login(request=HttpRequest(), ...)).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Argon2 for new passwords; the others still verify older hashes (upgraded at next login).
PRODUCT_PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# The test suite only: conftest.py sets PASSWORD_HASHERS_FAST_FOR_TESTS (in its own settings and in
# the environment of the server processes it starts) so test users hash with MD5 in microseconds
# instead of Argon2's second. Never set it in a deployment.
FAST_TEST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PRODUCT_PASSWORD_HASHERS]
PASSWORD_HASHERS = FAST_TEST_PASSWORD_HASHERS if env_bool("PASSWORD_HASHERS_FAST_FOR_TESTS") else PRODUCT_PASSWORD_HASHERS
# Brute-force lockout (django-axes): N failures for one username from one IP lock that
# combination for the cool-off time; a successful login clears the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"  # renders registration/lockout.html
# TOTP two-factor (django-otp): required for founders, senior admins and admins (any
# workspace) and superusers; optional for agents. See accounts.security.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Helpdesk")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounts:home"  # the agent page, the verify page or the admin, by role
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- HTTPS (docs/security.md, production checklist) -------------------------------------------
# Off by default so `make run` works on http://127.0.0.1; a deployment behind TLS turns them on.
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)  # session, CSRF and language cookies only over HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)  # Strict-Transport-Security on HTTPS responses
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)  # http:// requests are redirected to https://
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients): trust it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("USE_X_FORWARDED_PROTO", False) else None
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

# --- Demo (surfaces/demo.py, seed_demo) ---------------------------------------------------------
# The demo pages (/demo/, /demo/agent/, /widget/demo/: they pick the first inbox of the installation
# for anyone). `make run` turns them on together with the demo data; a deployment leaves them off.
DEMO_PAGES = env_bool("DEMO_PAGES", DEBUG)

# --- E-mail (invitations) ---------------------------------------------------
# Console by default (the embedded default sends nothing); set SMTP in production.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "helpdesk@localhost")

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("zh-hant", _("Traditional Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# uvicorn serves static files itself on the embedded default (no nginx needed).
SERVE_STATIC = env_bool("SERVE_STATIC", True)
# Chat uploads (chat/uploads.py) are stored here and served by surfaces.api.uploads.serve_media.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "var" / "media")
MEDIA_URL = "/media/"
# Several app hosts share uploads through an S3-compatible bucket (AWS, MinIO, Ceph…). Files stay
# private (no public ACL, no signed links): serve_media streams them with our own safety headers,
# and every attachment url keeps the /media/uploads/... form whichever storage holds it.


def uploads_storage(environ):
    """STORAGES["default"] from the environment: an S3 bucket when UPLOADS_S3_BUCKET is set, else
    the local folder MEDIA_ROOT (the embedded default). A function so the tests build the same."""
    bucket = environ.get("UPLOADS_S3_BUCKET", "")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": environ.get("UPLOADS_S3_PREFIX", "").strip("/"),
            "endpoint_url": environ.get("UPLOADS_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("UPLOADS_S3_REGION") or None,
            # None: boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance role…).
            "access_key": environ.get("UPLOADS_S3_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("UPLOADS_S3_SECRET_ACCESS_KEY") or None,
            # Path-style works on every S3-compatible server; AWS accepts it too.
            "addressing_style": environ.get("UPLOADS_S3_ADDRESSING_STYLE") or "path",
            "default_acl": "private",
            "querystring_auth": False,  # its urls are never handed out (serve_media streams)
            "file_overwrite": True,  # names are random uuids: skip the HEAD that looks for a free name
            "max_memory_size": 2 * 1024 * 1024,  # a larger download spills to a temporary file
        },
    }


STORAGES = {
    "default": uploads_storage(os.environ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "surfaces.api.auth.CustomerTokenAuthentication",
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON nested too deep for the parser is a 400 malformed_json, not a 500 (surfaces/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["surfaces.api.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "EXCEPTION_HANDLER": "surfaces.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "HTTP fallback for the chat protocol and the agent API. The WebSocket protocol is in docs/protocol.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Chat engine limits (configurable) ------------------------------------
CHAT = {
    "MAX_BODY_CHARS": env_int("CHAT_MAX_BODY_CHARS", 5000),
    "MAX_FRAME_BYTES": env_int("CHAT_MAX_FRAME_BYTES", 65536),
    "MAX_CLIENT_MSG_ID_CHARS": 64,
    "RESUME_PAGE_SIZE": env_int("CHAT_RESUME_PAGE_SIZE", 200),
    "HEARTBEAT_INTERVAL_SECONDS": 25,
    "CUSTOMER_TOKEN_MAX_AGE_SECONDS": env_int("CHAT_CUSTOMER_TOKEN_MAX_AGE", 60 * 60 * 24 * 365),
    # Signs visitor tokens; empty: derived from SECRET_KEY. Changing it signs every visitor out.
    "VISITOR_TOKEN_KEY": os.environ.get("CHAT_VISITOR_TOKEN_KEY", ""),
    "RECALL_WINDOW_SECONDS": env_int("CHAT_RECALL_WINDOW_SECONDS", 120),
    # Uploaded attachments (POST /api/v1/uploads): any file, and images on their own.
    "MAX_UPLOAD_BYTES": env_int("CHAT_MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
    "MAX_IMAGE_BYTES": env_int("CHAT_MAX_IMAGE_BYTES", 5 * 1024 * 1024),
    # Hosts (and their subdomains) whose https files agents may send as images/files besides uploads,
    # e.g. the merchant's CDN: "cdn.example.com,img.example.com". Empty: uploads only.
    "ATTACHMENT_HOSTS": [h.strip().lower() for h in os.environ.get("CHAT_ATTACHMENT_HOSTS", "").split(",") if h.strip()],
    # One database thread per process on SQLite (a single writer anyway); a pool of them otherwise.
    "DB_THREAD_SENSITIVE": DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
    # Group commit (chat.group_commit): sends that arrive while this many groups are being stored wait
    # for the next group, which stores up to SEND_GROUP_MAX of them in one transaction. 0 (default):
    # every send alone. Measured on both databases (docs/benchmarks.md, issue 15): it did not pay here
    # (PostgreSQL: a lower sustained rate; SQLite: no less CPU per message and a longer ack tail).
    "SEND_GROUPS_IN_FLIGHT": env_int("CHAT_SEND_GROUPS_IN_FLIGHT", 0),
    "SEND_GROUP_MAX": env_int("CHAT_SEND_GROUP_MAX", 32),
    # PostgreSQL: a customer's plain text is stored from the event loop on up to this many connections
    # per process (helpdesk.async_db), beside Django's pool. 0: every send through a database thread.
    "LOOP_DB_POOL_SIZE": env_int("CHAT_LOOP_DB_POOL_SIZE", 4),
    # On the loop, customers' texts that arrive while this many batches are being stored wait for the
    # next batch: one statement for up to LOOP_SEND_BATCH_MAX of them (chat.fast_send). 0: each alone.
    "LOOP_SEND_BATCHES_IN_FLIGHT": env_int("CHAT_LOOP_SEND_BATCHES_IN_FLIGHT", 1),
    "LOOP_SEND_BATCH_MAX": env_int("CHAT_LOOP_SEND_BATCH_MAX", 16),
    # The rating request line goes out this long after a conversation is resolved (chat.timers).
    "CSAT_PROMPT_DELAY_SECONDS": env_int("CHAT_CSAT_PROMPT_DELAY_SECONDS", 60),
}

# --- Rate limits, storage quota (helpdesk/ratelimit.py, docs/security.md) ------------------
def env_rate(name, default):
    """(count, seconds) from "count/seconds" (e.g. RATE_LIMIT_SEND_VISITOR=20/10); "0" or "off": no limit."""
    value = os.environ.get(name, default).strip().lower()
    if value in ("", "0", "off", "none") or not env_bool("RATE_LIMITS_ENABLED", True):
        return None
    count, _sep, seconds = value.partition("/")
    return int(count), int(seconds or 60)


# Fixed windows, shared by all processes through Redis when REDIS_URL is set. Far above what a
# person does: they stop floods from one visitor, one address or against one inbox.
# Per-address limits are loose on purpose: mobile carriers' NAT (common in China) and offices put
# many real customers behind one address; the per-visitor limit is the tight one. Per inbox: a
# ceiling a flash sale stays under (100 messages/s) that still stops one public key's flood.
RATE_LIMITS = {
    "send_visitor": env_rate("RATE_LIMIT_SEND_VISITOR", "20/10"),  # customer messages, per visitor
    "send_ip": env_rate("RATE_LIMIT_SEND_IP", "600/60"),  # customer messages, per client address
    "send_inbox": env_rate("RATE_LIMIT_SEND_INBOX", "6000/60"),  # customer messages, per inbox
    "new_customer_ip": env_rate("RATE_LIMIT_NEW_CUSTOMER_IP", "60/60"),  # new anonymous visitors, per address
    "upload_visitor": env_rate("RATE_LIMIT_UPLOAD_VISITOR", "20/600"),  # customer uploads, per visitor
    "upload_ip": env_rate("RATE_LIMIT_UPLOAD_IP", "200/600"),  # customer uploads, per address
    "search_ip": env_rate("RATE_LIMIT_SEARCH_IP", "300/60"),  # help-center and widget searches, per address
}
# How many reverse proxies in front of the app append to X-Forwarded-For; 0: the header is ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
UPLOADS = {
    # Bytes of uploads one workspace may keep (0: no quota).
    "WORKSPACE_QUOTA_BYTES": env_int("UPLOAD_QUOTA_MB", 1024) * 1024 * 1024,
    # An upload no message (or quick phrase) refers to this long after it was stored is deleted.
    "UNATTACHED_HOURS": env_int("UPLOAD_UNATTACHED_HOURS", 24),
}

# --- Scheduler (chat/scheduler.py, docs/scheduler.md) ---------------------------------------
SCHEDULER = {
    # Run the deadline loop (and the routing sweep) on a thread of the app process. On by default
    # on SQLite (one process); at scale run `manage.py run_scheduler` instead (or as well: exactly once either way).
    "EMBEDDED": env_bool("SCHEDULER_EMBEDDED", DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"),
    "INTERVAL_SECONDS": float(os.environ.get("SCHEDULER_INTERVAL_SECONDS", "1.0")),
    "SWEEP_INTERVAL_SECONDS": float(os.environ.get("SCHEDULER_SWEEP_INTERVAL_SECONDS", "5.0")),
    # How often the loop looks for left messages to tell off-duty members of (lifecycle/offline_notify.py).
    "OFFLINE_NOTIFY_SECONDS": float(os.environ.get("SCHEDULER_OFFLINE_NOTIFY_SECONDS", "60")),
    # 预警: every group's thresholds are evaluated this often (reports.alerts); 0: never.
    "ALERT_INTERVAL_SECONDS": float(os.environ.get("SCHEDULER_ALERT_INTERVAL_SECONDS", "15.0")),
    # The live board's viewers are told of changes at most this often per workspace (reports.board); 0: never.
    "BOARD_INTERVAL_SECONDS": float(os.environ.get("SCHEDULER_BOARD_INTERVAL_SECONDS", "3.0")),
    "BATCH": 500,
}

# --- Web Push to agents (chat/push.py) --------------------------------------
WEB_PUSH = {
    # VAPID key (base64url raw 32-byte P-256 private key, or PEM). Empty: one derived from
    # SECRET_KEY, stable across restarts and processes, so the embedded default needs no setup.
    "VAPID_PRIVATE_KEY": os.environ.get("WEB_PUSH_VAPID_PRIVATE_KEY", ""),
    # The contact push services may use (the JWT's "sub"): mailto: or https: URL.
    "SUBJECT": os.environ.get("WEB_PUSH_SUBJECT", "mailto:admin@localhost"),
    # How long a push service keeps a notification for a device that is offline.
    "TTL_SECONDS": env_int("WEB_PUSH_TTL_SECONDS", 3600),
    "TIMEOUT_SECONDS": env_int("WEB_PUSH_TIMEOUT_SECONDS", 10),
    "ENABLED": env_bool("WEB_PUSH_ENABLED", True),
    # Hosts a push endpoint may be on (https, port 443): an exact name or "*.suffix". The
    # browsers' push services: Chrome, Opera, Samsung (FCM), Firefox, Safari, Edge (WNS).
    # An endpoint comes from the agent's browser: anything else would let agents make the
    # server post into its own network (SSRF). Comma-separated in the variable; replaces the list.
    "ALLOWED_HOSTS": [h.strip().lower() for h in os.environ.get(
        "WEB_PUSH_ALLOWED_HOSTS", "fcm.googleapis.com,updates.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com",
    ).split(",") if h.strip()],
    # Also accept any host whose every resolved address is public (checked again at delivery
    # and on the connected socket), for a push service not in the list above.
    "ALLOW_PUBLIC_ENDPOINTS": env_bool("WEB_PUSH_ALLOW_PUBLIC_ENDPOINTS", False),
    # Beyond this, a user's devices least recently known to work are dropped.
    "MAX_DEVICES_PER_USER": env_int("WEB_PUSH_MAX_DEVICES_PER_USER", 10),
    # Tests only: accept http:// endpoints on 127.0.0.1/localhost (a local push service).
    # Never in production: it lets agents make the server post to its own loopback services.
    "ALLOW_INSECURE_ENDPOINTS": env_bool("WEB_PUSH_ALLOW_INSECURE_ENDPOINTS", False),
}

# --- The deflection bot (knowledge/bot.py) --------------------------------------
# Work after a commit (answering a customer message, Web Push) is a job row run exactly once
# (lifecycle.followups): at once on a worker thread of the committing process (EAGER), else by
# the scheduler loop after GRACE_SECONDS. SYNC: run in the committing thread (tests).
FOLLOWUPS = {
    "EAGER": env_bool("FOLLOWUPS_EAGER", True),
    "SYNC": env_bool("FOLLOWUPS_SYNC", False),
    "GRACE_SECONDS": float(os.environ.get("FOLLOWUPS_GRACE_SECONDS", "10")),
    "LEASE_SECONDS": float(os.environ.get("FOLLOWUPS_LEASE_SECONDS", "60")),
    "MAX_ATTEMPTS": 5,
}

AUTO_REPLIES = {
    # Word lists and whether a workspace has rules are cached per process this long (replies.config).
    "CONFIG_TTL_SECONDS": float(os.environ.get("AUTO_REPLIES_CONFIG_TTL_SECONDS", "5")),
}

KB_BOT = {
    # "retrieval": answer with the best knowledge-base article; "llm": an OpenAI-compatible
    # chat-completions endpoint writes the answer, grounded in the retrieved articles.
    "ENGINE": os.environ.get("KB_BOT_ENGINE", "retrieval"),
    # How sure the retrieval must be to answer: the share of the question's words one title or
    # similar question of the best article contains (0-1), and how far the best article's score
    # stands above the next one's (ratio). Below either, the bot offers the top articles instead.
    # Chosen on the development half of knowledge/quality (docs/benchmarks.md, issue 17).
    "MIN_CONFIDENCE": float(os.environ.get("KB_BOT_MIN_CONFIDENCE", "0.5")),
    "MIN_MARGIN": float(os.environ.get("KB_BOT_MIN_MARGIN", "1.3")),
    "SUGGESTIONS": 3,
    # A bot answer counts as deflected unless the chat is handed to a person within this many minutes.
    "DEFLECTION_WINDOW_MINUTES": env_int("KB_BOT_DEFLECTION_WINDOW_MINUTES", 10),
    "LLM_URL": os.environ.get("KB_BOT_LLM_URL", ""),  # e.g. https://api.example.com/v1/chat/completions
    "LLM_MODEL": os.environ.get("KB_BOT_LLM_MODEL", ""),
    "LLM_KEY": os.environ.get("KB_BOT_LLM_KEY", ""),
    "LLM_TIMEOUT_SECONDS": env_int("KB_BOT_LLM_TIMEOUT_SECONDS", 20),
}

# --- Knowledge-base search (knowledge/search.py, docs/knowledge.md "Search") -----------------
# SEARCH_URL empty (the embedded default): django-haystack + Whoosh, an index directory at
# WHOOSH_PATH (default var/whoosh) with the Chinese/English analyzer and a lock file next to
# it (WHOOSH_PATH + ".lock") serialising writes across processes. Every process of one
# deployment must see the same directory.
# On PostgreSQL (DATABASE_URL) with SEARCH_URL empty: the index is in the database
# (knowledge/search_pg.py), one index for every app host. SEARCH_URL=whoosh: keep Whoosh there.
SEARCH_URL = os.environ.get("SEARCH_URL", "").strip()
WHOOSH_PATH = os.environ.get("WHOOSH_PATH") or str(BASE_DIR / "var" / "whoosh")


def haystack_connections(search_url, whoosh_path, database_engine=None):
    if not search_url and database_engine in ("django.db.backends.postgresql", "helpdesk.postgresql"):
        return {"default": {"ENGINE": "knowledge.search_pg.PostgresSearchEngine"}}
    if not search_url or search_url == "whoosh":
        return {"default": {"ENGINE": "knowledge.search_backend.KnowledgeWhooshEngine", "PATH": whoosh_path}}
    from django.core.exceptions import ImproperlyConfigured

    # Only these: a search server nothing here can test is not offered (docs/knowledge.md, "Settings").
    raise ImproperlyConfigured(f"SEARCH_URL: {search_url!r} is not supported (leave it empty, or whoosh)")


HAYSTACK_CONNECTIONS = haystack_connections(SEARCH_URL, WHOOSH_PATH, DATABASES["default"]["ENGINE"])
# No signals: the knowledge actions call knowledge.search.index_article/remove_article after commit.
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.BaseSignalProcessor"

ROUTING = {
    # Agents may set their own capacity up to this bound (admins set any value).
    "MAX_SELF_CAPACITY": env_int("ROUTING_MAX_SELF_CAPACITY", 20),
    # When an agent goes offline, their assigned chats nobody has answered yet are routed again.
    "REROUTE_UNANSWERED_ON_OFFLINE": env_bool("ROUTING_REROUTE_UNANSWERED_ON_OFFLINE", True),
    # An assigned chat the agent has not answered within this many seconds goes to someone else (0: never).
    "ANSWER_TIMEOUT_SECONDS": env_int("ROUTING_ANSWER_TIMEOUT_SECONDS", 180),
    # (Whether that agent is also set to away is the inbox's choice: Inbox.answer_timeout_marks_away.)
    # Familiar-first (熟客优先): the agent who served this customer within this many days.
    "FAMILIAR_DAYS": env_int("ROUTING_FAMILIAR_DAYS", 30),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- Outside channels (connectors/, docs/channels.md) -------------------------------------------
# This site's public address (e.g. https://help.example.com): links and files sent out through a
# channel (WeChat) must be absolute. Empty: site-relative addresses are left out of such messages.
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")
# A history keyword search is cancelled after this long on PostgreSQL (reports.history.search).
HISTORY_SEARCH_TIMEOUT_MS = int(os.environ.get("HISTORY_SEARCH_TIMEOUT_MS", "5000"))
# Encrypts channel secrets at rest (connectors.secrets); empty: derived from SECRET_KEY.
CHANNEL_SECRETS_KEY = os.environ.get("CHANNEL_SECRETS_KEY", "")
# WeChat's API hosts; the tests and the demo point them at the local simulator (connectors/wechat/simulator.py).
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
WECOM_API_BASE = os.environ.get("WECOM_API_BASE", "https://qyapi.weixin.qq.com").rstrip("/")
# The worker pulls every WeCom customer-service account this often even without a callback (a sync
# cut short by a dying process is picked up); 0: only on callbacks.
WECOM_KF_SYNC_SECONDS = env_int("WECOM_KF_SYNC_SECONDS", 60)
