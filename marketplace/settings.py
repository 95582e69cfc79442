"""Circle Market settings: one module, every value from the environment.

Production mode (`PRODUCTION=true`) turns on HTTPS-only cookies, HSTS and a strict
SECRET_KEY; `manage.py check --deploy --fail-level WARNING` passes with it.
"""

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import unquote

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from marketplace.money import STRIPE_UNIT_DIFFERS, currency_exponent_iso

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------
# pytest (8.2+) sets PYTEST_VERSION for the whole session.
TESTING = "PYTEST_VERSION" in os.environ
PRODUCTION = env.bool("PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-not-for-production")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "allauth",
    "allauth.account",
    "accounts",
    "shops",
    "orders",
    "payments",
    "referrals",
    "reviews",
    "disputes",
    "fraud",
]

MIDDLEWARE = [
    "marketplace.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "marketplace.middleware.PrivateNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "marketplace.middleware.RejectNulBytesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

if PRODUCTION:
    # Static files from the app server itself (gunicorn), compressed and cache-busted.
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

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
                "marketplace.context_processors.marketplace",
            ],
            "builtins": ["marketplace.templatetags"],
        },
    },
]

# The real client IP (login lock-out) behind a TLS proxy: either how many proxies of ours
# append to X-Forwarded-For, or their addresses (CIDR). Unset, the header is ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXIES = [ipaddress.ip_network(n, strict=False) for n in env.list("TRUSTED_PROXIES", default=[])]

# --- Data stores ------------------------------------------------------------------------
# Two roles (payments/db_roles.py). DATABASE_URL is the app's: it reads and appends to the
# ledger but can neither change it nor alter any table. MIGRATION_DATABASE_URL is the owner's:
# `manage.py migrate` connects as the owner (and grants the app role its rights), and so does
# the test suite, which creates, migrates and flushes its own database. Without it one role
# does both (a developer's or CI's superuser): the database then cannot hold the app back.
_APP_DB = env.db_url("DATABASE_URL")
_OWNER_DB = env.db_url("MIGRATION_DATABASE_URL") if env.str("MIGRATION_DATABASE_URL", default="") else _APP_DB
MIGRATING = sys.argv[1:2] == ["migrate"]
DATABASES = {"default": dict(_OWNER_DB if TESTING or MIGRATING else _APP_DB)}
# A unix-socket directory arrives percent-encoded in the URL's host part (see embedded.py).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
# The role the owner grants the app's rights to: DATABASE_URL's, or in a one-role setup this
# one (created if missing), which the guard tests connect as.
if _APP_DB["USER"] != _OWNER_DB["USER"]:
    DATABASE_APP_ROLE, DATABASE_APP_PASSWORD = _APP_DB["USER"], _APP_DB["PASSWORD"] or ""
else:
    DATABASE_APP_ROLE, DATABASE_APP_PASSWORD = env.str("DATABASE_APP_ROLE", default="circle_app"), ""
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL")
if TESTING:
    # Tests own one Redis database outright (they flush it), whatever REDIS_URL points at;
    # TEST_REDIS_DB lets two suites share one Redis server.
    _test_db = env.int("TEST_REDIS_DB", default=15)
    REDIS_URL = (REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") >= 3 else REDIS_URL) + f"/{_test_db}"
CACHES = {
    "default": {
        "BACKEND": "marketplace.cache.ReusingRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="cm"),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Accounts ---------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing strength is not under test; a fast hasher keeps the suite quick.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Sign-up answers the same for a new and a registered email (allauth then mails the owner
# instead), which needs sign-up to confirm the address before the first login.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Brute-force protection: allauth counts failed logins per IP and per account in the cache
# (Redis) and answers 429 past the limit.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "account_login"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Circle Market <noreply@localhost>")

# --- I18N, static, media ----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "/media/"
# Serve uploads from Django itself (dev, or a small deployment without a CDN).
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=DEBUG)
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Dispute evidence: never under MEDIA_ROOT, served only through a view that checks access.
PRIVATE_MEDIA_ROOT = env.path("PRIVATE_MEDIA_ROOT", default=BASE_DIR / ".data" / "private-media")
if TESTING:
    MEDIA_ROOT = BASE_DIR / ".data" / "test-media"
    PRIVATE_MEDIA_ROOT = BASE_DIR / ".data" / "test-private-media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=26_214_400)

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
# When the payout run goes: a crontab "minute hour day_of_week" (default daily at 03:00).
PAYOUT_SCHEDULE = dict(
    zip(("minute", "hour", "day_of_week"), env.str("MARKETPLACE_PAYOUT_SCHEDULE", default="0 3 *").split(), strict=True)
)
CELERY_BEAT_SCHEDULE: dict = {
    "photo-render-sweep": {"task": "shops.tasks.product_photo_render_sweep_task", "schedule": 300.0},
    "order-groups-expire": {"task": "orders.tasks.order_groups_expire_task", "schedule": 60.0},
    "orders-auto-confirm": {"task": "orders.tasks.orders_auto_confirm_task", "schedule": 300.0},
    "orders-ship-deadline": {"task": "orders.tasks.orders_ship_deadline_task", "schedule": 900.0},
    "orders-settle-due": {"task": "payments.tasks.orders_settle_due_task", "schedule": 300.0},
    "payments-sweep": {"task": "payments.tasks.payments_sweep_task", "schedule": 120.0},
    "reconcile": {"task": "payments.tasks.reconcile_task", "schedule": 3600.0},
    "payouts-run": {"task": "payments.tasks.payouts_run_task", "schedule": crontab(**PAYOUT_SCHEDULE)},
    "after-sales-deadlines": {"task": "disputes.tasks.after_sales_deadlines_task", "schedule": 300.0},
    "disputes-fallback": {"task": "disputes.tasks.disputes_fallback_task", "schedule": 3600.0},
    "sanctions-expire": {"task": "disputes.tasks.sanctions_expire_task", "schedule": 900.0},
}
CELERY_IMPORTS = ["marketplace.tasks"]
# Keep Django's LOGGING (JSON to stdout) in the worker too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.CursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "marketplace.schema.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "user": "600/min"},
    # DRF throttles (none today) would otherwise key on any X-Forwarded-For a client sends.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Circle Market API",
    "DESCRIPTION": "Shops, products, orders with payment protection, shares and commissions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security ---------------------------------------------------------------------------
CSRF_FAILURE_VIEW = "marketplace.views.csrf_failure"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "script-src": ["'self'", "https://js.stripe.com"],
        "style-src": ["'self'"],
        "frame-src": ["'self'", "https://js.stripe.com"],
        "connect-src": ["'self'", "https://api.stripe.com"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Logging ----------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "marketplace.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "marketplace.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pyvips": {"level": "WARNING"},
        "django.server": {"level": "WARNING" if not DEBUG else "INFO"},
        # The Stripe SDK logs every request and every answer at INFO (two lines a call, four
        # per checkout); payments.stripe_client logs the calls that fail.
        "stripe": {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")},
    },
}

# --- Stripe -----------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_CONNECT_CLIENT_ID = env.str("STRIPE_CONNECT_CLIENT_ID", default="")
# Without a secret key the Stripe SDK talks to payments.local_stripe (test mode), whose
# webhooks are signed with this local secret.
STRIPE_TEST_MODE = not STRIPE_SECRET_KEY
# Public (it is in this file): `check --deploy` fails while it is in use.
STRIPE_LOCAL_WEBHOOK_SECRET = "whsec_local_test_mode"  # noqa: S105 - test mode only, no real money
if STRIPE_TEST_MODE and not STRIPE_WEBHOOK_SECRET:
    STRIPE_WEBHOOK_SECRET = STRIPE_LOCAL_WEBHOOK_SECRET
# A staging site declares itself: test-mode payments outside DEBUG are then intended.
# (ALLOW_TEST_PAYMENTS is the older name.)
STAGING = env.bool("STAGING", default=env.bool("ALLOW_TEST_PAYMENTS", default=False))
if PRODUCTION and STRIPE_TEST_MODE and not STAGING:
    raise ImproperlyConfigured("PRODUCTION needs STRIPE_SECRET_KEY (STAGING=true for a staging site).")
# This site's own address (scheme://host[:port]); in test mode the local Stripe delivers its
# webhooks there and nowhere else (never to the Host header of whoever paid).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000" if DEBUG else "").rstrip("/")

# A stored webhook event whose handling fails this many times goes to the dead letter, with
# a staff alert, instead of being retried forever.
MARKETPLACE_WEBHOOK_MAX_ATTEMPTS = env.int("MARKETPLACE_WEBHOOK_MAX_ATTEMPTS", default=5)

# --- Marketplace rules ------------------------------------------------------------------
MARKETPLACE_NAME = env.str("MARKETPLACE_NAME", default="Circle Market")
MARKETPLACE_CURRENCY = env.str("MARKETPLACE_CURRENCY", default="CNY").upper()
if currency_exponent_iso(MARKETPLACE_CURRENCY) is None:
    raise ImproperlyConfigured(
        f"MARKETPLACE_CURRENCY {MARKETPLACE_CURRENCY!r} is not an ISO 4217 currency with minor units."
    )
if MARKETPLACE_CURRENCY in STRIPE_UNIT_DIFFERS:
    raise ImproperlyConfigured(
        f"Stripe takes {MARKETPLACE_CURRENCY} in another unit than ISO 4217's; it is not supported."
    )
# Every ledger transaction is stamped with the session's currency (payments migration 0010),
# and the database refuses its entries on accounts of any other: a changed setting on a
# database with postings is refused, not posted into the old accounts.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = f"{_db_options.get('options', '')} -c marketplace.currency={MARKETPLACE_CURRENCY}".strip()
MARKETPLACE_PLATFORM_FEE_BPS = env.int("MARKETPLACE_PLATFORM_FEE_BPS", default=500)
MARKETPLACE_AUTO_CONFIRM_DAYS = env.int("MARKETPLACE_AUTO_CONFIRM_DAYS", default=10)
MARKETPLACE_AFTER_SALES_DAYS = env.int("MARKETPLACE_AFTER_SALES_DAYS", default=7)
MARKETPLACE_SHIP_BY_DAYS = env.int("MARKETPLACE_SHIP_BY_DAYS", default=3)
MARKETPLACE_ATTRIBUTION_DAYS = env.int("MARKETPLACE_ATTRIBUTION_DAYS", default=7)
MARKETPLACE_COMMISSION_MIN_BPS = env.int("MARKETPLACE_COMMISSION_MIN_BPS", default=100)
MARKETPLACE_COMMISSION_MAX_BPS = env.int("MARKETPLACE_COMMISSION_MAX_BPS", default=3000)
# Smallest payout, in the currency's major units ("100" is ¥100, 100 KWD, ¥100 JPY), kept in minor units.
MARKETPLACE_PAYOUT_MINIMUM_MINOR = env.int(
    "MARKETPLACE_PAYOUT_MINIMUM_MINOR",
    default=env.int("MARKETPLACE_PAYOUT_MINIMUM", default=100) * 10 ** currency_exponent_iso(MARKETPLACE_CURRENCY),
)
MARKETPLACE_MERCHANT_RESPONSE_HOURS = env.int("MARKETPLACE_MERCHANT_RESPONSE_HOURS", default=48)
MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS = env.int("MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS", default=60)
# What a dispute nobody rules on ends as: "full_refund" (the buyer's favour) or "release".
MARKETPLACE_DISPUTE_DEFAULT_OUTCOME = env.str("MARKETPLACE_DISPUTE_DEFAULT_OUTCOME", default="full_refund")
if MARKETPLACE_DISPUTE_DEFAULT_OUTCOME not in ("full_refund", "release"):
    raise ImproperlyConfigured("MARKETPLACE_DISPUTE_DEFAULT_OUTCOME must be full_refund or release.")
# Days the buyer has to send a return back, and the shop to confirm it arrived.
MARKETPLACE_RETURN_SHIP_DAYS = env.int("MARKETPLACE_RETURN_SHIP_DAYS", default=7)
MARKETPLACE_RETURN_RECEIVE_DAYS = env.int("MARKETPLACE_RETURN_RECEIVE_DAYS", default=10)
# Days the buyer has to answer a partial-refund offer or escalate a rejection.
MARKETPLACE_BUYER_ANSWER_DAYS = env.int("MARKETPLACE_BUYER_ANSWER_DAYS", default=7)
# The no-reason return: days after receipt, for products that allow it.
MARKETPLACE_NO_REASON_RETURN_DAYS = env.int("MARKETPLACE_NO_REASON_RETURN_DAYS", default=7)
# Suggest a sanction to the admin when a shop loses this many disputes within the window.
MARKETPLACE_SANCTION_SUGGEST_LOSSES = env.int("MARKETPLACE_SANCTION_SUGGEST_LOSSES", default=3)
MARKETPLACE_SANCTION_SUGGEST_DAYS = env.int("MARKETPLACE_SANCTION_SUGGEST_DAYS", default=90)

# --- Reviews and shop credit (reviews/) ---------------------------------------------------
# Days after receipt a buyer may review a line; days after receipt for the one follow-up.
REVIEWS_WINDOW_DAYS = env.int("REVIEWS_WINDOW_DAYS", default=15)
REVIEWS_FOLLOWUP_DAYS = env.int("REVIEWS_FOLLOWUP_DAYS", default=180)
# Days the shop may reply to a review (or follow-up) after it was written.
REVIEWS_REPLY_DAYS = env.int("REVIEWS_REPLY_DAYS", default=30)
# Hours a buyer may edit a review (and only before the shop replies).
REVIEWS_EDIT_HOURS = env.int("REVIEWS_EDIT_HOURS", default=24)
# "Best rated": Bayesian average with the platform mean as prior, weighted as this many reviews.
REVIEWS_BAYES_WEIGHT = env.int("REVIEWS_BAYES_WEIGHT", default=20)
# Monthly levels and badges: daily, so a lost message is made up the next day; a month
# already evaluated costs one query.
CELERY_BEAT_SCHEDULE["shop-credit-monthly"] = {
    "task": "reviews.tasks.shop_credit_evaluate_task",
    "schedule": crontab(minute="15", hour="0"),
}
CELERY_BEAT_SCHEDULE["review-photo-render-sweep"] = {
    "task": "reviews.tasks.review_photo_render_sweep_task",
    "schedule": 300.0,
}

# --- Fraud (fraud/) ---
# An identifier shared by more accounts than this (a café's network, a shop's tablet) is
# kept as a signal but links nobody in the ring scan.
FRAUD_SHARED_IDENTIFIER_MAX = env.int("FRAUD_SHARED_IDENTIFIER_MAX", default=6)
# Rules at payment: each holds the line's commission with its reason when it fires.
# Off (0) under pytest, where every account is seconds old; the fraud tests turn it on.
FRAUD_NEW_ACCOUNT_MINUTES = env.int("FRAUD_NEW_ACCOUNT_MINUTES", default=0 if TESTING else 10)
FRAUD_DEVICE_DAILY_REFERRED = env.int("FRAUD_DEVICE_DAILY_REFERRED", default=5)
FRAUD_REPEAT_ITEM_PROMOTER = env.int("FRAUD_REPEAT_ITEM_PROMOTER", default=3)
# Ring scan: the smallest ring, and the density (purchases per account of the peeled
# block, column-weighted) from which a block is a case.
FRAUD_RING_MIN_ACCOUNTS = env.int("FRAUD_RING_MIN_ACCOUNTS", default=3)
FRAUD_RING_MIN_SCORE = env.float("FRAUD_RING_MIN_SCORE", default=1.0)
CELERY_BEAT_SCHEDULE["fraud-ring-scan"] = {
    "task": "fraud.tasks.fraud_scan_task",
    "schedule": crontab(minute="30", hour="2"),
}
