"""The models and the migrations must describe the same schema."""

import json

import pytest
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
    for statement in (
        "UPDATE audit_events SET action = 'forged' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ):
        nested = db.session.begin_nested()
        try:
            db.session.execute(text(statement), {"id": event_id})
        except DBAPIError as error:
            assert "append-only" in str(error)
            nested.rollback()
        else:  # pragma: no cover - the assertion explains
            nested.rollback()
            raise AssertionError(f"the database accepted: {statement}")


@pytest.mark.live  # its own database: the rolled-back test transaction would capture db.session
def test_upgrading_keeps_existing_rows(tmp_path):
    """Upgrading a database that already holds agreements loses none of them, nor their parties."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0001")
            _agreement_with_partners("active", {"p": "false"})
            db.session.commit()
            upgrade()
            assert db.session.execute(text("SELECT count(*) FROM agreement_parties")).scalar() == 1
            assert db.session.execute(text("SELECT state FROM agreements")).scalar() == "active"
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database: the rolled-back test transaction would capture db.session
def test_upgrading_works_out_the_stays_of_existing_agreements_with_their_type(tmp_path):
    """The stays in stages of agreements already there come from their audit rows, each with its
    agreement's type (stage analytics groups by it without reading agreements)."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "stays_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0005")
            _agreement_with_partners("internal_review", {"p": "false"})
            created = {"after": {"state": "draft"}}
            submitted = {"before": {"state": "draft"}, "after": {"state": "internal_review"}}
            db.session.execute(
                text(
                    "INSERT INTO audit_events (occurred_at, actor_label, object_type, object_id, action, changes) "
                    "SELECT :at, 'system', 'agreements', id, :action, :changes FROM agreements"
                ),
                [
                    {"at": "2025-07-01 10:00:00", "action": "created", "changes": json.dumps(created)},
                    {"at": "2025-07-04 10:00:00", "action": "transition", "changes": json.dumps(submitted)},
                ],
            )
            db.session.commit()
            upgrade()
            stays = db.session.execute(
                text("SELECT agreement_type, state, days FROM stage_visits ORDER BY entered_at")
            ).all()
            assert [tuple(row) for row in stays] == [("mou", "draft", 3.0), ("mou", "internal_review", None)]
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database: the rolled-back test transaction would capture db.session
def test_upgrading_chains_the_existing_audit_rows(tmp_path):
    """Rows written before the hash chain existed get one, in id order, and verify intact; the
    sign-in sessions of the old scheme simply end (everyone signs in again once)."""
    from flask_migrate import upgrade

    from app.core.audit_chain import verify
    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "chain_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0005")
            for n in range(5):
                db.session.execute(
                    text(
                        "INSERT INTO audit_events (occurred_at, actor_label, object_type, object_id, action, changes, "
                        "comment) VALUES (:at, 'system', 'agreements', :n, 'created', :changes, :comment)"
                    ),
                    {
                        "at": f"2025-07-0{n + 1} 10:00:00.123456",
                        "n": n,
                        "changes": '{"after": {"state": "draft", "titre": "Mémorandum"}}',
                        "comment": f"ligne {n} شراكة",
                    },
                )
            db.session.commit()
            upgrade()
            result = verify()
            assert result.is_intact, result.problems
            assert result.checked == 5
            ordered = db.session.execute(text("SELECT id FROM audit_events ORDER BY chain_seq")).scalars().all()
            assert ordered == sorted(ordered)
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database
def test_upgrading_keeps_each_accepted_version_accepted_by_every_party(tmp_path):
    """Versions accepted before each party's acceptance had its own row: the ministry's acceptance and
    the partner side's (for every partner party) become rows, so a negotiation in flight keeps its turn."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "acceptances_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0011_deferred_bodies")
            _agreement_with_partners("negotiation", {"ministry": "true", "pa": "false", "pb": "false"})
            db.session.execute(
                text(
                    "INSERT INTO negotiation_rounds (agreement_id, number, side, sent_at, partner_accepted_at) "
                    "SELECT id, 1, 'partner', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM agreements"
                )
            )
            db.session.commit()
            upgrade()
            rows = db.session.execute(
                text(
                    "SELECT o.slug, a.side FROM negotiation_acceptances a "
                    "JOIN organizations o ON o.id = a.organization_id "
                    "ORDER BY o.slug"
                )
            ).all()
            assert [tuple(r) for r in rows] == [("pa", "partner"), ("pb", "partner")]
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database
def test_upgrading_says_which_party_the_signatories_already_named_sign_for(tmp_path):
    """Signatories named before they said which party they sign for: the ministry's sign for the ministry,
    a partner's for the only partner party; with several partner parties nothing tells, and none is chosen."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "signatories_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0026_second_step_key")
            for slug, is_home in {"ministry": "true", "pa": "false", "pb": "false"}.items():
                db.session.execute(
                    text(
                        "INSERT INTO organizations (slug, kind, is_home, created_at, updated_at) "
                        f"VALUES ('{slug}', 'company', {is_home}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    )
                )
            for reference, partners in (("MTNRA-2025-001", ("pa",)), ("MTNRA-2025-002", ("pa", "pb"))):
                db.session.execute(
                    text(
                        "INSERT INTO agreements (reference, type, state, search_text, version, created_at, "
                        f"updated_at) VALUES ('{reference}', 'mou', 'signed', '', 1, CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    )
                )
                for slug in partners:
                    db.session.execute(
                        text(
                            "INSERT INTO agreement_parties (agreement_id, organization_id, role) "
                            "SELECT a.id, o.id, 'partner' FROM agreements a, organizations o "
                            f"WHERE a.reference = '{reference}' AND o.slug = '{slug}'"
                        )
                    )
                for position, side in enumerate(("ministry", "partner"), start=1):
                    db.session.execute(
                        text(
                            "INSERT INTO signatories (agreement_id, side, position, name) "
                            f"SELECT id, '{side}', {position}, '{side}' FROM agreements WHERE reference = '{reference}'"
                        )
                    )
            db.session.commit()
            upgrade()
            rows = db.session.execute(
                text(
                    "SELECT a.reference, s.side, o.slug FROM signatories s JOIN agreements a ON a.id = s.agreement_id "
                    "LEFT JOIN organizations o ON o.id = s.organization_id ORDER BY a.reference, s.position"
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                ("MTNRA-2025-001", "ministry", "ministry"),
                ("MTNRA-2025-001", "partner", "pa"),
                ("MTNRA-2025-002", "ministry", "ministry"),
                ("MTNRA-2025-002", "partner", None),
            ]
            db.session.remove()
            db.engine.dispose()


def _agreement_with_partners(state: str, organizations: dict[str, str]) -> None:
    """Raw rows as an older schema holds them: organisations (slug → is_home), one agreement in
    `state`, every organisation that is not the ministry its partner."""
    for slug, is_home in organizations.items():
        db.session.execute(
            text(
                "INSERT INTO organizations (slug, kind, is_home, created_at, updated_at) "
                f"VALUES ('{slug}', 'company', {is_home}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    db.session.execute(
        text(
            "INSERT INTO agreements (reference, type, state, search_text, version, created_at, updated_at) "
            f"VALUES ('MTNRA-2025-001', 'mou', '{state}', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    )
    db.session.execute(
        text(
            "INSERT INTO agreement_parties (agreement_id, organization_id, role) "
            "SELECT a.id, o.id, 'partner' FROM agreements a, organizations o WHERE o.is_home = false"
        )
    )


@pytest.mark.live  # its own database: the rolled-back test transaction would capture db.session
def test_upgrading_stores_each_mailbox_in_one_spelling(tmp_path):
    """Addresses stored with a domain in its ASCII (IDNA) spelling take the Unicode one that accounts are now
    looked up under; an account whose other spelling another account holds keeps its own (nothing merged)."""
    from flask_migrate import upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "mailbox_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0030_stage_visits_type")
            for email in ("ana@xn--bcher-kva.example", "sam@xn--bcher-kva.example", "sam@bücher.example", "a@b.ma"):
                db.session.execute(
                    text(
                        "INSERT INTO users (email, full_name, password_hash, role, language, is_active, "
                        "is_org_admin, deliverables_restricted, deactivated_by_ministry, closed_by_directory, "
                        "created_at, updated_at) VALUES (:email, 'x', 'x', 'officer', 'fr', true, false, false, "
                        "false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"email": email},
                )
            db.session.commit()
            upgrade()
            emails = set(db.session.scalars(text("SELECT email FROM users")))
            assert emails == {"ana@bücher.example", "sam@xn--bcher-kva.example", "sam@bücher.example", "a@b.ma"}
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database
def test_upgrading_gives_back_to_the_ministry_the_drafts_cancelled_before_they_were_shown(tmp_path):
    """A draft cancelled straight from the ministry's stages had been shown to its partners by its cancelling:
    it is the ministry's again. One cancelled after a negotiation, a signed one, and one imported as
    cancelled (no stay in a draft) stay shown; downgrading shows them as before."""
    from flask_migrate import downgrade, upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    stays = {
        "MTNRA-2025-001": ((), ("draft", "internal_review", "cancelled")),  # cancelled in review: unshown
        "MTNRA-2025-002": ((), ("draft", "negotiation", "draft", "cancelled")),  # shown in the negotiation
        "MTNRA-2025-003": (("signed_on",), ("draft", "cancelled")),  # signed: its partners signed it
        "MTNRA-2025-004": ((), ("cancelled",)),  # imported as it ended
    }
    with fresh_database(tmp_path, "cancelled_drafts_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0038_outbox_messages_about")
            for reference, (dated, states) in stays.items():
                signed_on = "'2025-07-01'" if dated else "NULL"
                db.session.execute(
                    text(
                        "INSERT INTO agreements (reference, type, state, search_text, version, signed_on, shared_at, "
                        f"state_entered_at, created_at, updated_at) VALUES ('{reference}', 'mou', 'cancelled', '', 1, "
                        f"{signed_on}, '2026-01-05 10:00:00', '2026-01-05 10:00:00', CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    )
                )
                for state in states:
                    db.session.execute(
                        text(
                            "INSERT INTO stage_visits (agreement_id, agreement_type, state, entered_at) "
                            f"SELECT id, 'mou', '{state}', '2026-01-01 09:00:00' FROM agreements "
                            f"WHERE reference = '{reference}'"
                        )
                    )
            db.session.commit()

            def shown() -> set[str]:
                db.session.remove()
                found = set(db.session.scalars(text("SELECT reference FROM agreements WHERE shared_at IS NOT NULL")))
                db.session.remove()  # its read ended: on PostgreSQL a downgrade's ALTER TABLE waits for it
                return found

            upgrade()
            assert shown() == {"MTNRA-2025-002", "MTNRA-2025-003", "MTNRA-2025-004"}
            downgrade(revision="0038_outbox_messages_about")
            assert shown() == set(stays)
            db.session.remove()
            db.engine.dispose()


def _insert_user(email: str, role: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO users (email, full_name, password_hash, role, language, is_active, "
            "is_org_admin, deliverables_restricted, deactivated_by_ministry, closed_by_directory, "
            "created_at, updated_at) VALUES (:email, 'x', 'x', :role, 'fr', true, false, false, "
            "false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"email": email, "role": role},
    )


def _refused(statement) -> bool:
    """Whether the database refuses `statement()` (its check of the role vocabulary)."""
    from sqlalchemy.exc import IntegrityError

    try:
        statement()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return True
    return False


@pytest.mark.live  # its own database
def test_upgrading_lets_accounts_hold_the_finance_role_and_downgrading_refuses_while_one_does(tmp_path):
    """The finance controller's role is stored by accounts from 0041 on; a downgrade that would leave an
    account with a role the older schema refuses stops, saying so, and changes nothing."""
    from flask_migrate import downgrade, upgrade

    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "finance_role_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0040_illustrative_facts")
            assert _refused(lambda: _insert_user("early@ministere.ma", "finance"))
            upgrade()
            assert not _refused(lambda: _insert_user("nadia@ministere.ma", "finance"))
            db.session.remove()  # its read ended: on PostgreSQL a downgrade's ALTER TABLE waits for it
            # Unwrapped: `flask db downgrade` logs the same error and exits with status 1.
            with pytest.raises(RuntimeError, match="1 accounts and 0 invitations hold the finance role"):
                downgrade.__wrapped__(revision="0040_illustrative_facts")
            db.session.remove()
            assert db.session.scalar(text("SELECT role FROM users WHERE email = 'nadia@ministere.ma'")) == "finance"
            db.session.execute(text("UPDATE users SET role = 'legal' WHERE email = 'nadia@ministere.ma'"))
            db.session.commit()
            db.session.remove()
            downgrade(revision="0040_illustrative_facts")
            assert _refused(lambda: _insert_user("late@ministere.ma", "finance"))
            db.session.remove()
            db.engine.dispose()


@pytest.mark.live  # its own database
def test_upgrading_lets_documents_be_draft_texts_and_downgrading_refuses_while_one_is_stored(tmp_path):
    """A draft text is a kind of document from 0042 on; a downgrade that would leave one of a kind the older
    schema refuses stops, saying how many, and changes nothing."""
    from flask_migrate import downgrade, upgrade

    from app.core.storage import StoredFile
    from app.workflow.models import AgreementDocument
    from tests import factories
    from tests.conftest import make_test_app
    from tests.databases import fresh_database

    def add_draft() -> None:
        stored = StoredFile(sha256="d" * 64, size=1, content_type="application/pdf")
        db.session.add(stored)
        db.session.flush()
        db.session.add(
            AgreementDocument(agreement_id=agreement_id, kind="draft_text", stored_file=stored, original_name="p.pdf")
        )

    with fresh_database(tmp_path, "draft_texts_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0041_finance_role")
            agreement_id = factories.build_world().agreement_a.id
            assert _refused(add_draft)
            upgrade()
            assert not _refused(add_draft)
            db.session.remove()  # its read ended: on PostgreSQL a downgrade's ALTER TABLE waits for it
            with pytest.raises(RuntimeError, match="1 draft texts are stored"):
                downgrade.__wrapped__(revision="0041_finance_role")
            db.session.remove()
            assert db.session.scalar(text("SELECT count(*) FROM agreement_documents WHERE kind = 'draft_text'")) == 1
            db.session.execute(text("DELETE FROM agreement_documents"))
            db.session.commit()
            db.session.remove()
            downgrade(revision="0041_finance_role")
            assert _refused(add_draft)
            db.session.remove()
            db.engine.dispose()
