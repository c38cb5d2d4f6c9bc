"""Delivery: getting a started issue to every subscriber exactly once.

Owns the per-recipient ledger (`models`, `ledger`: record, finish; `snapshot`: the
audience, a chunk of subscribers per transaction; `claims`: claim per domain group
with a lease, renew, release; `stream`: a batch's copies over one connection, each
announced behind the previous body), the sweeper that
needs no broker message (`sweep`), the worker's send loop (`engine`, with `batch`:
speaks only the transport's verdicts), per-domain pacing (`groups`: domain
families; `lanes`: a run's turns over them; `aimd`: the rules; `pacing`: the
shared buckets, slots and AIMD state in Redis or in-process), the
editor's controls (`control`: pause, resume, cancel), the report (`report`),
the shared Redis rate limit (`rate`), and what it holds about one person
(`recipient`: the issues they received; anonymised when they are erased), and
each recipient's category variant at the snapshot (`categories`), and retention
(`retention`: an old issue's delivered rows become counts in `delivery_rollups`).

May import: `config`, `db`, `audience` (who receives, suppression), `issues`
(the lifecycle, the frozen content), `mail` (composer, transport), `readers` (category variants).
"""
