import pytest

from newsletter.config import ConfigError, load_settings

BASE = {
    "DATABASE_URL": "postgresql://u:p@db:5432/newsletter",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "SECRET_KEY": "a-long-enough-secret-key",
    "BASE_URL": "https://news.example.com/",
    "MAIL_FROM": "News <news@example.com>",
}


def test_valid_environment_builds_settings():
    settings = load_settings(BASE)
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/newsletter"
    assert settings.base_url == "https://news.example.com"
    assert settings.secure_cookies is True
    assert settings.ratelimit_storage_uri == "redis://redis:6379/0"
    assert settings.smtp_security == "none"


@pytest.mark.parametrize("name", ["DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "BASE_URL", "MAIL_FROM"])
def test_missing_setting_is_named(name):
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


@pytest.mark.parametrize(
    "name, value",
    [
        ("SMTP_PORT", "smtp"),
        ("SMTP_PORT", "70000"),
        ("SMTP_SECURITY", "ssl3"),
        ("BASE_URL", "news.example.com"),
        ("DATABASE_URL", "mysql://x/y"),
        ("CONFIRM_TOKEN_MAX_AGE_HOURS", "0"),
        ("SEND_RATE_LIMIT", "-1"),
        ("SECRET_KEY", "short"),
        ("BOUNCE_DOMAIN", "bounces example org"),
        ("BOUNCE_LISTEN", "2525"),
        ("BOUNCE_IMAP_URL", "imap://user:pw@imap.example.org/INBOX"),
        ("SES_SNS_TOPIC_ARNS", "arn:aws:sqs:eu-west-1:123456789012:bounces"),
        ("MAX_BOUNCE_RATE", "150"),
        ("POSTMARK_WEBHOOK_USER", "hooks"),
    ],
)
def test_invalid_setting_is_named(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_smtp_username_needs_a_password():
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        load_settings({**BASE, "SMTP_USERNAME": "relay-user"})


def test_dev_mode_accepts_the_generated_defaults(tmp_path):
    from newsletter.config import dev_defaults

    env = dev_defaults(tmp_path)
    settings = load_settings(env)
    assert settings.dev is True
    assert settings.database_url.startswith("sqlite:///")
    assert settings.celery_broker_url.startswith("sqla+sqlite:///")
    assert settings.mail_catcher_dir
    # The key is generated once and kept, so sessions survive restarts.
    assert dev_defaults(tmp_path)["SECRET_KEY"] == env["SECRET_KEY"]


def test_env_example_lists_every_setting():
    from newsletter.config import PROJECT_ROOT, setting_names

    example = (PROJECT_ROOT / ".env.example").read_text()
    missing = [name for name in setting_names() if f"\n{name}=" not in example]
    assert missing == []
