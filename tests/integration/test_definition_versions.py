"""Registering a new definition version (engine.ensure_version) while another process registers one.

The other process's row is written, on the same database, right after this one read the type's
latest version number and before it inserts its own: the moment two processes race."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import event, insert, select

from app.core.errors import ConcurrentChange
from app.extensions import db
from app.workflow import engine
from app.workflow.models import WorkflowVersion

EDITED = "e" * 64  # the checksum of an edited MoU definition, not registered yet


@contextmanager
def registered_meanwhile(checksum: str, body: dict):
    """Another process registers a MoU version (`checksum`) under the next number, once this one has read it."""
    connection = db.session.connection()
    done = []

    def after_reading_the_latest(conn, cursor, statement, parameters, context, executemany):
        if "max(workflow_versions.version)" in statement.lower() and not done:
            done.append(True)
            latest = conn.scalar(select(db.func.max(WorkflowVersion.version)).where(WorkflowVersion.type == "mou")) or 0
            conn.execute(insert(WorkflowVersion).values(type="mou", version=latest + 1, checksum=checksum, body=body))

    event.listen(connection, "after_cursor_execute", after_reading_the_latest)
    try:
        yield
    finally:
        event.remove(connection, "after_cursor_execute", after_reading_the_latest)
    assert done, "the registration never read the latest number"


def test_the_same_definition_registered_meanwhile_is_the_one_returned(app):
    edited = replace(engine.current_definitions()["mou"], checksum=EDITED)
    with registered_meanwhile(EDITED, edited.body):
        version = engine.ensure_version(edited)
    assert version is not None and version.checksum == EDITED
    assert db.session.scalar(select(db.func.count()).where(WorkflowVersion.checksum == EDITED)) == 1


def test_a_number_taken_meanwhile_by_another_definition_is_a_lost_race(app):
    """Not "no version": the agreement being created or moved would be pinned to nothing."""
    edited = replace(engine.current_definitions()["mou"], checksum=EDITED)
    with registered_meanwhile("f" * 64, {}):
        with pytest.raises(ConcurrentChange):
            engine.ensure_version(edited)
    assert db.session.scalar(select(WorkflowVersion).where(WorkflowVersion.checksum == EDITED)) is None
