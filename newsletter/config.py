"""Settings, read from the environment and `.env` in one place.

This module is the only reader of `os.environ`. The web app, the Celery workers and
Alembic all call `load_settings()`, so they can never disagree about where the
database is or how mail is sent. A missing or malformed setting stops start-up with
a `ConfigError` that names it, instead of failing later in the middle of a send.
"""
from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from dotenv import load_dotenv

from .settings import (  # noqa: F401 - ConfigError and Settings are imported from here everywhere
    DEFAULT_PACING_GROUPS,
    SMTP_SECURITY_MODES,
    ConfigError,
    Relay,
    Settings,
    database_url_setting,
    domain_name,
    host_port,
    http_url,
    imap_url,
    iso_date,
    number,
    sns_arns,
    whole_number,
)
from .settings_delivery import pacing_groups, pacing_limits, smtp_relays

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


# `newsletter dev` writes the settings it ran with here, so that the README's other
# commands, typed in a second terminal in the same folder, find the same instance.
DEV_ENV_FILE = Path("instance") / ".env"


def apply_dev_defaults(instance_dir: Path, port: int = 5000, smtp_port: int = 1025) -> dict[str, str]:
    """Fill unset variables with the dev defaults, write them to the instance's
    `.env` for the other commands, and return what the children need."""
    load_dotenv(PROJECT_ROOT / ".env")
    defaults = dev_defaults(instance_dir, port, smtp_port)
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    lines = ["# Written by `newsletter dev` at each start: the settings of this instance, read by the",
             "# other `newsletter` commands run from this folder. The environment and the project's .env win over it."]
    lines += [f'{name}="{_dotenv_quoted(os.environ[name])}"' for name in defaults]
    env_file = instance_dir / ".env"
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env_file.chmod(0o600)  # it holds the instance's secret key
    return dict(os.environ)


def _dotenv_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise `ConfigError` naming the first bad one."""
    if environ is None:
        load_dotenv(PROJECT_ROOT / ".env")
        load_dotenv(Path.cwd() / DEV_ENV_FILE)  # fills only what is still unset
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
        database_url=database_url_setting(required("DATABASE_URL")),
        celery_broker_url=broker,
        secret_key=secret,
        base_url=http_url("BASE_URL", required("BASE_URL")).rstrip("/"),
        mail_from=required("MAIL_FROM"),
        smtp_host=env.get("SMTP_HOST", "localhost") or "localhost",
        smtp_port=whole_number("SMTP_PORT", env.get("SMTP_PORT", "25") or "25", 1, 65535),
        smtp_username=env.get("SMTP_USERNAME", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_security=security,
        smtp_timeout=number("SMTP_TIMEOUT", env.get("SMTP_TIMEOUT", "30"), 1),
        # Set, it replaces SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD and SMTP_SECURITY.
        smtp_relays=smtp_relays("SMTP_RELAYS", env["SMTP_RELAYS"]) if env.get("SMTP_RELAYS") else (),
        smtp_relay_cooldown_seconds=number(
            "SMTP_RELAY_COOLDOWN_SECONDS", env.get("SMTP_RELAY_COOLDOWN_SECONDS", "60") or "60", 1
        ),
        newsletter_name=env.get("NEWSLETTER_NAME", "") or Settings.newsletter_name,
        postal_address=env.get("POSTAL_ADDRESS", ""),
        comparison_site_url=http_url(
            "COMPARISON_SITE_URL", env.get("COMPARISON_SITE_URL", "") or Settings.comparison_site_url
        ),
        api_token=env.get("API_TOKEN", ""),
        ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI", "") or default_limits,
        subscribe_rate_limit=env.get("SUBSCRIBE_RATE_LIMIT", "") or Settings.subscribe_rate_limit,
        confirm_token_max_age_hours=whole_number(
            "CONFIRM_TOKEN_MAX_AGE_HOURS", env.get("CONFIRM_TOKEN_MAX_AGE_HOURS", "48") or "48", 1, 24 * 90
        ),
        confirm_mail_interval_hours=whole_number(
            "CONFIRM_MAIL_INTERVAL_HOURS", env.get("CONFIRM_MAIL_INTERVAL_HOURS", "24") or "24", 0, 24 * 30
        ),
        purge_unconfirmed_after_days=whole_number(
            "PURGE_UNCONFIRMED_AFTER_DAYS", env.get("PURGE_UNCONFIRMED_AFTER_DAYS", "14") or "14", 1, 3650
        ),
        proxy_fix_x_for=whole_number("PROXY_FIX_X_FOR", env.get("PROXY_FIX_X_FOR", "0") or "0", 0, 5),
        mail_catcher_dir=env.get("MAIL_CATCHER_DIR", ""),
        send_batch_size=whole_number("SEND_BATCH_SIZE", env.get("SEND_BATCH_SIZE", "200") or "200", 1, 10000),
        send_rate_limit=number("SEND_RATE_LIMIT", env.get("SEND_RATE_LIMIT", "0") or "0", 0),
        send_max_attempts=whole_number("SEND_MAX_ATTEMPTS", env.get("SEND_MAX_ATTEMPTS", "15") or "15", 1, 100),
        send_retry_base_seconds=number(
            "SEND_RETRY_BASE_SECONDS", env.get("SEND_RETRY_BASE_SECONDS", "60") or "60", 0.01
        ),
        send_retry_max_seconds=number(
            "SEND_RETRY_MAX_SECONDS", env.get("SEND_RETRY_MAX_SECONDS", "21600") or "21600", 0.01
        ),
        send_lease_seconds=whole_number("SEND_LEASE_SECONDS", env.get("SEND_LEASE_SECONDS", "45") or "45", 1, 86400),
        send_parallel_batches=whole_number(
            "SEND_PARALLEL_BATCHES", env.get("SEND_PARALLEL_BATCHES", "8") or "8", 1, 1000
        ),
        delivery_retention_days=whole_number(
            "DELIVERY_RETENTION_DAYS", env.get("DELIVERY_RETENTION_DAYS", "30") or "30", 30, 36500
        ),
        db_ping_idle_seconds=number("DB_PING_IDLE_SECONDS", env.get("DB_PING_IDLE_SECONDS", "5") or "5", 0),
        dkim_selector=env.get("DKIM_SELECTOR", ""),
        dkim_domain=env.get("DKIM_DOMAIN", ""),
        dkim_private_key_path=env.get("DKIM_PRIVATE_KEY_PATH", ""),
        redis_key_prefix=env.get("REDIS_KEY_PREFIX", "") or "newsletter",
        bounce_domain=domain_name("BOUNCE_DOMAIN", env.get("BOUNCE_DOMAIN", "")),
        bounce_listen=host_port("BOUNCE_LISTEN", env.get("BOUNCE_LISTEN", "") or Settings.bounce_listen),
        bounce_imap_url=imap_url("BOUNCE_IMAP_URL", env.get("BOUNCE_IMAP_URL", "")),
        mailgun_webhook_signing_key=env.get("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
        postmark_webhook_user=env.get("POSTMARK_WEBHOOK_USER", ""),
        postmark_webhook_password=env.get("POSTMARK_WEBHOOK_PASSWORD", ""),
        sendgrid_webhook_public_key=env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", ""),
        ses_sns_topic_arns=sns_arns("SES_SNS_TOPIC_ARNS", env.get("SES_SNS_TOPIC_ARNS", "")),
        ses_sns_cert_file=env.get("SES_SNS_CERT_FILE", ""),
        soft_bounce_limit=whole_number("SOFT_BOUNCE_LIMIT", env.get("SOFT_BOUNCE_LIMIT", "3") or "3", 1, 100),
        soft_bounce_days=whole_number("SOFT_BOUNCE_DAYS", env.get("SOFT_BOUNCE_DAYS", "30") or "30", 1, 365),
        max_bounce_rate=number("MAX_BOUNCE_RATE", env.get("MAX_BOUNCE_RATE", "5") or "5", 0.01),
        bounce_rate_min_sample=whole_number(
            "BOUNCE_RATE_MIN_SAMPLE", env.get("BOUNCE_RATE_MIN_SAMPLE", "200") or "200", 1, 10_000_000
        ),
        dev=dev,
        **_pacing(env),
    )
    if settings.send_retry_max_seconds < settings.send_retry_base_seconds:
        raise ConfigError("SEND_RETRY_MAX_SECONDS must be at least SEND_RETRY_BASE_SECONDS")
    if settings.max_bounce_rate > 100:
        raise ConfigError("MAX_BOUNCE_RATE is a percentage: at most 100")
    if bool(settings.postmark_webhook_user) != bool(settings.postmark_webhook_password):
        raise ConfigError("POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD are set together")
    if settings.smtp_username and not settings.smtp_password:
        raise ConfigError("SMTP_PASSWORD is not set but SMTP_USERNAME is")
    return settings


def _pacing(env: dict[str, str]) -> dict:
    groups = pacing_groups("PACING_GROUPS", env.get("PACING_GROUPS", DEFAULT_PACING_GROUPS))
    decrease = number("PACING_DECREASE", env.get("PACING_DECREASE", "") or "0.5", 0.01)
    if decrease >= 1:
        raise ConfigError("PACING_DECREASE must be below 1: a throttled group has to slow down")
    return dict(
        pacing_groups=groups,
        pacing_limits=pacing_limits("PACING_LIMITS", env.get("PACING_LIMITS", ""), groups),
        pacing_decrease=decrease,
        pacing_increase=number("PACING_INCREASE", env.get("PACING_INCREASE", "") or "1", 0.01),
        pacing_min_rate=number("PACING_MIN_RATE", env.get("PACING_MIN_RATE", "") or "1", 0.01),
        pacing_warmup_start=iso_date("PACING_WARMUP_START", env.get("PACING_WARMUP_START", "")),
        pacing_warmup_days=whole_number("PACING_WARMUP_DAYS", env.get("PACING_WARMUP_DAYS", "") or "14", 1, 365),
    )


def setting_names() -> list[str]:
    """The environment variable names, for `.env.example` checks and docs."""
    return [f.name.upper() for f in fields(Settings) if f.name != "dev"]
