"""WSGI entry point for gunicorn: `gunicorn newsletter.wsgi:app`."""
from newsletter import create_app

app = create_app()
