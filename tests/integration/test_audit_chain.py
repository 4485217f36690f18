"""The audit trail's hash chain on a real database: every kind of tampering is caught by
`flask audit verify`, the database refuses the easy ones, and concurrent writers keep one
strictly ordered chain. Each test has its own fresh database (it drops triggers)."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import text

from app.core import audit
from app.core.audit import AuditEvent, digest_of
from app.core.audit_chain import anchors_in, verify
from app.extensions import db
from app.organizations.models import Organization
from tests import factories
from tests.conftest import app_on_a_fresh_database
from tests.databases import backend

pytestmark = pytest.mark.live


@pytest.fixture
def trail(tmp_path):
    """An app on a fresh database holding a chain of 12 audit rows, written in 4 commits."""
    with app_on_a_fresh_database(tmp_path, "chain") as (app, _url):
        ministry = factories.organization("ministry", kind="ministry", is_home=True)
        db.session.commit()
        for batch in range(4):
            for n in range(3):
                audit.record(
                    "noted",
                    ministry,
                    changes={"batch": batch, "n": n, "texte": "شراكة é"},
                    comment=f"row {batch}.{n}",
                )
            db.session.commit()
        yield app


def _sql(*statements):
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _drop_triggers():
    if backend() == "postgresql":
        _sql(
            "DROP TRIGGER audit_events_no_change ON audit_events",
            "DROP TRIGGER audit_events_no_truncate ON audit_events",
        )
    else:
        _sql(
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
            "DROP TRIGGER audit_events_no_replace",
        )


def _ids():
    ids = [row.id for row in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.chain_seq))]
    db.session.rollback()  # hold no lock: the statements below run on other connections
    return ids


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def test_an_untouched_trail_verifies(trail):
    result = verify()
    assert result.is_intact and result.checked == 12
    run = _cli(trail)
    assert run.exit_code == 0 and "intact" in run.output


def test_the_database_refuses_edits_deletes_and_truncation(trail):
    row_id = _ids()[3]
    for statement in (
        f"UPDATE audit_events SET comment = 'x' WHERE id = {row_id}",
        f"DELETE FROM audit_events WHERE id = {row_id}",
        "TRUNCATE audit_events"
        if backend() == "postgresql"
        else f"INSERT OR REPLACE INTO audit_events (id, occurred_at, actor_label, object_type, object_id, "
        f"action, changes) VALUES ({row_id}, '2026-01-01 00:00:00', 'x', 'organizations', 1, 'x', '{{}}')",
    ):
        with pytest.raises(Exception, match="append-only"):
            _sql(statement)
    assert verify().is_intact


TAMPERS = {
    "edited with the triggers dropped": (
        lambda ids: [f"UPDATE audit_events SET comment = 'rewritten' WHERE id = {ids[5]}"],
        "was changed",
    ),
    "deleted in the middle": (lambda ids: [f"DELETE FROM audit_events WHERE id = {ids[4]}"], "missing"),
    "deleted at the end": (
        lambda ids: [f"DELETE FROM audit_events WHERE id IN ({ids[-1]}, {ids[-2]})"],
        "removed from the end",
    ),
    "inserted in the middle": (
        lambda ids: [
            "INSERT INTO audit_events (id, occurred_at, actor_label, object_type, object_id, action, changes) "
            f"VALUES ({ids[-1] + 100}, '2026-01-01 00:00:00', 'system', 'organizations', 1, 'forged', '{{}}')"
        ],
        "no seal",
    ),
    "ids reordered": (
        lambda ids: [
            f"UPDATE audit_events SET id = {ids[-1] + 500} WHERE id = {ids[2]}",
            f"UPDATE audit_events SET id = {ids[2]} WHERE id = {ids[3]}",
            f"UPDATE audit_events SET id = {ids[3]} WHERE id = {ids[-1] + 500}",
        ],
        "was changed",
    ),
    "sequence reordered": (
        lambda ids: [
            f"UPDATE audit_events SET chain_seq = -1 WHERE id = {ids[2]}",
            f"UPDATE audit_events SET chain_seq = 3 WHERE id = {ids[3]}",
            f"UPDATE audit_events SET chain_seq = 4 WHERE id = {ids[2]}",
        ],
        "does not follow",
    ),
    "truncated": (lambda ids: ["DELETE FROM audit_events"], "removed from the end"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_every_tampering_is_reported(trail, name):
    statements, expected = TAMPERS[name]
    ids = _ids()
    _drop_triggers()
    _sql(*statements(ids))
    db.session.rollback()  # a fresh snapshot: the tampering was committed elsewhere
    result = verify()
    assert not result.is_intact
    assert any(expected in str(problem) for problem in result.problems), result.problems
    run = _cli(trail)
    assert run.exit_code == 1
    assert "BROKEN" in run.output


def test_an_anchor_file_not_there_or_a_negative_anchor_is_refused_saying_so(trail, tmp_path):
    """A file not there had been reported as holding no anchor, and "-1:…" checked as anchor 1."""
    head = verify().head_hash
    for given, said in (
        ("/nonexistent-file", "no such file: '/nonexistent-file'"),
        ("kept-anchor.eml", "no such file"),
        (f"-1:{head}", "never negative"),
        ("not-an-anchor", "no SEQ:SHA256 anchor in 'not-an-anchor'"),
    ):
        run = _cli(trail, "--anchor", given)
        assert run.exit_code == 2 and said in run.output, (given, run.output)
    assert anchors_in(f"row -1:{head}") == [] and anchors_in(f"Anchor: 1:{head}") == [(1, head)]


def test_a_rewrite_of_the_whole_chain_shows_against_an_earlier_anchor(trail, tmp_path):
    before = verify()
    db.session.rollback()
    anchor = f"{before.head_seq}:{before.head_hash}"
    # The attacker edits a row, then recomputes every hash after it and the head: the chain alone looks fine.
    _drop_triggers()
    ids = _ids()
    _sql(f"UPDATE audit_events SET comment = 'quietly changed' WHERE id = {ids[2]}")
    db.session.rollback()  # a fresh snapshot: the tampering was committed elsewhere
    prev = None
    for row in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.chain_seq)).all():
        prev_hash = prev or "0" * 64
        row_hash = digest_of(row, seq=row.chain_seq, prev_hash=prev_hash)
        _sql(f"UPDATE audit_events SET prev_hash = '{prev_hash}', row_hash = '{row_hash}' WHERE id = {row.id}")
        prev = row_hash
    _sql(f"UPDATE audit_chain_head SET last_hash = '{prev}' WHERE id = 1")
    db.session.rollback()  # a fresh snapshot: the tampering was committed elsewhere
    assert verify().is_intact
    run = _cli(trail, "--anchor", anchor)
    assert run.exit_code == 1 and "rewritten" in run.output
    saved = tmp_path / "anchor-mail.txt"
    saved.write_text(f"Audit trail anchor\nAnchor: {anchor}\n", encoding="utf-8")
    assert _cli(trail, "--anchor", str(saved)).exit_code == 1
    assert _cli(trail, "--anchor", "not-an-anchor").exit_code == 2
    # An auditor without a shell pastes the kept anchor e-mail on the page: the rewrite shows there too.
    from tests.conftest import SignedInClient

    auditor = factories.user("auditor", _home())
    db.session.commit()
    client = SignedInClient(trail, auditor)
    checked = client.post("/audit/verify", {"anchors": saved.read_text(encoding="utf-8")}, csrf_from="/audit")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and 'data-intact="no"' in page and "rewritten" in page
    # What is not an anchor is said so, and nothing is read from the server's disk (the CLI reads files).
    for pasted in ("not-an-anchor", str(saved), "12:" + "0" * 63):
        refused = client.post("/audit/verify", {"anchors": pasted}, csrf_from="/audit")
        text_ = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "No anchor found here" in text_ and "data-intact" not in text_


def test_concurrent_writers_keep_one_ordered_chain(trail):
    errors = []

    def writer(label):
        with trail.app_context():
            try:
                from app.organizations.models import Organization

                ministry = db.session.scalar(db.select(Organization).limit(1))
                for n in range(15):
                    audit.record("noted", ministry, comment=f"{label} {n}")
                    for attempt in range(100):
                        try:
                            db.session.commit()
                            break
                        except Exception as error:  # SQLite: one writer at a time; back off and try again
                            db.session.rollback()
                            if "locked" not in str(error).lower() or attempt == 99:
                                raise
                            time.sleep(0.005 * attempt)
                            audit.record("noted", ministry, comment=f"{label} {n}")
            except Exception as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(f"writer {n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    db.session.rollback()  # a fresh snapshot: the tampering was committed elsewhere
    result = verify()
    assert result.is_intact, result.problems
    assert result.checked == 12 + 45


def test_the_daily_anchor_is_recorded_mailed_and_shown(trail):
    from app.core.audit import AuditAnchor
    from app.notifications.models import OutboxMessage

    auditor = factories.user("auditor", _home())
    db.session.commit()
    run = trail.test_cli_runner().invoke(args=["audit", "anchor"])
    assert run.exit_code == 0, run.output
    anchor = db.session.scalars(db.select(AuditAnchor)).one()
    assert anchor.verification.startswith("ok")
    mail = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to_address == auditor.email)).one()
    assert f"{anchor.chain_seq}:{anchor.row_hash}" in mail.body_text
    from tests.conftest import SignedInClient

    page = SignedInClient(trail, auditor).get("/audit").get_data(as_text=True)
    assert anchor.row_hash in page
    checked = SignedInClient(trail, auditor).post("/audit/verify", csrf_from="/audit")
    assert 'data-intact="yes"' in checked.get_data(as_text=True)
    # The day's anchor, pasted back as the e-mail has it, matches the trail.
    pasted = SignedInClient(trail, auditor).post("/audit/verify", {"anchors": mail.body_text}, csrf_from="/audit")
    assert 'data-intact="yes"' in pasted.get_data(as_text=True)
    assert "The anchor you gave matches it." in pasted.get_data(as_text=True)
    db.session.rollback()  # a fresh snapshot: the requests above wrote (sign-ins) since this session read
    officer = factories.user("officer", _home())
    db.session.commit()
    assert SignedInClient(trail, officer).get("/audit").status_code in (403, 404)


def _home():
    from app.organizations.models import Organization

    return db.session.scalar(db.select(Organization).where(Organization.is_home.is_(True)))


def test_a_savepoint_rolled_back_leaves_the_rows_written_before_it_to_be_sealed(trail):
    # A savepoint's rollback fires the session's after_rollback too: it had dropped every row the
    # transaction still meant to seal, which then committed unsealed (the trail's version unmoved).
    ministry = db.session.scalars(db.select(Organization)).one()
    kept = audit.record("noted", ministry, comment="before the savepoint")
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            audit.record("noted", ministry, comment="inside the savepoint")
            raise RuntimeError("the savepoint's work fails")
    db.session.commit()
    db.session.refresh(kept)
    assert kept.chain_seq == 13 and kept.row_hash is not None
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 13
    result = verify()
    assert result.is_intact and result.checked == 13


def test_the_benchmarks_portfolio_extends_the_chain_whole(tmp_path):
    """bench/portfolio.py writes its audit rows in bulk: unsealed, `flask audit verify` read them as a break
    in the chain (an outside probe, on a benchmark's database). Sealed as the app seals its own, the trail
    verifies, and the app's next row follows them."""
    from app.demo.loader import load_demo
    from bench.portfolio import build

    with app_on_a_fresh_database(tmp_path, "bench") as (app, _url):
        load_demo()
        db.session.commit()
        counts = build(12)
        ministry = db.session.scalar(db.select(Organization).where(Organization.is_home.is_(True)))
        audit.record("noted", ministry, changes={"after": "the benchmark"})
        db.session.commit()
        result = verify()
        assert result.is_intact, result
        assert result.checked >= counts["audit_events"] + 1


def test_a_broken_link_is_said_in_each_auditors_language(trail):
    """The check's findings are read by auditors: on the page in the reader's language, in the daily anchor's
    mail in the recipient's; the log and the command keep English."""
    from app.notifications.models import OutboxMessage
    from tests.conftest import SignedInClient

    arabic, french = factories.user("auditor", _home()), factories.user("auditor", _home())
    arabic.language, french.language = "ar", "fr"
    db.session.commit()
    ids = _ids()
    _drop_triggers()
    _sql(f"UPDATE audit_events SET comment = 'rewritten' WHERE id = {ids[5]}")
    db.session.rollback()
    changed = verify().first_problem
    assert str(changed) == f"row 6 (id {ids[5]}) was changed after it was written"
    run = _cli(trail)
    assert run.exit_code == 1 and str(changed) in run.output

    assert trail.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0
    mail = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to_address == arabic.email)).one()
    assert f"تم تغيير الصف 6 (المعرّف {ids[5]}) بعد كتابته" in mail.body_text
    assert "was changed" not in mail.body_text

    reader = SignedInClient(trail, french)
    reader.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    page = reader.post("/audit/verify", csrf_from="/audit").get_data(as_text=True)
    assert 'data-intact="no"' in page and f"la ligne 6 (id {ids[5]}) a été modifiée après son écriture" in page


def test_the_verify_button_stops_in_time_and_says_how_far_it_read(trail, monkeypatch):
    """A page may not walk a million rows (32 s measured at the benchmark's million, past the 30 s after which
    gunicorn kills a worker): past its seconds it stops, says how far the trail is intact, and compares
    neither the head nor the anchors beyond. A tampered row within what it read is still reported."""
    from app.audit import routes
    from app.core import audit_chain
    from tests.conftest import SignedInClient

    monkeypatch.setattr(audit_chain, "BATCH", 5)
    monkeypatch.setattr(routes, "PAGE_VERIFY_SECONDS", 0)  # stop after the first batch
    auditor = factories.user("auditor", _home())
    db.session.commit()
    whole = verify()
    assert whole.complete and whole.checked > 5
    last = f"{whole.head_seq}:{whole.head_hash}"
    page = SignedInClient(trail, auditor).post("/audit/verify", {"anchors": last}, csrf_from="/audit")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-intact="so-far"' in text
    assert "The first 5 rows are intact, up to row 5." in text and "anchors you gave" not in text
    assert not audit_chain.verify(stop_after=0).complete
    ids = _ids()  # (and no transaction left open, which the triggers' dropping would wait for)
    _drop_triggers()
    _sql(f"UPDATE audit_events SET comment = 'rewritten' WHERE id = {ids[2]}")
    text = SignedInClient(trail, auditor).post("/audit/verify", csrf_from="/audit").get_data(as_text=True)
    assert 'data-intact="no"' in text


def _walk_of(page: str) -> str:
    import html

    found = re.search(r'name="walk" value="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else ""


def test_the_verify_button_walks_the_whole_trail_in_parts(trail, monkeypatch):
    """Each request walks a part within its seconds; the page carries the walk, signed, to the next part (sent by
    itself: sharaka.js), until the whole trail, its head and the anchors given are compared. A walk altered,
    or another auditor's, is refused; a row tampered with in a later part is found there."""
    from app.audit import routes
    from app.core import audit_chain
    from tests.conftest import SignedInClient

    monkeypatch.setattr(audit_chain, "BATCH", 5)
    monkeypatch.setattr(routes, "PAGE_VERIFY_SECONDS", 0)  # one batch a part
    auditor, colleague = factories.user("auditor", _home()), factories.user("auditor", _home())
    db.session.commit()
    whole = verify()
    assert whole.checked > 10
    early = f"3:{db.session.scalar(db.select(AuditEvent.row_hash).where(AuditEvent.chain_seq == 3))}"
    last = f"{whole.head_seq}:{whole.head_hash}"
    reader = SignedInClient(trail, auditor)
    page = reader.post("/audit/verify", {"anchors": f"{early}\n{last}"}, csrf_from="/audit").get_data(as_text=True)
    assert "data-continues" in page and 'data-intact="so-far"' in page
    parts, walk = 1, _walk_of(page)
    # Another auditor may not go on with it, nor anyone with a walk altered by a character.
    refused = SignedInClient(trail, colleague).post("/audit/verify", {"walk": walk}, csrf_from="/audit")
    assert refused.status_code == 400 and "verify again from the start" in refused.get_data(as_text=True)
    altered = walk[:-3] + ("A" if walk[-3] != "A" else "B") + walk[-2:]
    assert reader.post("/audit/verify", {"walk": altered}, csrf_from="/audit").status_code == 400
    while walk:
        answer = reader.post("/audit/verify", {"walk": walk}, csrf_from="/audit")
        assert answer.status_code == 200
        page, parts = answer.get_data(as_text=True), parts + 1
        walk = _walk_of(page)
    # The trail grew as the colleague signed in and the walk was refused: those rows were walked too.
    assert 'data-intact="yes"' in page
    walked = int(re.search(r"The trail is intact: ([0-9]+) rows checked.", page).group(1))
    assert walked >= whole.checked and parts == -(-walked // 5)  # a part per batch, none walked twice
    assert "The 2 anchors you gave match it." in page and "data-walked-since" in page
    # A part's walk sent again, or one that says impossible things, is refused: never a 500, never "intact".
    from app.audit.routes import _walks
    from app.core.models import utcnow

    carried = audit_chain.Verification(started_at=utcnow()).carried()
    assert audit_chain.Verification.resumed(carried).parts == 1  # the shape itself is read back
    forged = _walks().dumps({"user": auditor.id, "walk": {**carried, "checked": 10**30}})
    refused = reader.post("/audit/verify", {"walk": forged}, csrf_from="/audit")
    assert refused.status_code == 400 and "verify again from the start" in refused.get_data(as_text=True)
    # Tampered with past the first part: the part that reads it says so, and offers to go on (not by itself).
    ids = _ids()
    _drop_triggers()
    _sql(f"UPDATE audit_events SET comment = 'rewritten' WHERE id = {ids[7]}")
    page = reader.post("/audit/verify", csrf_from="/audit").get_data(as_text=True)
    page = reader.post("/audit/verify", {"walk": _walk_of(page)}, csrf_from="/audit").get_data(as_text=True)
    assert 'data-intact="no"' in page and "row 8 (id" in page
    assert _walk_of(page) and "data-continues" not in page and "Continue the check to find every problem" in page


def test_rows_sealed_while_the_walk_goes_on_are_walked_and_no_alarm(trail, monkeypatch):
    """The nightly anchor and the button walk a trail that others keep writing: the head is read as the
    walk begins, and rows sealed since are walked like the others (read after the walk, a head moved by a
    writer meanwhile could be taken for a trail cut short, a false alarm mailed to every auditor)."""
    from app.core import audit_chain

    monkeypatch.setattr(audit_chain, "BATCH", 5)
    real_digest, written = audit_chain.digest_of, []

    def digest_then_write_once(row, **kwargs):
        if not written:  # another request seals a row as the walk begins
            with trail.app_context():
                audit.record("noted", _home(), comment="written during the walk")
                db.session.commit()
            written.append(1)
        return real_digest(row, **kwargs)

    monkeypatch.setattr(audit_chain, "digest_of", digest_then_write_once)
    before = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))
    result = verify()
    assert result.is_intact, result.problems
    assert result.checked in (before, before + 1)  # PostgreSQL's walk sees it; SQLite's snapshot does not
    db.session.rollback()
    assert verify().is_intact and verify().checked == before + 1
