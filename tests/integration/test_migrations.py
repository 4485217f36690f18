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


def test_upgrading_keeps_existing_rows(tmp_path):
    """Upgrading a database that already holds agreements loses none of them, nor their parties."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0001")
            db.session.execute(text(
                "INSERT INTO organizations (slug, kind, is_home, created_at, updated_at) "
                "VALUES ('p', 'company', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            db.session.execute(text(
                "INSERT INTO agreements (reference, type, state, search_text, version, created_at, updated_at) "
                "VALUES ('MTNRA-2025-001', 'mou', 'active', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            db.session.execute(text(
                "INSERT INTO agreement_parties (agreement_id, organization_id, role) "
                "SELECT a.id, o.id, 'partner' FROM agreements a, organizations o"))
            db.session.commit()
            upgrade()
            assert db.session.execute(text("SELECT count(*) FROM agreement_parties")).scalar() == 1
            assert db.session.execute(text("SELECT state FROM agreements")).scalar() == "active"
            db.session.remove()
            db.engine.dispose()
