"""Editors: the people who shape and send issues, and their accounts.

Owns the `Editor` model and the account service (`accounts`: create, list,
remove, authenticate with argon2id). The login form, its limits and the session
are web handlers (`web.editor.auth`).

May import: `config`, `db`.
"""
