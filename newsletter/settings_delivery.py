"""The delivery settings that are small languages of their own: SMTP_RELAYS (relay
URLs with weights) and PACING_GROUPS / PACING_LIMITS (domain families and their
rates). Each parser names the setting in its errors; a relay's entry is named by
its position, never echoed, as it may hold a password. `config` calls these.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from .settings import OTHER_GROUP, SMTP_SECURITY_MODES, ConfigError, Relay, number, whole_number

RELAY_FORMAT = "smtp://[user:password@]host[:port][?weight=N&tls=none|starttls|tls&name=NAME] (or smtps://)"
_RELAY_PARAMS = ("weight", "tls", "name")


def smtp_relays(name: str, raw: str) -> tuple[Relay, ...]:
    """Comma-separated relay URLs, in order. Errors name the setting and the entry's
    position, never the entry itself: it may hold a password."""
    relays = tuple(_relay(f"{name} entry {n}", entry.strip()) for n, entry in enumerate(raw.split(","), 1))
    names = [r.name for r in relays]
    for relay_name in names:
        if names.count(relay_name) > 1:
            raise ConfigError(f"{name}: two relays are called {relay_name!r}; give one a name= of its own")
    if not any(r.weight > 0 for r in relays):
        raise ConfigError(f"{name}: at least one relay needs a weight above 0 (weight=0 marks a backup)")
    return relays


def _relay(where: str, entry: str) -> Relay:
    if not entry:
        raise ConfigError(f"{where} is empty; expected {RELAY_FORMAT}")
    try:
        parts = urlsplit(entry)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError(f"{where} has a malformed host or port; expected {RELAY_FORMAT}") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError(f"{where} must start with smtp:// or smtps://; expected {RELAY_FORMAT}")
    if not host:
        raise ConfigError(f"{where} names no host; expected {RELAY_FORMAT}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError(f"{where} ({host}) has a path or '#'; percent-encode / ? # , @ % in the user and password")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - set(_RELAY_PARAMS))
    if unknown:
        raise ConfigError(f"{where} ({host}) has unknown parameter {unknown[0][:40]!r}; known: {', '.join(_RELAY_PARAMS)}")
    security = params.get("tls", "tls" if parts.scheme == "smtps" else "none").lower()
    if security not in SMTP_SECURITY_MODES or (parts.scheme == "smtps" and security != "tls"):
        raise ConfigError(f"{where} ({host}): tls must be one of {', '.join(SMTP_SECURITY_MODES)} "
                          f"(smtps:// is always tls)")
    weight = whole_number(f"{where} ({host}) weight", params.get("weight", "1"), 0, 1000)
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if bool(username) != bool(password):
        raise ConfigError(f"{where} ({host}) needs both a user and a password, or neither")
    port = port or (465 if security == "tls" else 25)
    label = params.get("name", f"{host}:{port}")
    if not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]{1,60}", label):
        raise ConfigError(f"{where} ({host}): name must be 1-60 letters, digits or . _ : -")
    return Relay(label, host, port, username, password, security, weight)


_GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_DOMAIN_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(\.\*|\.[a-z0-9-]+)")


def _entries(name: str, raw: str, example: str):
    """`group=value; group=value`, each group named once; yields (group, value)."""
    seen = set()
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        group, sep, value = (part.strip() for part in entry.partition("="))
        group = group.lower()
        if not sep or not _GROUP_NAME.fullmatch(group):
            raise ConfigError(f"{name} must look like {example!r}, got {entry!r}")
        if group in seen:
            raise ConfigError(f"{name} names the group {group!r} twice")
        seen.add(group)
        yield group, value


def pacing_groups(name: str, raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Domain families: `gmail=gmail.com googlemail.com; microsoft=outlook.com hotmail.*`."""
    groups, owner = [], {}
    for group, value in _entries(name, raw, "gmail=gmail.com googlemail.com; microsoft=outlook.com hotmail.*"):
        if group == OTHER_GROUP:
            raise ConfigError(f"{name}: {OTHER_GROUP!r} is everything no group names; it takes no domains")
        patterns = tuple(p.lower() for p in value.replace(",", " ").split())
        if not patterns:
            raise ConfigError(f"{name}: the group {group!r} has no domains")
        for pattern in patterns:
            if not _DOMAIN_PATTERN.fullmatch(pattern) or len(pattern) > 253:
                raise ConfigError(f"{name}: {pattern!r} is not a domain such as gmail.com or a family such as hotmail.*")
            if pattern in owner:
                raise ConfigError(f"{name}: {pattern!r} is in both {owner[pattern]!r} and {group!r}")
            owner[pattern] = group
        groups.append((group, patterns))
    return tuple(groups)


def pacing_limits(name: str, raw: str, groups: tuple) -> tuple[tuple[str, float, int, int], ...]:
    """`gmail=50/10; other=0/0/5000`: rate (messages/s) / connections [/ first warm-up day's cap]."""
    known = {g for g, _ in groups} | {OTHER_GROUP}
    limits = []
    for group, value in _entries(name, raw, "gmail=50/10; other=0/0"):
        if group not in known:
            raise ConfigError(f"{name}: no group {group!r} (PACING_GROUPS has {', '.join(sorted(known))})")
        parts = value.split("/")
        if len(parts) not in (2, 3):
            raise ConfigError(f"{name}: {group} must be rate/connections or rate/connections/first-day-cap, got {value!r}")
        rate = number(f"{name} ({group} rate)", parts[0], 0)
        connections = whole_number(f"{name} ({group} connections)", parts[1], 0, 10000)
        cap = whole_number(f"{name} ({group} first-day cap)", parts[2], 1, 10**9) if len(parts) == 3 else 0
        limits.append((group, rate, connections, cap))
    return tuple(limits)
