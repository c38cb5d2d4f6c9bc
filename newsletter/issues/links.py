"""The links to comparisons in an issue's mail: `/r/<issue id>/<comparison id>-<mac>`.

The URL names the issue and the comparison, never the reader, so the render-once
template stays the same for everyone; the MAC (keyed by SECRET_KEY, bound to this
purpose) means nobody can make the service count or redirect a pair it never
sent. The redirect target is looked up, never read from the URL. Rotating
SECRET_KEY makes the links of earlier issues answer 404: keep the old key if old
issues' links matter.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

PURPOSE = b"newsletter.comparison-link"
_LINK = re.compile(r"^([0-9]{1,12})-([A-Za-z0-9_-]{22})$")


def mac(secret_key: str, issue_id: int, comparison_id: int) -> str:
    digest = hmac.new(secret_key.encode(), PURPOSE + f":{issue_id}:{comparison_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")


def tracked_url(base_url: str, secret_key: str, issue_id: int, comparison_id: int) -> str:
    return f"{base_url}/r/{issue_id}/{comparison_id}-{mac(secret_key, issue_id, comparison_id)}"


def verify(secret_key: str, issue_id: int, link: str) -> int | None:
    """The comparison id a link segment names, or None if it is malformed or forged."""
    match = _LINK.match(link)
    if match is None:
        return None
    comparison_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), mac(secret_key, issue_id, comparison_id)):
        return None
    return comparison_id
