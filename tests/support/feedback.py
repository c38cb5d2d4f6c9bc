"""The feedback inbox drained the way the worker drains it: `apply_feedback`'s own loop."""
from __future__ import annotations

import math

from newsletter.config import load_settings
from newsletter.feedback import inbox
from workers.feedback import drain


def apply_inbox(db, settings) -> inbox.Drained:
    """Apply everything waiting, one set per commit, with no time bound."""
    return drain(db, settings, seconds=math.inf)


DOMAIN = "bounces.verdicts.test"


def bounce_settings(env, **more):
    """The test settings with a BOUNCE_DOMAIN (and any other settings given)."""
    return load_settings({**env, "BOUNCE_DOMAIN": DOMAIN, **more})
