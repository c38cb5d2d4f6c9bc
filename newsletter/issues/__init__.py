"""The weekly issue: from draft to the moment delivery takes over.

Owns the issue's models and its state machine (`lifecycle`: every transition in
one table), the weekly slot (`slots`), the draft rules (`drafts`), what an issue
holds and says (`content`), its rendering view-model (`rendering`), the
pre-flight checks (`checks`), the preview (`preview`), test sends (`testsend`), the signed
comparison links of its mail (`links`),
and scheduling with the due-scan that freezes and starts it (`scheduling`).

May import: `config`, `db`, `comparisons`, `mail`. Delivery and `readers` import this
package (the lifecycle, the frozen content), never the other way round.
"""
