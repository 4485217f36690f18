"""Agreements on a workflow version frozen before a tag existed: they borrow it from today's definition,
state by state name, as versions frozen before tags existed borrow them all."""

from __future__ import annotations

import copy

from app.extensions import db
from app.workflow import engine
from app.workflow.definitions import checksum_of
from app.workflow.models import WorkflowVersion
from tests import factories


def test_a_draft_on_a_version_frozen_before_the_internal_tag_stays_the_ministrys_in_review(world, signed_in):
    """Upgraded with drafts under way, such a draft had been shown to its partners at its move into internal
    review, the ministry's own budget figure with it."""
    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    for state in body["states"].values():
        state["tags"] = [tag for tag in state.get("tags", []) if tag != "internal"]
    version = WorkflowVersion(type="mou", version=997, checksum=checksum_of(body), body=body)
    db.session.add(version)
    db.session.commit()
    engine.forget_definitions_in_use()
    officer = world.users["officer"]
    draft = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Brouillon d'avant")
    draft.workflow_version, draft.shared_at = version, None
    db.session.commit()
    engine.take(draft, "submit_for_review", by=officer, expected_version=draft.version)
    db.session.commit()
    db.session.refresh(draft)
    assert draft.state == "internal_review" and draft.shared_at is None
    assert signed_in("partner").get(f"/agreements/{draft.id}").status_code == 404
