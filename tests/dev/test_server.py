"""`newsletter dev`'s embedded broker is ready before its worker and scheduler start."""
import sqlalchemy as sa

from newsletter import create_app
from newsletter.config import load_settings
from newsletter.dev.server import prepare_broker


def test_the_embedded_broker_has_every_queue_before_the_children_start(env, tmp_path):
    """Left to the worker and the scheduler, the first `mail` declared by both at once
    killed the loser on kombu_queue's UNIQUE name: the queues' rows exist up front."""
    broker = tmp_path / "broker.sqlite"
    app = create_app(load_settings({**env, "CELERY_BROKER_URL": f"sqla+sqlite:///{broker}"}))
    prepare_broker(app.extensions["celery"])
    engine = sa.create_engine(f"sqlite:///{broker}")
    with engine.connect() as conn:
        names = set(conn.scalars(sa.text("SELECT name FROM kombu_queue")))
    engine.dispose()
    assert names == {"mail", "bulk", "default"}
