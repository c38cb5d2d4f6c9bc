"""What readers choose and do: which comparisons were clicked from the mail
(`clicks`, counted per issue and comparison, never per person), which categories
they hear about (`categories`), the issue as each category set gets it
(`variants`, frozen when sending starts), and what editors see of those sets
before sending (`previews`: the sets in the audience, each one's mail and checks).

May import: `config`, `db`, `comparisons`, `issues`, `mail`, `audience`.
Delivery and `web` import this package, never the other way round.
"""
