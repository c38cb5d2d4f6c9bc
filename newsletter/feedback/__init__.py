"""Feedback: what happens to a copy after the relay took it.

Owns the normalised events and the inbound mail no parser understood (`models`);
the parsers for what real servers send back (`parsers/`: RFC 3464 DSNs, RFC 5965
ARF complaints, the common non-standard bounces, RFC 3834 auto-replies); turning
a bounce mail into events (`inbound`); the SMTP receiver on BOUNCE_DOMAIN
(`receiver`) and the IMAP poller (`imap`); one module per webhook provider
(`hooks/`: SES through SNS, Mailgun, Postmark, SendGrid), each verifying before it
parses; the policy that turns an event into a suppression and records it once
(`policy`); and the figures editors see (`stats`).

May import: `config`, `db`, `audience` (suppression, unsubscribe), `issues`
(models), `mail` (the VERP addresses the composer makes), `delivery` (the
ledger's bounce after sending, the bounce-rate guard). Nothing but `web`, `cli`
and `workers` imports feedback.
"""
