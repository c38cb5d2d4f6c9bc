"""The audience: readers who subscribe, confirm, receive and leave.

Owns the `Subscriber` model and its state machine; the checks on what a reader
types (`addresses`); subscribe, confirm, unsubscribe and purge
(`subscriptions`); every token and the links that carry them (`tokens`); the
confirmation mail as an outbox (`outbox`); the suppression list (`suppression`:
the only writer of `bounced`); and the audience query sending uses
(`recipients`).

May import: `config`, `db`, `mail`. Delivery reads the audience through
`recipients` and suppresses through `suppression`; nothing here imports delivery.
"""
