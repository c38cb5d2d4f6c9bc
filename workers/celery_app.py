"""Entry point for `celery -A workers.celery_app worker|beat`."""
from newsletter import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
