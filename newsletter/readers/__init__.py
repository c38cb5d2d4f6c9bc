"""What readers choose and do: which comparisons were clicked from the mail
(`clicks`, counted per issue and comparison, never per person), which categories
they hear about (`categories`), the issue as each category set gets it
(`variants`, frozen when sending starts), and what editors see of those sets
before sending (`previews`: the sets in the audience, each one's mail and checks);
the welcome mail a reader gets once on confirming (`welcome`: the ledger and its
send step; `welcome_mail`: the editors' settings, what it carries, its rendering;
`welcome_next`: leaving what it carried out of their next issue when editors say
it counts as already sent).

May import: `config`, `db`, `comparisons`, `issues`, `mail`, `audience`.
Delivery and `web` import this package, never the other way round.
"""
