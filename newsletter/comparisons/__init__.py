"""Comparisons: the comparison site's "X vs Y" verdicts, as they arrive and as stored.

Owns the models, the shared schema every way in is held to (`schema`), the page
export format (`pages`), the JSON shape of the push API and `.json` files
(`json_format`), how verdicts are read from quotes (`verdicts`), the upsert
store (`store`) and the file importer (`importer`).

May import: `config`, `db`. Issues read comparisons; nothing here reads issues.
"""
