"""The embedded defaults: `newsletter dev`, the built-in mail catcher, demo data.

Nothing in production imports this package; the tests use its mail catcher as a
real SMTP server.

May import every feature package (demo data goes through their services).
"""
