"""What the service can be configured with (`Settings`) and how each kind of value
is checked; `config` reads them from the environment and builds the settings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

SMTP_SECURITY_MODES = ("none", "starttls", "tls")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


# Receiving-domain families that mailbox providers pace as one (one provider's MX
# behind several domains). A pattern is a domain, or a name ending in ".*" for
# every top-level domain of it. Everything else is the group "other".
DEFAULT_PACING_GROUPS = "gmail=gmail.com googlemail.com; microsoft=outlook.com hotmail.* live.*; yahoo=yahoo.* aol.com"
OTHER_GROUP = "other"


@dataclass(frozen=True)
class Relay:
    """One SMTP relay: an entry of SMTP_RELAYS, or the single SMTP_* relay.

    `name` is what pages and logs show; the password is never in its repr.
    A weight of 0 makes it a backup, used only when no weighted relay is usable.
    """

    name: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "none"
    weight: int = 1

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


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
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "none"
    smtp_timeout: float = 30.0
    # Every relay mail may leave through, in order (SMTP_RELAYS, or the SMTP_* relay alone).
    smtp_relays: tuple[Relay, ...] = ()
    # How long a relay that refused a connection or timed out gets no new connections
    # while another relay is usable.
    smtp_relay_cooldown_seconds: float = 60.0
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
    # A claimed row is handed back to the sweeper after this unless its worker
    # renews it (every third of it, however slow the relay): what a dead worker costs.
    send_lease_seconds: int = 45
    # Batch-task chains a dispatch starts per issue (the parallelism across workers).
    send_parallel_batches: int = 8
    # A finished issue's sent, empty and skipped rows are rolled up into counts and
    # deleted after this many days; never fewer than the 30 days of sender health,
    # which counts the rows themselves.
    delivery_retention_days: int = 30
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key_path: str = ""
    redis_key_prefix: str = "newsletter"
    # A pooled database connection idle longer than this is pinged before use, so a
    # server restart costs no request; busy connections are not (0: ping always).
    db_ping_idle_seconds: float = 5.0
    # Feedback after the relay: bounces and complaints by mail (VERP) and by webhook.
    bounce_domain: str = ""
    bounce_listen: str = "127.0.0.1:2525"
    bounce_imap_url: str = ""
    mailgun_webhook_signing_key: str = ""
    postmark_webhook_user: str = ""
    postmark_webhook_password: str = ""
    sendgrid_webhook_public_key: str = ""
    ses_sns_topic_arns: tuple[str, ...] = ()
    # A PEM certificate to check SNS signatures with instead of fetching SigningCertURL
    # (the tests' own; also for hosts that cannot reach SNS).
    ses_sns_cert_file: str = ""
    soft_bounce_limit: int = 3
    soft_bounce_days: int = 30
    max_bounce_rate: float = 5.0  # percent of an issue's attempted messages
    bounce_rate_min_sample: int = 200
    # Per-domain-group pacing (`delivery.pacing`): ((group, (pattern, ...)), ...) and
    # ((group, rate/s, connections, first warm-up day's cap), ...); 0 is no limit.
    pacing_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    pacing_limits: tuple[tuple[str, float, int, int], ...] = ()
    pacing_decrease: float = 0.5  # a throttled group's rate is multiplied by this
    pacing_increase: float = 1.0  # messages/s a group regains per second of steady success
    pacing_min_rate: float = 1.0
    pacing_warmup_start: str = ""  # YYYY-MM-DD: the first day of the warm-up ("" none)
    pacing_warmup_days: int = 14
    dev: bool = False

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def uses_redis_broker(self) -> bool:
        return self.celery_broker_url.startswith(("redis://", "rediss://"))

    @property
    def relays(self) -> tuple[Relay, ...]:
        """The relays to send through; settings made without SMTP_RELAYS have the SMTP_* one."""
        return self.smtp_relays or (Relay(f"{self.smtp_host}:{self.smtp_port}", self.smtp_host, self.smtp_port,
                                          self.smtp_username, self.smtp_password, self.smtp_security),)


def whole_number(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def number(name: str, raw: str, low: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")
    return value


def http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {raw!r}")
    return raw


def domain_name(name: str, raw: str) -> str:
    domain = raw.lower().rstrip(".")
    if domain and not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+", domain):
        raise ConfigError(f"{name} must be a domain name such as bounces.example.org, got {raw!r}")
    return domain


def host_port(name: str, raw: str) -> str:
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{name} must be host:port, got {raw!r}")
    return raw


def imap_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if raw and (parts.scheme != "imaps" or not parts.hostname or not parts.username or parts.password is None):
        raise ConfigError(f"{name} must be imaps://user:password@host[:port]/[mailbox] (IMAP over TLS only)")
    return raw


def sns_arns(name: str, raw: str) -> tuple[str, ...]:
    arns = tuple(a.strip() for a in raw.split(",") if a.strip())
    for arn in arns:
        if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}", arn):
            raise ConfigError(f"{name} must be comma-separated SNS topic ARNs, got {arn!r}")
    return arns


def database_url_setting(raw: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    if not raw.startswith(("postgresql+psycopg://", "sqlite:")):
        raise ConfigError(f"DATABASE_URL must be a postgresql:// or sqlite:// URL, got {raw.split(':')[0]!r}")
    return raw


def iso_date(name: str, raw: str) -> str:
    if raw:
        try:
            date.fromisoformat(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a date as YYYY-MM-DD, got {raw!r}") from None
    return raw
