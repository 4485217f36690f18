"""The models and the migrations must describe the same schema."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.audit import AuditEvent
from app.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_audit_trail_refuses_update_and_delete_in_the_database(app, world):
    event_id = db.session.scalar(db.select(AuditEvent.id).limit(1))
    for statement in ("UPDATE audit_events SET action = 'forged' WHERE id = :id",
                      "DELETE FROM audit_events WHERE id = :id"):
        nested = db.session.begin_nested()
        try:
            db.session.execute(text(statement), {"id": event_id})
        except DBAPIError as error:
            assert "append-only" in str(error)
            nested.rollback()
        else:  # pragma: no cover - the assertion explains
            nested.rollback()
            raise AssertionError(f"the database accepted: {statement}")
