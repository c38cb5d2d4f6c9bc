"""POST /hooks/ses: Amazon SES bounce and complaint notifications, through SNS.

SNS signs every message with a certificate it serves at SigningCertURL. Before
anything else: the topic must be one of SES_SNS_TOPIC_ARNS, the certificate URL
must be https on an SNS host (sns.<region>.amazonaws.com), and the signature
(SHA1 for SignatureVersion 1, SHA256 for 2) over the canonical fields must verify
against that certificate. Where SNS cannot be reached (and in the tests),
SES_SNS_CERT_FILE gives the certificate instead of fetching it; the URL is still
checked. A SubscriptionConfirmation is confirmed by visiting its SubscribeURL
(also an SNS host). The SNS MessageId makes a redelivery count once.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ...config import Settings
from ...mail.verp import Verp
from ..models import FeedbackKind, FeedbackSource
from . import HookMalformed, HookRefused, Received, load_json, make_event, need, when

SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def is_sns_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.port in (None, 443) and bool(SNS_HOST.fullmatch(parts.hostname or ""))


@lru_cache(maxsize=16)
def _fetch_certificate(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https on an SNS host, checked
        return response.read(64 * 1024)


def certificate(settings: Settings, url: str) -> rsa.RSAPublicKey:
    if settings.ses_sns_cert_file:
        with open(settings.ses_sns_cert_file, "rb") as handle:
            pem = handle.read()
    else:
        pem = _fetch_certificate(url)
    key = x509.load_pem_x509_certificate(pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise HookRefused(403, "the signing certificate holds no RSA key")
    return key


def canonical(message: dict) -> bytes:
    fields = SIGNED[message["Type"]]
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message).encode()


def verify(settings: Settings, body: bytes) -> dict:
    message = load_json(body)
    if not isinstance(message, dict) or message.get("Type") not in SIGNED:
        raise HookMalformed("not an SNS message")
    if message.get("TopicArn") not in settings.ses_sns_topic_arns:
        raise HookRefused(403, "not one of SES_SNS_TOPIC_ARNS")
    cert_url = str(message.get("SigningCertURL", ""))
    if not is_sns_url(cert_url):
        raise HookRefused(403, "the signing certificate is not on an SNS host")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(message.get("SignatureVersion", "")))
    if algorithm is None or not all(isinstance(message.get(k, ""), str) for k in SIGNED[message["Type"]]):
        raise HookRefused(403, "unknown SignatureVersion")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        certificate(settings, cert_url).verify(signature, canonical(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, binascii.Error, ValueError, OSError):
        raise HookRefused(403, "bad signature") from None
    return message


def _headers_message_id(mail: dict) -> str:
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    if common.get("messageId"):
        return str(common["messageId"])
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value", ""))
    return ""


def receive(settings: Settings, headers, body: bytes, now: datetime) -> Received:
    envelope = verify(settings, body)
    if envelope["Type"] == "SubscriptionConfirmation":
        url = need(envelope, "SubscribeURL")
        if not is_sns_url(url):
            raise HookRefused(403, "SubscribeURL is not on an SNS host")
        return Received(subscribe_url=url)
    if envelope["Type"] == "UnsubscribeConfirmation":
        return Received(ignored=1)
    try:
        notification = json.loads(need(envelope, "Message"))
    except ValueError:
        raise HookMalformed("Message is not JSON") from None
    kind_name = notification.get("notificationType") or notification.get("eventType") \
        if isinstance(notification, dict) else None
    if kind_name not in ("Bounce", "Complaint"):
        return Received(ignored=1)
    mail = need(notification, "mail", dict)
    verp = Verp(settings.secret_key, settings.bounce_domain) if settings.bounce_domain else None
    common = dict(verp=verp, envelope_sender=str(mail.get("source", "")), message_id=_headers_message_id(mail))
    events = []
    if kind_name == "Bounce":
        bounce = need(notification, "bounce", dict)
        kind = FeedbackKind.HARD_BOUNCE if bounce.get("bounceType") == "Permanent" else FeedbackKind.SOFT_BOUNCE
        for recipient in need(bounce, "bouncedRecipients", list):
            if not isinstance(recipient, dict):
                raise HookMalformed("a bounced recipient is not an object")
            email = need(recipient, "emailAddress")
            events.append(make_event(
                FeedbackSource.SES, f"{envelope['MessageId']}:{email}", kind, email=email,
                status=str(recipient.get("status", "")), occurred_at=when(bounce.get("timestamp"), now),
                reason=str(recipient.get("diagnosticCode", "") or bounce.get("bounceSubType", "")), **common))
    else:
        complaint = need(notification, "complaint", dict)
        if complaint.get("complaintFeedbackType") == "not-spam":
            return Received(ignored=1)
        for recipient in need(complaint, "complainedRecipients", list):
            email = need(recipient, "emailAddress") if isinstance(recipient, dict) else ""
            if not email:
                raise HookMalformed("a complained recipient has no emailAddress")
            events.append(make_event(
                FeedbackSource.SES, f"{envelope['MessageId']}:{email}", FeedbackKind.COMPLAINT, email=email,
                reason=str(complaint.get("complaintFeedbackType", "") or "complaint"),
                occurred_at=when(complaint.get("timestamp"), now), **common))
    return Received(events=events)


def confirm_subscription(url: str) -> None:
    """Visit an SNS SubscribeURL (already checked to be on an SNS host)."""
    if not is_sns_url(url):
        raise HookRefused(403, "SubscribeURL is not on an SNS host")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - checked above
        response.read(64 * 1024)
