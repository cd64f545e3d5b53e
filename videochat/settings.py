"""Django settings. Every value a deployer sets is read by `videochat.env` (see API.md,
Configuration); a `.env` file in the project root is loaded first in development."""

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from videochat.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_rate,
    env_required,
    env_str,
    env_url,
)

# Lets the classes django-stubs types as generics be subscripted at run time too
# (admin.ModelAdmin[Gift], forms.ModelForm[User]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# Real environment variables win over the file (override=False). ENV_FILE names another
# file; an empty ENV_FILE reads none (as a production unit with its own environment may want).
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(_env_file, override=False)

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY") or "dev-only-insecure-secret-key-do-not-use-in-production"
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
else:
    SECRET_KEY = env_required("SECRET_KEY", why="production needs a secret of its own")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters when DEBUG is off")

PORT = env_int("PORT", 8000, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "daphne",  # only for its `runserver`; production serves with uvicorn
    # Django's admin, with the site that asks for two-factor codes as `admin.site`.
    "adminpanel.two_factor.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "videochat",
    "accounts",
    "wallet",
    "calls",
    "gifts",
    "chat",
    "adminpanel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session's user is known: marks it verified when the session passed a code.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Audit entries written while serving a request say where it came from.
    "adminpanel.audit.middleware.AuditOriginMiddleware",
    # Last, as axes asks: turns a locked-out admin login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "videochat.urls"
ASGI_APPLICATION = "videochat.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "videochat" / "templates"],
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

# --- Data stores -------------------------------------------------------------------------

DATABASE_URL = env_url(
    "DATABASE_URL", "postgres://127.0.0.1:5432/videochat", schemes=("postgres", "postgresql")
)
# One pool of PostgreSQL connections per process (Django's psycopg pool, with the checks of
# videochat/postgresql/base.py). Under ASGI every request runs on a thread of its own, and
# persistent per-thread connections piled up until PostgreSQL refused clients: now a request,
# a socket frame's blocking call or a task takes a connection and gives it back when done.
# Every process (web, each Celery worker child, beat) holds at most DATABASE_POOL_MAX_SIZE;
# size it against PostgreSQL's max_connections (docs/api-conventions.md). Above
# GATEWAY_THREADS: a socket call keeps its connection until it ends (a chat message waits for
# MongoDB with it), and with 10 for 16 threads the chat bench lost a third of its rate.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1, maximum=1000)
# Connections kept open while idle (more are closed after 10 idle minutes, one at a time).
DATABASE_POOL_MIN_SIZE = env_int(
    "DATABASE_POOL_MIN_SIZE", 0, minimum=0, maximum=DATABASE_POOL_MAX_SIZE
)
# How long a request waits for a free connection before it is answered 503
# service_unavailable (also when PostgreSQL is unreachable).
DATABASE_POOL_TIMEOUT_SECONDS = env_int("DATABASE_POOL_TIMEOUT_SECONDS", 5, minimum=1)
DATABASES = {"default": database_from_url(DATABASE_URL)}
DATABASES["default"].update(
    ENGINE="videochat.postgresql",
    CONN_MAX_AGE=0,  # the pool keeps the connections; Django must hand them back
    CONN_HEALTH_CHECKS=True,  # the pool checks a connection before handing it out
)
DATABASES["default"]["OPTIONS"]["pool"] = {
    "min_size": DATABASE_POOL_MIN_SIZE,
    "max_size": DATABASE_POOL_MAX_SIZE,
    "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
    "name": "default",
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss"))
# Namespaces every key and pub/sub channel, so several deployments (or the test suite) can
# share one Redis server: pub/sub channels ignore the database number.
REDIS_PREFIX = env_str("REDIS_PREFIX", "videochat") or "videochat"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    }
}

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: faster for group sends than RedisChannelLayer and free of the
        # redis-py socket-timeout trap of its blocking reads (channels_redis#422).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": f"{REDIS_PREFIX}:ws:"},
    }
}

MONGO_URL = env_url("MONGO_URL", "mongodb://127.0.0.1:27017/videochat", schemes=("mongodb",))

# --- Auth --------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# axes first: it refuses a locked-out account and address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["videochat.errors.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "videochat.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env_str("THROTTLE_LOGIN", "10/min"),
        "register": env_str("THROTTLE_REGISTER", "5/min"),
        "reports": "20/hour",
    },
    # One proxy (nginx) in front in production: the client address is the last hop it adds.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0, maximum=5),
    "UNAUTHENTICATED_USER": None,
}

# Login lockout (django-axes; accounts/lockout.py): this many wrong passwords for one account
# from one client address lock that pair out of /admin/login/ and /auth/token for the
# cool-off, which every further failure starts again. A success at the admin clears the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_LOCKOUT_FAILURES", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.login_client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.login_lockout_response"

# Admin two-factor (TOTP, django-otp; adminpanel/two_factor, docs/staff.md): any staff member
# may turn it on; ADMIN_2FA_REQUIRED makes it mandatory for superusers and the finance group.
ADMIN_2FA_REQUIRED = env_bool("ADMIN_2FA_REQUIRED", False)
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = "Videochat"
# The TOTP devices admin (superusers remove a lost device there) never shows a secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Largest JSON body the API reads; bigger ones are refused with 413 before parsing.
API_MAX_BODY_BYTES = 64 * 1024

SPECTACULAR_SETTINGS = {
    "TITLE": "Videochat API",
    "DESCRIPTION": "REST side of the client contract. The WebSocket events are described in "
    "docs/websocket.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; each choice set gets a name of its own.
    "ENUM_NAME_OVERRIDES": {"PurchaseStatusEnum": "wallet.purchases.models.Purchase.Status"},
}

# --- Product rules (API.md, Configuration) -------------------------------------------------

HOST_SHARE_PERCENT = env_int("HOST_SHARE_PERCENT", 50, minimum=0, maximum=100)
CALL_BILLING_PERIOD_SECONDS = env_int("CALL_BILLING_PERIOD_SECONDS", 60, minimum=1)
CALL_RING_TIMEOUT_SECONDS = env_int("CALL_RING_TIMEOUT_SECONDS", 30, minimum=1)
CALL_DISCONNECT_GRACE_SECONDS = env_int("CALL_DISCONNECT_GRACE_SECONDS", 20, minimum=1)
# How often beat runs the call ticks (billing, ring timeouts, disconnects); a period is charged
# at most this late.
CALL_TICK_SECONDS = env_int("CALL_TICK_SECONDS", 5, minimum=1, maximum=60)
PAYMENTS_SANDBOX_SECRET = env_str("PAYMENTS_SANDBOX_SECRET", "sandbox-secret" if DEBUG else None)
STUN_URLS = env_list("STUN_URLS", ["stun:stun.l.google.com:19302"])
TURN_URLS = env_list("TURN_URLS")
TURN_SECRET = env_str("TURN_SECRET")
TURN_TTL_SECONDS = env_int("TURN_TTL_SECONDS", 3600, minimum=60)

# Withdrawals (coins): bounds of one request. Every request waits COOLING_OFF_HOURS before
# anyone may approve it; then beat approves it when it is at most AUTO_APPROVE_MAX_COINS, the
# host's auto-approved coins of the last 24 hours stay within AUTO_APPROVE_DAILY_MAX_COINS,
# and she is in good standing (account older than GOOD_STANDING_DAYS, no open reports, no
# recent rejection); the rest waits for staff. 0 turns auto-approval off.
WITHDRAWAL_MIN_COINS = env_int("WITHDRAWAL_MIN_COINS", 1000, minimum=1)
WITHDRAWAL_MAX_COINS = env_int("WITHDRAWAL_MAX_COINS", 500_000, minimum=WITHDRAWAL_MIN_COINS)
WITHDRAWAL_COOLING_OFF_HOURS = env_int("WITHDRAWAL_COOLING_OFF_HOURS", 24, minimum=0)
WITHDRAWAL_AUTO_APPROVE_MAX_COINS = env_int("WITHDRAWAL_AUTO_APPROVE_MAX_COINS", 5000, minimum=0)
WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS = env_int(
    "WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS", 10_000, minimum=0
)
# A request above this many coins needs the approval of two different members of staff.
WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS = env_int(
    "WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS", 20_000, minimum=0
)
WITHDRAWAL_GOOD_STANDING_DAYS = env_int("WITHDRAWAL_GOOD_STANDING_DAYS", 30, minimum=0)
# Earnings (host share of calls and gifts) become withdrawable this many days after they
# were earned, once a refund or chargeback of what paid for them is unlikely.
WITHDRAWAL_SETTLEMENT_DAYS = env_int("WITHDRAWAL_SETTLEMENT_DAYS", 7, minimum=0)
# Outside providers behind our interfaces (docs/payments.md, docs/withdrawals.md): payment
# providers `sandbox`, `stripe`, `appstore`, `googleplay`; payout providers `sandbox`,
# `stripe`. `sandbox` is the built-in test double: the default in development, refused when
# DEBUG is off unless PAYMENTS_ALLOW_SANDBOX says this is a staging deployment.
PAYMENT_PROVIDERS = env_list("PAYMENT_PROVIDERS", ["sandbox"] if DEBUG else [])
PAYOUT_PROVIDER = env_str("PAYOUT_PROVIDER", "sandbox" if DEBUG else None) or ""
PAYMENTS_ALLOW_SANDBOX = env_bool("PAYMENTS_ALLOW_SANDBOX", False)
if not DEBUG and not PAYMENTS_ALLOW_SANDBOX:
    if "sandbox" in PAYMENT_PROVIDERS or PAYOUT_PROVIDER == "sandbox":
        raise ImproperlyConfigured(
            "The sandbox payment or payout provider moves play money: it is refused when DEBUG "
            "is off. Configure real providers (PAYMENT_PROVIDERS, PAYOUT_PROVIDER; "
            "docs/payments.md), or set PAYMENTS_ALLOW_SANDBOX=1 on a staging deployment."
        )
    if not PAYOUT_PROVIDER:
        raise ImproperlyConfigured(
            "PAYOUT_PROVIDER is not set: approved withdrawals could not be paid. Set it to "
            "`stripe` (docs/withdrawals.md)."
        )
# Stripe (Checkout for the web client, Connect for payouts). STRIPE_API_BASE points the
# library elsewhere only for tests; the webhook secrets are the `whsec_...` values of the
# account's endpoint (/api/v1/payments/webhook/stripe) and of its Connect endpoint
# (/api/v1/payouts/webhook/stripe).
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_CONNECT_WEBHOOK_SECRET = env_str("STRIPE_CONNECT_WEBHOOK_SECRET")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
STRIPE_API_BASE = env_str("STRIPE_API_BASE")
# Where Checkout and Connect onboarding send the browser back (the web client's pages).
STRIPE_CHECKOUT_SUCCESS_URL = env_str("STRIPE_CHECKOUT_SUCCESS_URL", "http://localhost:8000/")
STRIPE_CHECKOUT_CANCEL_URL = env_str("STRIPE_CHECKOUT_CANCEL_URL", "http://localhost:8000/")
STRIPE_CONNECT_RETURN_URL = env_str("STRIPE_CONNECT_RETURN_URL", "http://localhost:8000/")
STRIPE_CONNECT_REFRESH_URL = env_str("STRIPE_CONNECT_REFRESH_URL", "http://localhost:8000/")
# Apple App Store (in-app purchases, StoreKit 2): the app's bundle id and Apple id, the
# environment the server accepts (PRODUCTION or SANDBOX), and Apple's root certificates
# (DER or PEM files from https://www.apple.com/certificateauthority/, comma-separated paths).
APPSTORE_BUNDLE_ID = env_str("APPSTORE_BUNDLE_ID")
APPSTORE_APP_APPLE_ID = env_int("APPSTORE_APP_APPLE_ID", 0, minimum=0)
APPSTORE_ENVIRONMENT = env_str("APPSTORE_ENVIRONMENT", "PRODUCTION") or "PRODUCTION"
APPSTORE_ROOT_CERTIFICATES = env_list("APPSTORE_ROOT_CERTIFICATES")
# Google Play Billing: the app's package name, the service account key (JSON file) that may
# call the Play Developer API, and what the Pub/Sub push of Real-time Developer Notifications
# carries in its OIDC token (audience, and the push subscription's service account e-mail).
# GOOGLEPLAY_API_BASE and GOOGLEPLAY_OIDC_CERTS_URL point elsewhere only for tests.
GOOGLEPLAY_PACKAGE_NAME = env_str("GOOGLEPLAY_PACKAGE_NAME")
GOOGLEPLAY_SERVICE_ACCOUNT_FILE = env_str("GOOGLEPLAY_SERVICE_ACCOUNT_FILE")
GOOGLEPLAY_PUBSUB_AUDIENCE = env_str("GOOGLEPLAY_PUBSUB_AUDIENCE")
GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT = env_str("GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT")
GOOGLEPLAY_API_BASE = env_str("GOOGLEPLAY_API_BASE")
GOOGLEPLAY_OIDC_CERTS_URL = env_str("GOOGLEPLAY_OIDC_CERTS_URL")
# Payouts: what one coin pays out, per currency of the host's payout account
# (`<currency>=<money per coin>`, comma-separated), and the currency used when the account
# names none we have a rate for.
PAYOUT_COIN_RATES = env_list("PAYOUT_COIN_RATES", ["USD=0.005"])
PAYOUT_DEFAULT_CURRENCY = env_str("PAYOUT_DEFAULT_CURRENCY", "USD") or "USD"
# Webhook deliveries that fail verification, per client address: (count, window seconds).
# Valid deliveries are never counted.
PAYMENT_WEBHOOK_REFUSED_RATE = env_rate("THROTTLE_PAYMENT_WEBHOOK_REFUSED", "30/min")

# A socket's presence key lives this long unless refreshed (clients heartbeat every 30 s).
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 60, minimum=5)
# How often beat looks for users whose sockets timed out without closing (a crashed server
# process) to announce them offline: such a user is announced at most this late.
PRESENCE_SWEEP_SECONDS = env_int("PRESENCE_SWEEP_SECONDS", 15, minimum=1, maximum=300)
# How long POST /match keeps a matched user from being handed to anyone else.
MATCH_RESERVE_SECONDS = env_int("MATCH_RESERVE_SECONDS", 15, minimum=1, maximum=300)
# Per-user limits (count, seconds) of POST /match and of call invites (POST /calls and
# call:invite); over them is 429 rate_limited. Far above what a person does by hand.
MATCH_RATE = env_rate("MATCH_RATE", "20/min")
CALL_INVITE_RATE = env_rate("CALL_INVITE_RATE", "10/min")
# Threads per server process for the blocking work of socket handlers (ORM, MongoDB, Redis);
# a call takes a PostgreSQL connection from the process's pool and gives it back when it
# ends (videochat/gateway/threads.py): keep DATABASE_POOL_MAX_SIZE above it, or socket calls
# queue for connections.
GATEWAY_THREADS = env_int("GATEWAY_THREADS", 16, minimum=1, maximum=256)

# --- Celery --------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_PREFIX}:celery:"}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "withdrawals-process": {"task": "wallet.tasks.withdrawals_process", "schedule": 60.0},
    "calls-billing-tick": {
        "task": "calls.tasks.calls_billing_tick",
        "schedule": float(CALL_TICK_SECONDS),
    },
    "calls-expire-ringing": {
        "task": "calls.tasks.calls_expire_ringing",
        "schedule": float(CALL_TICK_SECONDS),
    },
    "calls-end-disconnected": {
        "task": "calls.tasks.calls_end_disconnected",
        "schedule": float(CALL_TICK_SECONDS),
    },
    "presence-sweep": {
        "task": "accounts.tasks.presence_sweep",
        "schedule": float(PRESENCE_SWEEP_SECONDS),
    },
    "ledger-reconcile": {
        "task": "wallet.tasks.ledger_reconcile",
        "schedule": crontab(hour=3, minute=17),
    },
    "tokens-flush-expired": {
        "task": "accounts.tasks.tokens_flush_expired",
        "schedule": crontab(hour=4, minute=7),
    },
}
CELERY_TIMEZONE = "UTC"

# --- The rest ------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if not DEBUG else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The pool logs every connection it hands out and takes back at INFO.
        "psycopg.pool": {"level": "WARNING"},
        # Its version banner at every start.
        "axes.apps": {"level": "WARNING"},
    },
}
