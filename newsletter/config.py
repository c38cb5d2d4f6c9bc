"""Settings, read from the environment and `.env` in one place.

This module is the only reader of `os.environ`. The web app, the Celery workers and
Alembic all call `load_settings()`, so they can never disagree about where the
database is or how mail is sent. A missing or malformed setting stops start-up with
a `ConfigError` that names it, instead of failing later in the middle of a send.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMTP_SECURITY_MODES = ("none", "starttls", "tls")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    celery_broker_url: str
    secret_key: str
    base_url: str
    mail_from: str
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"
    smtp_timeout: float = 30.0
    newsletter_name: str = "Weekly AI Tool Verdicts"
    postal_address: str = ""
    comparison_site_url: str = "https://verdicts.example.com/comparisons/"
    api_token: str = ""
    ratelimit_storage_uri: str = "memory://"
    subscribe_rate_limit: str = "10 per minute;60 per hour"
    confirm_token_max_age_hours: int = 48
    confirm_mail_interval_hours: int = 24
    purge_unconfirmed_after_days: int = 14
    proxy_fix_x_for: int = 0
    mail_catcher_dir: str = ""
    send_batch_size: int = 200
    send_rate_limit: float = 0.0
    # Delivery retries: exponential backoff from base to max, then `failed`.
    # The defaults spread 15 attempts over more than a day.
    send_max_attempts: int = 15
    send_retry_base_seconds: float = 60.0
    send_retry_max_seconds: float = 21600.0
    # A claimed row is handed back to the sweeper after this; keep it above the
    # Celery task time limit (600 s) so a live task never loses its rows.
    send_lease_seconds: int = 660
    # Batch-task chains a dispatch starts per issue (the parallelism across workers).
    send_parallel_batches: int = 8
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key_path: str = ""
    redis_key_prefix: str = "newsletter"
    dev: bool = False

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def uses_redis_broker(self) -> bool:
        return self.celery_broker_url.startswith(("redis://", "rediss://"))


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(name: str, raw: str, low: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")
    return value


def _url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {raw!r}")
    return raw


def _database_url(raw: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    if not raw.startswith(("postgresql+psycopg://", "sqlite:")):
        raise ConfigError(f"DATABASE_URL must be a postgresql:// or sqlite:// URL, got {raw.split(':')[0]!r}")
    return raw


def dev_defaults(instance_dir: Path, port: int = 5000, smtp_port: int = 1025) -> dict[str, str]:
    """The embedded defaults `newsletter dev` fills in for anything not set.

    SQLite for data, kombu's SQLAlchemy transport as a broker that needs no server,
    and the built-in mail catcher. They are written into the environment of every
    process `dev` starts, so the web app, worker and scheduler share them.
    """
    db = instance_dir / "newsletter.sqlite"
    broker = instance_dir / "broker.sqlite"
    secret_file = instance_dir / "dev-secret-key"
    if not secret_file.exists():
        import secrets

        instance_dir.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(32))
    return {
        "DATABASE_URL": f"sqlite:///{db}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{broker}",
        "SECRET_KEY": secret_file.read_text().strip(),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_FROM": "Weekly AI Tool Verdicts <newsletter@localhost>",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "MAIL_CATCHER_DIR": str(instance_dir / "mail"),
        "API_TOKEN": "dev-api-token",
        "NEWSLETTER_DEV": "1",
    }


def apply_dev_defaults(instance_dir: Path, port: int = 5000, smtp_port: int = 1025) -> dict[str, str]:
    """Fill unset variables with the dev defaults; return what the children need."""
    load_dotenv(PROJECT_ROOT / ".env")
    for name, value in dev_defaults(instance_dir, port, smtp_port).items():
        os.environ.setdefault(name, value)
    return dict(os.environ)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise `ConfigError` naming the first bad one."""
    if environ is None:
        load_dotenv(PROJECT_ROOT / ".env")
        environ = dict(os.environ)
    env = {k: v.strip() for k, v in environ.items() if v is not None}
    dev = env.get("NEWSLETTER_DEV", "") in ("1", "true", "yes")

    def required(name: str) -> str:
        value = env.get(name, "")
        if not value:
            raise ConfigError(f"{name} is not set (see .env.example)")
        return value

    security = env.get("SMTP_SECURITY", "none").lower()
    if security not in SMTP_SECURITY_MODES:
        raise ConfigError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_MODES)}, got {security!r}")
    secret = env.get("SECRET_KEY", "")
    if not secret:
        raise ConfigError("SECRET_KEY is not set: production needs a long random value (see .env.example)")
    if len(secret) < 16 and not dev:
        raise ConfigError("SECRET_KEY is too short: use at least 16 random characters")
    broker = required("CELERY_BROKER_URL")
    default_limits = broker if broker.startswith(("redis://", "rediss://")) else "memory://"

    settings = Settings(
        database_url=_database_url(required("DATABASE_URL")),
        celery_broker_url=broker,
        secret_key=secret,
        base_url=_url("BASE_URL", required("BASE_URL")).rstrip("/"),
        mail_from=required("MAIL_FROM"),
        smtp_host=env.get("SMTP_HOST", "localhost") or "localhost",
        smtp_port=_int("SMTP_PORT", env.get("SMTP_PORT", "25") or "25", 1, 65535),
        smtp_username=env.get("SMTP_USERNAME", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_security=security,
        smtp_timeout=_float("SMTP_TIMEOUT", env.get("SMTP_TIMEOUT", "30"), 1),
        newsletter_name=env.get("NEWSLETTER_NAME", "") or Settings.newsletter_name,
        postal_address=env.get("POSTAL_ADDRESS", ""),
        comparison_site_url=_url(
            "COMPARISON_SITE_URL", env.get("COMPARISON_SITE_URL", "") or Settings.comparison_site_url
        ),
        api_token=env.get("API_TOKEN", ""),
        ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI", "") or default_limits,
        subscribe_rate_limit=env.get("SUBSCRIBE_RATE_LIMIT", "") or Settings.subscribe_rate_limit,
        confirm_token_max_age_hours=_int(
            "CONFIRM_TOKEN_MAX_AGE_HOURS", env.get("CONFIRM_TOKEN_MAX_AGE_HOURS", "48") or "48", 1, 24 * 90
        ),
        confirm_mail_interval_hours=_int(
            "CONFIRM_MAIL_INTERVAL_HOURS", env.get("CONFIRM_MAIL_INTERVAL_HOURS", "24") or "24", 0, 24 * 30
        ),
        purge_unconfirmed_after_days=_int(
            "PURGE_UNCONFIRMED_AFTER_DAYS", env.get("PURGE_UNCONFIRMED_AFTER_DAYS", "14") or "14", 1, 3650
        ),
        proxy_fix_x_for=_int("PROXY_FIX_X_FOR", env.get("PROXY_FIX_X_FOR", "0") or "0", 0, 5),
        mail_catcher_dir=env.get("MAIL_CATCHER_DIR", ""),
        send_batch_size=_int("SEND_BATCH_SIZE", env.get("SEND_BATCH_SIZE", "200") or "200", 1, 10000),
        send_rate_limit=_float("SEND_RATE_LIMIT", env.get("SEND_RATE_LIMIT", "0") or "0", 0),
        send_max_attempts=_int("SEND_MAX_ATTEMPTS", env.get("SEND_MAX_ATTEMPTS", "15") or "15", 1, 100),
        send_retry_base_seconds=_float(
            "SEND_RETRY_BASE_SECONDS", env.get("SEND_RETRY_BASE_SECONDS", "60") or "60", 0.01
        ),
        send_retry_max_seconds=_float(
            "SEND_RETRY_MAX_SECONDS", env.get("SEND_RETRY_MAX_SECONDS", "21600") or "21600", 0.01
        ),
        send_lease_seconds=_int("SEND_LEASE_SECONDS", env.get("SEND_LEASE_SECONDS", "660") or "660", 1, 86400),
        send_parallel_batches=_int(
            "SEND_PARALLEL_BATCHES", env.get("SEND_PARALLEL_BATCHES", "8") or "8", 1, 1000
        ),
        dkim_selector=env.get("DKIM_SELECTOR", ""),
        dkim_domain=env.get("DKIM_DOMAIN", ""),
        dkim_private_key_path=env.get("DKIM_PRIVATE_KEY_PATH", ""),
        redis_key_prefix=env.get("REDIS_KEY_PREFIX", "") or "newsletter",
        dev=dev,
    )
    if settings.send_retry_max_seconds < settings.send_retry_base_seconds:
        raise ConfigError("SEND_RETRY_MAX_SECONDS must be at least SEND_RETRY_BASE_SECONDS")
    if settings.smtp_username and not settings.smtp_password:
        raise ConfigError("SMTP_PASSWORD is not set but SMTP_USERNAME is")
    return settings


def setting_names() -> list[str]:
    """The environment variable names, for `.env.example` checks and docs."""
    return [f.name.upper() for f in fields(Settings) if f.name != "dev"]
