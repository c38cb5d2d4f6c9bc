"""Mail: what every message is made of, and how it leaves us.

Owns the email templates' rendering (`rendering`: Jinja + MJML from plain
view-models), the one composer for every mail (`compose`: headers, DKIM, List-Id,
both unsubscribe headers, the render-once template that is spliced per recipient)
with its header encoding (`headers`), and the transports (`transport/`), which
return verdicts instead of reply codes.

May import: `config`. Nothing here imports a feature package: features build the
view-models and say who receives what.
"""
