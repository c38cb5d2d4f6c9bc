"""The audience: readers who subscribe, confirm, receive and leave.

Owns the `Subscriber` model and its state machine; the checks on what a reader
types (`addresses`); subscribe, confirm, unsubscribe and purge
(`subscriptions`); every token and the links that carry them (`tokens`); the
confirmation mail as an outbox (`outbox`); the suppression list (`suppression`:
the only writer of `bounced` and `complained`); and the audience query sending uses
(`recipients`). For editors: counts, the weekly chart and the keyset-paged list
(`listing`); CSV files in and out (`csvfile`: reading hostile files, neutralising
formulas), imports with their stated consent (`importing`, `bulk`), the streamed
export and a person's own record (`exporting`); and erasure with its keyed-hash
record (`erasure`; called through `delivery.recipient.erase_person`, which first
anonymises the person's delivery rows).

May import: `config`, `db`, `mail`. Delivery reads the audience through
`recipients` and suppresses through `suppression`; nothing here imports delivery.
"""
