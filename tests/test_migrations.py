"""Alembic is the only way the schema is made: it must match the models exactly."""
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from newsletter.db import Base
from newsletter.migrate import alembic_config, include_object, upgrade


def _diff(url: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_migrated_database_matches_the_models(database_url):
    assert _diff(database_url) == []


def test_downgrade_to_nothing_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade(url)
    assert _diff(url) == []


def test_the_database_allows_one_upcoming_issue_only(session):
    """The draft rules keep one upcoming issue; the partial unique index makes a
    bug or a race there an error instead of a second draft."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from newsletter.models import Issue, IssueStatus

    session.add_all([Issue(number=1, status=IssueStatus.SENT), Issue(number=2, status=IssueStatus.DRAFT),
                     Issue(number=3, status=IssueStatus.SKIPPED)])
    session.commit()
    session.add(Issue(number=4, status=IssueStatus.SCHEDULED))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(Issue(number=5, status=IssueStatus.SENT))
    session.commit()
