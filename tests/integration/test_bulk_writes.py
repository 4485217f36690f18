"""A reminder pass's bulk writes (notifications/bulk.py) store what one notice at a time stores: the same
notice, the same JSON text, the same e-mail (its subject in the recipient's words); the natural keys
recorded once; a value the same on every row written on each; a value too long for its column refused,
not cut short."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale
from sqlalchemy import String, cast, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.core.clock import utcnow
from app.extensions import db
from app.notifications import messages, services
from app.notifications.bulk import Writer
from app.notifications.models import Notification, OutboxMessage
from tests.databases import backend

# What an array's text form must escape (quotes, backslashes, braces, commas), other scripts, and
# the nulls and nesting of real params.
AWKWARD = {
    "reference": 'CONV-"1"\\2',
    "title": {"ar": "اتفاقية {أ}, ب", "fr": "Accord « A », l'été\n2026", "en": ""},
    "deliverable": {"ar": "", "fr": "Rapport\t{final}", "en": "NULL"},
    "due_on": "2026-12-01",
    "responsible": {"ar": "", "fr": "", "en": ""},
    "days": 3,
    "missed": ["2026-11-01", "2026-11-15"],
    "sent_back": True,
    "feedback": None,
}


def _notice(**changes) -> services.Notice:
    values = {
        "kind": "deliverable_overdue",
        "category": "deliverable_overdue",
        "params": AWKWARD,
        "link": "/deliverables/occurrences/7",
        "object_type": "deliverable_occurrences",
        "object_id": 7,
    }
    return services.Notice(**(values | changes))


def _stored(user) -> tuple[list, list]:
    """The user's notices (JSON as stored text) and e-mails (bodies as sent), oldest first."""
    notices = db.session.execute(
        select(
            Notification.kind,
            Notification.category,
            cast(Notification.params, String),
            Notification.link,
            Notification.object_type,
            Notification.object_id,
        )
        .where(Notification.user_id == user.id)
        .order_by(Notification.id)
    ).all()
    mails = [
        (message.to_address, message.language, message.category, message.kind, message.subject)
        + services.bodies_of(message)
        for message in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient_id == user.id).order_by(OutboxMessage.id)
        )
    ]
    return notices, mails


def _notify_many(pairs) -> int:
    """What a reminder pass does with a batch: its rows prepared, then written (on the pass's writer)."""
    return services.write_notices([made for made in services.prepared_notices(pairs) if made is not None])


def test_a_batch_stores_what_one_notice_at_a_time_stores(world):
    officer = world.users["officer"]
    officer.language = "ar"
    notice, other = _notice(), _notice(kind="deliverable_due", category="deliverable_due", object_id=8)
    services.notify(officer, notice)
    services.notify(officer, other)
    assert _notify_many([(officer, notice), (officer, other)]) == 2
    db.session.flush()
    notices, mails = _stored(officer)
    assert len(notices) == len(mails) == 4
    assert notices[2:] == notices[:2] and mails[2:] == mails[:2]
    # What the sender writes the batch's bodies from, as json.dumps writes it (its params written once).
    kept = db.session.scalars(
        select(cast(OutboxMessage.notice, String))
        .where(OutboxMessage.recipient_id == officer.id)
        .order_by(OutboxMessage.id)
    ).all()
    assert kept[2:] == [json.dumps({"params": n.params, "link": n.link, "extra": n.extra}) for n in (notice, other)]


def test_natural_keys_are_recorded_once_and_only_the_new_ones_returned(world):
    officer, manager = world.users["officer"], world.users["manager"]
    first = ("deliverable_due", "deliverable_occurrences", 7, officer.id, 'x"{a,b}\\:7d')
    second = ("deliverable_due", "deliverable_occurrences", 7, manager.id, 'x"{a,b}\\:7d')
    assert services.record_many([first, first]) == {first}
    assert services.record_many([first, second]) == {second}
    assert services.already_recorded(*second)


def test_a_batch_of_reminders_notifies_for_its_new_keys_only(world):
    """record_and_notify: a key recorded before is left with its notice; a key given twice is recorded once,
    with the notice given last; a key without a notice (nobody to tell) is recorded; the notices are written
    in the order given. On PostgreSQL in one statement (the pass's writer sends it outside a transaction)."""
    officer, manager, legal = world.users["officer"], world.users["manager"], world.users["legal"]

    def key(person, number: int) -> tuple:
        return ("deliverable_due", "deliverable_occurrences", number, person.id, "2026-12-01:7d")

    services.record_many([key(officer, 1)])
    made = services.prepared_notices([(person, _notice(object_id=n)) for person, n in ((officer, 1), (officer, 6))])
    made += services.prepared_notices([(officer, _notice(object_id=2)), (manager, _notice(object_id=3))])
    made += services.prepared_notices([(manager, _notice(object_id=4))])
    reminders = [
        (key(officer, 1), made[0]),
        (key(officer, 6), made[1]),
        (key(officer, 2), made[2]),
        (key(manager, 3), made[3]),
        (key(manager, 3), made[4]),
        (key(legal, 5), None),
    ]
    statements: list[str] = []

    def keep(_connection, _cursor, statement, _parameters, _context, _many):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        created = services.record_and_notify(reminders)
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert created == 4
    if backend() == "postgresql":
        assert len(statements) == 1
    db.session.flush()
    for person, told in ((officer, [6, 2]), (manager, [4]), (legal, [])):
        notices, mails = _stored(person)
        assert [notice.object_id for notice in notices] == told
        assert len(mails) == len(told)
    assert all(services.already_recorded(*key(person, n)) for person, n in ((manager, 3), (legal, 5), (officer, 6)))


@pytest.mark.skipif(backend() == "sqlite", reason="SQLite keeps a string of any length in any column")
def test_a_value_too_long_for_its_column_fails_the_batch(world):
    writer = Writer(Notification.__tablename__)
    row = services._notification_values(world.users["officer"], _notice(kind="k" * 41))
    with pytest.raises(DBAPIError), db.session.begin_nested():
        writer.insert([writer.row(row)])


def test_each_recipient_of_a_batch_reads_the_subject_in_their_language(world):
    """The batch finds each language's words once (messages.written_in), not once per subject: still each
    language's own words, plural forms (Arabic's six) and isolates included."""
    people = {"ar": world.users["officer"], "fr": world.users["manager"], "en": world.users["legal"]}
    for language, person in people.items():
        person.language = language
    deliverable = {"ar": "تقرير", "fr": "Rapport", "en": "Report"}
    notices = [_notice(params={"reference": "CONV-7", "deliverable": deliverable, "days": days}) for days in (2, 3, 11)]
    _notify_many([(person, notice) for person in people.values() for notice in notices])
    db.session.flush()
    expected = {
        "ar": [
            "متأخر منذ يومين: \u2068تقرير\u2069 (\u2068CONV-7\u2069)",
            "متأخر منذ 3 أيام: \u2068تقرير\u2069 (\u2068CONV-7\u2069)",
            "متأخر منذ 11 يومًا: \u2068تقرير\u2069 (\u2068CONV-7\u2069)",
        ],
        "fr": [f"En retard de {days} jours : Rapport (CONV-7)" for days in (2, 3, 11)],
        "en": [f"Overdue by {days} days: Report (CONV-7)" for days in (2, 3, 11)],
    }
    for language, person in people.items():
        assert [subject for *_rest, subject, _text, _html in _stored(person)[1]] == expected[language]
        words = messages.written_in(language)
        # (A subject's spaces are plain ones; the catalogue's French has a no-break space before a colon.)
        assert [" ".join(messages.headline(n.kind, n.params, words).split()) for n in notices] == expected[language]
        with force_locale(language):  # the words a single notice finds
            assert [" ".join(messages.headline(n.kind, n.params).split()) for n in notices] == expected[language]


def test_a_due_date_kept_once_written_is_still_written_in_each_readers_language(world):
    """Subjects write each due date once per language (messages._long_date): the first language's
    words must not reach the next reader, and French still writes the first of a month "1er"."""
    people = {"fr": world.users["manager"], "en": world.users["legal"], "ar": world.users["officer"]}
    for language, person in people.items():
        person.language = language
    notice = _notice(
        kind="deliverable_sent_back", params={"reference": "CONV-8", "deliverable": "Rapport", "due_on": "2027-07-01"}
    )
    _notify_many([(person, notice) for person in people.values()])
    db.session.flush()
    subjects = {language: _stored(person)[1][0][-3] for language, person in people.items()}
    assert "1er juillet 2027" in subjects["fr"]
    assert "July 1, 2027" in subjects["en"]
    assert "يوليو" in subjects["ar"] and "July" not in subjects["ar"]


def test_a_value_the_same_on_every_row_is_sent_once_and_lands_on_every_row(world):
    people = [world.users[role] for role in ("officer", "manager", "legal")]
    sent: list[dict] = []

    def keep(_connection, _cursor, statement, parameters, _context, _many):
        if statement.startswith("INSERT INTO outbox_messages"):
            sent.append(parameters)

    event.listen(Engine, "before_cursor_execute", keep)
    before = utcnow().replace(microsecond=0)
    try:
        _notify_many([(person, _notice(object_id=index)) for index, person in enumerate(people)])
        db.session.flush()
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    after = utcnow()
    rows = db.session.execute(
        select(
            OutboxMessage.status,
            OutboxMessage.attempts,
            OutboxMessage.body_text,
            OutboxMessage.created_at,
            OutboxMessage.next_attempt_at,
            OutboxMessage.recipient_id,
        ).where(OutboxMessage.recipient_id.in_([person.id for person in people]))
    ).all()
    assert len(rows) == 3 and len({row.created_at for row in rows}) == 1 and before <= rows[0].created_at <= after
    assert {row[:3] for row in rows} == {("pending", 0, None)}
    assert {row.next_attempt_at for row in rows} == {rows[0].created_at}
    assert {row.recipient_id for row in rows} == {person.id for person in people}
    if backend() == "postgresql":  # one array per varying column (bulk.py); the others one value
        (parameters,) = sent
        assert parameters["status"] == "pending" and parameters["body_text"] is None
        assert parameters["recipient_id"] == [person.id for person in people]


def test_rows_alike_in_every_column_are_each_written(world):
    officer = world.users["officer"]
    writer = Writer(Notification.__tablename__)
    row = writer.row(services._notification_values(officer, _notice()))
    writer.insert([row, row, row])
    assert len(_stored(officer)[0]) == 3


def test_an_object_with_members_serialised_already_is_the_text_of_the_whole(app):
    """A notice's params, serialised for its in-app row, go into its e-mail's stored notice as they are: the
    text is the one json.dumps writes for the whole object, whatever the members hold; given members that do
    not lead the object, the whole is serialised."""
    writer = Writer(OutboxMessage.__tablename__)
    for members in (
        {"params": AWKWARD, "link": "/deliverables/occurrences/7", "extra": {}},
        {"params": {}, "link": None, "extra": {"overdue": [{"title": AWKWARD["title"]}]}},
        {"params": AWKWARD},
    ):
        given = {"params": json.dumps(members["params"])}
        assert writer.json_object("notice", members, given).text == json.dumps(members)
    reordered = {"link": "/x", "params": AWKWARD}
    assert writer.json_object("notice", reordered, {"params": "{}"}).text == json.dumps(reordered)
