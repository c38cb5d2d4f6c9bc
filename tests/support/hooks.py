"""Test keys and signed requests for the four webhook providers, made the way each
provider makes them (keys generated per test session, never shipped)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
MAILGUN_KEY = "key-mailgun-test-0123456789"
POSTMARK = ("hooks", "postmark-test-password")


class Keys:
    def __init__(self, folder):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.rsa.public_key())
                .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                .sign(self.rsa, hashes.SHA256()))
        self.cert_file = folder / "sns.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.ec = ec.generate_private_key(ec.SECP256R1())
        der = self.ec.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        self.sendgrid_public = base64.b64encode(der).decode()

    def settings(self) -> dict[str, str]:
        return {"SES_SNS_TOPIC_ARNS": TOPIC, "SES_SNS_CERT_FILE": str(self.cert_file),
                "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY, "POSTMARK_WEBHOOK_USER": POSTMARK[0],
                "POSTMARK_WEBHOOK_PASSWORD": POSTMARK[1], "SENDGRID_WEBHOOK_PUBLIC_KEY": self.sendgrid_public}

    # SES through SNS
    def sns(self, message: dict | str, *, type_: str = "Notification", version: str = "2", key=None,
            message_id: str = "sns-1", cert_url: str = CERT_URL, topic: str = TOPIC, **extra) -> bytes:
        body = {"Type": type_, "MessageId": message_id, "TopicArn": topic,
                "Message": message if isinstance(message, str) else json.dumps(message),
                "Timestamp": "2026-11-24T09:05:00.000Z", "SignatureVersion": version,
                "SigningCertURL": cert_url, **extra}
        fields = (("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type") if type_ == "Notification"
                  else ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"))
        canonical = "".join(f"{n}\n{body[n]}\n" for n in fields if n in body).encode()
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        body["Signature"] = base64.b64encode((key or self.rsa).sign(canonical, padding.PKCS1v15(), digest)).decode()
        return json.dumps(body).encode()

    # SendGrid
    def sendgrid(self, events: list | bytes, *, timestamp: int | None = None, key=None) -> tuple[bytes, dict]:
        body = events if isinstance(events, bytes) else json.dumps(events).encode()
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = (key or self.ec).sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return body, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                      "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}


def ses_bounce(email: str, *, source: str, message_id: str, permanent: bool = True) -> dict:
    return {"notificationType": "Bounce",
            "bounce": {"bounceType": "Permanent" if permanent else "Transient", "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": email, "status": "5.1.1",
                                              "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                       "timestamp": "2026-11-24T09:04:00.000Z"},
            "mail": {"source": source, "messageId": "0100018c-ses-id",
                     "commonHeaders": {"messageId": f"<{message_id}>"}}}


def ses_complaint(email: str, *, source: str, message_id: str) -> dict:
    return {"notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": email}], "complaintFeedbackType": "abuse",
                          "timestamp": "2026-11-24T09:04:00.000Z"},
            "mail": {"source": source, "messageId": "0100018c-ses-id",
                     "commonHeaders": {"messageId": f"<{message_id}>"}}}


def mailgun(event_data: dict, *, key: str = MAILGUN_KEY, timestamp: int | None = None,
            token: str = "tok-0123456789abcdef") -> bytes:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                       "event-data": event_data}).encode()


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
