"""Notifying people: the in-app notice and the e-mail, written together in the
transaction of whatever caused them; mail choices; the admin's mail switch;
personal calendar feeds."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from email.utils import make_msgid
from types import SimpleNamespace
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.exc import OperationalError

from app.core.db import commit_bookkeeping, insert_ignoring_conflicts, is_lock_conflict
from app.core.errors import ConcurrentChange
from app.core.models import utcnow
from app.core.permissions import may_receive_mail_category
from app.extensions import db
from app.notifications import messages
from app.notifications.models import (
    ASKED_FOR,
    CATEGORIES,
    CalendarFeed,
    MailOptOut,
    Notification,
    OutboxMessage,
    ReminderSent,
    Setting,
)
from config import mail_domain_for


@dataclass
class Notice:
    """What to tell one person: the words come from `kind` + `params` (see messages.py)."""

    kind: str
    category: str
    params: dict[str, Any]
    link: str | None = None  # a path inside the app
    object_type: str | None = None
    object_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e-mail-only context (the digest's lists)


def forget_what_was_told(user) -> dict:
    """After the account's role or organisation changed, or its deliverables were narrowed to some
    agreements: its notices and its mail still waiting were written for what it could see before (a
    ministry thread's text, another organisation's titles, a deliverable no longer theirs).
    The notices are removed and the waiting mail withdrawn; what it may see now reaches it afresh.
    Returns how many, for the audit trail."""
    removed = db.session.execute(delete(Notification).where(Notification.user_id == user.id)).rowcount
    withdrawn = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient_id == user.id, OutboxMessage.status == "pending")
        .values(status="withdrawn", last_error="What the recipient may see changed since it was written.")
    ).rowcount
    return {"notices_removed": removed, "mail_withdrawn": withdrawn}


def withdraw_waiting_mail(kind: str, object_id: int, reason: str) -> int:
    """Withdraw the mail of `kind` about `object_id` still waiting to leave (an invitation sent again: the
    first mail's link no longer works). The reason is kept on the message, in English, as the sender's."""
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind == kind, OutboxMessage.object_id == object_id, OutboxMessage.status == "pending")
        .values(status="withdrawn", last_error=reason)
    ).rowcount


def mail_failed_about(kind: str, object_ids) -> dict[int, str | None]:
    """Of `object_ids`, those whose latest mail of `kind` failed for good (the server refused it), each with
    the error kept on it: one statement for a whole list. A mail sent again since (a resend) speaks instead."""
    ids = list(object_ids)
    if not ids:
        return {}
    latest = (
        select(func.max(OutboxMessage.id))
        .where(OutboxMessage.kind == kind, OutboxMessage.object_id.in_(ids))
        .group_by(OutboxMessage.object_id)
    )
    failed = select(OutboxMessage.object_id, OutboxMessage.last_error).where(
        OutboxMessage.id.in_(latest), OutboxMessage.status == "failed"
    )
    return {object_id: error for object_id, error in db.session.execute(failed)}


def app_path(endpoint: str, **values) -> str:
    """The path of a page, built without a request (jobs, CLI): links in mail use BASE_URL, never a Host header."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return adapter.build(endpoint, values)


def app_path_with_id(endpoint: str, name: str, value: int) -> str:
    """app_path(endpoint, name=value) for a page whose only argument is an integer id, as a pass builds
    thousands: the path is built once per app and endpoint, and the id put in its place."""
    patterns = current_app.extensions.setdefault("sharaka_id_paths", {})
    if (endpoint, name) not in patterns:
        marker = "987654321"
        patterns[(endpoint, name)] = app_path(endpoint, **{name: int(marker)}).split(marker)
    head, tail = patterns[(endpoint, name)]
    return f"{head}{int(value)}{tail}"


def absolute_url(path: str | None) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return base + (path or "/")


def notify(recipient, notice: Notice) -> Notification | None:
    """Add the in-app notice and, if the person receives this kind of mail, queue the e-mail.

    Nothing is committed here: both rows belong to the caller's transaction.
    """
    if recipient is None or not recipient.is_active_account:
        return None
    notification = Notification(**_notification_values(recipient, notice))
    db.session.add(notification)
    _bell_changed()
    if wants_mail(recipient, notice.category):
        queue_mail(recipient, notice)
    return notification


@dataclass
class PreparedNotice:
    """One reminder's rows, made ready by the pass before writing (`prepared_notices`): the in-app notice
    and, if the recipient receives this kind of mail, the outbox message. Plain values, so another
    connection (the pass's writer) writes them as they are."""

    notification: dict
    mail: dict | None


def prepared_notices(
    pairs: list[tuple[Any, Notice]], choices: MailChoices | None = None
) -> list[PreparedNotice | None]:
    """What `notify` writes for many (recipient, notice) pairs, as a reminder pass makes them: the mail
    choices of everyone concerned read in one query (`choices`: those read already, a pass's earlier
    batches'), the rows' JSON and timestamps prepared once (bulk.py), and the e-mails' bodies left for the
    sender to write just before it sends (thousands of templates rendered here would hold the pass for
    minutes). One per pair, in order (None where the recipient is not an active account: nobody to tell);
    `write_notices` writes them."""
    from app.notifications.bulk import Writer

    told = [person is not None and person.is_active_account for person, _notice in pairs]
    pairs = [pair for pair, active in zip(pairs, told) if active]
    if not pairs:
        return [None] * len(told)
    choices = choices if choices is not None else MailChoices()
    choices.read(person.id for person, _notice in pairs)
    _bell_changed()
    now = utcnow()  # one moment for the batch's rows (a notice's order among equals is its id's)
    notices, mails = Writer(Notification.__tablename__), Writer(OutboxMessage.__tablename__)
    mailed = [choices.wants(person.id, notice.category) for person, notice in pairs]
    languages = _mail_languages(person for (person, _notice), wanted in zip(pairs, mailed) if wanted)
    subjects = iter(_subjects([pair for pair, wanted in zip(pairs, mailed) if wanted], languages))
    domain = _mail_domain()
    kept: dict[int, Any] = {}  # id(notice) -> what the sender needs, serialised once per notice
    prepared = []
    for (person, notice), wanted in zip(pairs, mailed):
        mail = None
        if wanted:
            if id(notice) not in kept:
                kept[id(notice)] = mails.json_object(
                    "notice",
                    {"params": notice.params, "link": notice.link, "extra": notice.extra},
                    {"params": notices.serialised("params", notice.params)},  # as its in-app row has them
                )
            values = _mail_values(
                person,
                notice,
                with_bodies=False,
                subject=next(subjects),
                language=languages[person.id],
                domain=domain,
                now=now,
                for_the_sender=kept[id(notice)],
            )
            mail = mails.row(values)
        prepared.append(PreparedNotice(notices.row(_notification_values(person, notice) | {"created_at": now}), mail))
    made = iter(prepared)
    return [next(made) if active else None for active in told]


class MailChoices:
    """The optional categories of mail people switched off, each person's read once: the batches of a
    reminder pass share one (its thousands of reminders go to a few hundred people), instead of asking the
    database again for the same people batch after batch."""

    def __init__(self):
        self._read: set[int] = set()
        self._switched_off: set[tuple[int, str]] = set()

    def read(self, user_ids) -> None:
        """Read the choices of those of `user_ids` not read yet, a few hundred per query."""
        missing = sorted(set(user_ids) - self._read)
        for start in range(0, len(missing), 500):
            self._switched_off.update(
                tuple(row)
                for row in db.session.execute(
                    select(MailOptOut.user_id, MailOptOut.category).where(
                        MailOptOut.user_id.in_(missing[start : start + 500])
                    )
                )
            )
        self._read.update(missing)

    def wants(self, user_id: int, category: str) -> bool:
        """Whether the person (read already) receives mail of `category`, as wants_mail answers."""
        return is_mandatory(category) or (user_id, category) not in self._switched_off


def write_notices(prepared: list[PreparedNotice]) -> int:
    """Write prepared notices (`prepared_notices`): one statement per table (bulk.py), no ORM bookkeeping
    per row. Returns how many notices were added."""
    from app.notifications.bulk import Writer

    Writer(Notification.__tablename__).insert([notice.notification for notice in prepared])
    Writer(OutboxMessage.__tablename__).insert([notice.mail for notice in prepared if notice.mail is not None])
    return len(prepared)


def _mail_languages(people) -> dict[int, str]:
    """mail_language of each person, by id, the configuration read once."""
    known, default = current_app.config["LANGUAGES"], current_app.config["BABEL_DEFAULT_LOCALE"]
    return {person.id: person.language if person.language in known else default for person in people}


def _notification_values(recipient, notice: Notice) -> dict:
    return dict(
        user_id=recipient.id,
        kind=notice.kind,
        category=notice.category,
        params=notice.params,
        link=notice.link,
        object_type=notice.object_type,
        object_id=notice.object_id,
        created_at=utcnow(),
    )


def queue_mail(recipient, notice: Notice, *, to_address: str | None = None) -> OutboxMessage:
    """Render the e-mail in the recipient's language now and put it in the outbox; `to_address`: to another
    address than theirs (a change of address, told to the old one too)."""
    values = _mail_values(recipient, notice, with_bodies=True)
    message = OutboxMessage(**(values | {"to_address": to_address} if to_address else values))
    db.session.add(message)
    return message


def mail_language(recipient) -> str:
    return (
        recipient.language
        if recipient.language in current_app.config["LANGUAGES"]
        else current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def _subjects(pairs: list[tuple[Any, Notice]], languages: dict[int, str] | None = None) -> list[str]:
    """The subject of each (recipient, notice) in the recipient's language, one locale switch and one
    look-up of its catalogue per language rather than per message, and once per notice and language (a
    reminder pass gives the recipients of one reminder the same notice).
    `languages`: each recipient's mail language by id, when the caller has them."""
    languages = languages if languages is not None else _mail_languages(person for person, _notice in pairs)
    subjects: list[str] = [""] * len(pairs)
    by_language: dict[str, list[int]] = {}
    for index, (person, _notice) in enumerate(pairs):
        by_language.setdefault(languages[person.id], []).append(index)
    for language, indexes in by_language.items():
        written: dict[int, str] = {}  # id(notice) -> its headline (the notices live in `pairs` meanwhile)
        words = messages.written_in(language)  # the catalogue found once, not once per subject
        with force_locale(language):
            for index in indexes:
                notice = pairs[index][1]
                if id(notice) not in written:
                    written[id(notice)] = messages.headline(notice.kind, notice.params, words)
                subjects[index] = written[id(notice)]
    return subjects


def _mail_values(
    recipient,
    notice: Notice,
    *,
    with_bodies: bool,
    subject: str | None = None,
    language: str | None = None,
    domain: str | None = None,
    now=None,
    for_the_sender: Any = None,
) -> dict:
    """An outbox row for `notice` to `recipient`: the subject in their language always (the outbox
    pages list it; `subject` when the caller wrote it already), the bodies now or, without them, what
    the sender needs to write them later. `language`, `domain`, `now`: the recipient's mail language,
    the Message-ID's domain and the moment, when the caller (a batch) has them already; `for_the_sender`:
    what the sender needs, when the caller serialised it already (a batch: once per notice, bulk.py)."""
    language = language or mail_language(recipient)
    if subject is None:
        with force_locale(language):
            subject = messages.headline(notice.kind, notice.params)
    body_text = body_html = kept = None
    if with_bodies:
        body_text, body_html = render_bodies(recipient, language, notice)
        if notice.extra.get("decision_links"):
            # Kept, without its one-click links, so the sender can write it again without them should they
            # expire while it waits (lapsed.sent_without_links).
            extra = {key: value for key, value in notice.extra.items() if key not in ONE_CLICK}
            kept = {"params": notice.params, "link": notice.link, "extra": extra}
    else:
        kept = for_the_sender
        if kept is None:
            kept = {"params": notice.params, "link": notice.link, "extra": notice.extra}
    now = now or utcnow()
    return dict(
        recipient_id=recipient.id,
        to_address=recipient.email,
        language=language,
        category=notice.category,
        kind=notice.kind,
        object_id=notice.object_id,
        subject=" ".join(subject.split())[:300],
        body_text=body_text,
        body_html=body_html,
        notice=kept,
        message_id=make_msgid(domain=domain or _mail_domain()),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def render_bodies(recipient, language: str, notice: Notice) -> tuple[str, str]:
    """The text and HTML bodies of `notice` for `recipient`, in `language`."""
    with force_locale(language):
        context = {
            "recipient": recipient,
            "kind": notice.kind,
            "params": notice.params,
            "extra": notice.extra,
            "headline": messages.headline(notice.kind, notice.params),
            "detail": messages.detail(notice.kind, notice.params),
            "link": absolute_url(notice.link),
            "language": language,
            "direction": "rtl" if language == "ar" else "ltr",
            "preferences_url": absolute_url(app_path("notifications.preferences")),
            "base_url": current_app.config["BASE_URL"].rstrip("/"),
            "pick": messages.pick,
            "isolate": messages.isolate,
            # A plain-text line takes its direction from its first letter: in Arabic, a mark that starts it
            # right to left even when a Latin reference comes first.
            "line_start": "\u200f" if language == "ar" else "",
            "asked_for": notice.category if notice.category in ASKED_FOR else None,
        }
        template = "weekly_digest" if notice.kind == "weekly_digest" else "notification"
        return (
            render_template(f"emails/{template}.txt", **context),
            render_template(f"emails/{template}.html", **context),
        )


def bodies_of(message: OutboxMessage, notice: Notice | None = None) -> tuple[str, str]:
    """A message's bodies: as stored, or written now from its notice (a pass's message not sent yet), or
    from `notice` when given (a request written again without its expired links)."""
    if notice is None:
        if message.body_text is not None and message.body_html is not None:
            return message.body_text, message.body_html
        notice = kept_notice(message)
    recipient = message.recipient or SimpleNamespace(full_name=message.to_address, email=message.to_address)
    return render_bodies(recipient, message.language, notice)


# What a notice's e-mail carries of its one-click links (approval_links.with_decision_links): never kept.
ONE_CLICK = frozenset({"decision_links", "link_hours"})


def kept_notice(message: OutboxMessage) -> Notice:
    """The notice an outbox message keeps to be written from (a pass's, or a request's without its links)."""
    kept = message.notice or {}
    return Notice(
        kind=message.kind,
        category=message.category,
        params=kept.get("params") or {},
        link=kept.get("link"),
        extra=kept.get("extra") or {},
    )


def shown_to_staff(bodies: tuple[str, str]) -> tuple[str, str]:
    """A message's bodies as the outbox pages show them: the secret of every one-time link (a password
    reset, an invitation, an approval by e-mail, an unsubscribe or calendar link: any route that takes
    a <token>) hidden. The outbox is read by auditors and other admins, and such a link acts as its
    recipient: read there, it would let the reader reset an admin's password or accept an invitation."""
    pattern = _secret_links()
    return tuple(pattern.sub(r"\g<path>" + SECRET_HIDDEN, body or "") for body in bodies)  # type: ignore[return-value]


SECRET_HIDDEN = "[…]"


def _secret_links() -> re.Pattern:
    pattern = current_app.extensions.get("sharaka_secret_links")
    if pattern is None:
        prefixes = sorted(
            {rule.rule.split("<", 1)[0] for rule in current_app.url_map.iter_rules() if "token" in rule.arguments},
            key=len,
            reverse=True,
        )
        pattern = re.compile("(?P<path>(?:" + "|".join(map(re.escape, prefixes)) + "))[A-Za-z0-9_\\-]+")
        current_app.extensions["sharaka_secret_links"] = pattern
    return pattern


def _mail_domain() -> str:
    return current_app.config.get("MAIL_DOMAIN") or mail_domain_for(current_app.config["BASE_URL"])


def record_once(rule: str, object_type: str, object_id: int, recipient_id: int, occurrence_key: str) -> bool:
    """Insert a reminder's natural key; False if it was already there (another pass or process made it).

    INSERT ... ON CONFLICT DO NOTHING on both databases: on PostgreSQL a second
    process inserting the same key waits for the first to commit, then inserts nothing.
    """
    statement = (
        insert_ignoring_conflicts(ReminderSent)
        .values(
            rule=rule,
            object_type=object_type,
            object_id=object_id,
            recipient_id=recipient_id,
            occurrence_key=occurrence_key[:60],
            created_at=utcnow(),
        )
        .returning(ReminderSent.id)
    )
    try:
        return db.session.execute(statement).scalar() is not None
    except OperationalError as error:
        # Inside a user's request a locked database means a concurrent change: say so, as flushes do.
        if not is_lock_conflict(error):
            raise
        db.session.rollback()
        raise ConcurrentChange() from None


def record_many(keys: list[tuple]) -> set[tuple]:
    """Insert many reminders' natural keys (rule, object_type, object_id, recipient_id, occurrence_key)
    in one statement; return the keys that were new (the others were recorded before, or by another
    process at the same moment: ON CONFLICT DO NOTHING decides, as in record_once)."""
    from app.notifications.bulk import Writer

    if not keys:
        return set()
    writer = Writer(ReminderSent.__tablename__)
    written = writer.insert(_key_rows(writer, list(dict.fromkeys(keys))), skip_conflicts=True, returning=NATURAL_KEY)
    return {tuple(row) for row in written}


NATURAL_KEY = ("rule", "object_type", "object_id", "recipient_id", "occurrence_key")  # a reminder's, in order


def _key_rows(writer, keys: list[tuple]) -> list[dict]:
    """The reminders_sent rows of `keys` (NATURAL_KEY's values), made by `writer`, of one moment."""
    now = utcnow()
    return [writer.row(dict(zip(NATURAL_KEY, key[:4] + (key[4][:60],)), created_at=now)) for key in keys]


def record_and_notify(reminders: list[tuple[tuple, PreparedNotice | None]]) -> int:
    """Record reminders' natural keys (as record_many) and write the prepared notices (prepared_notices;
    None: the key alone) of those whose key was new (as write_notices); returns how many were. A key given
    twice is recorded once, with the notice given last. On PostgreSQL one statement does it all (the pass's
    writer counts on it: it sends the statement outside a transaction, writing.write_batch)."""
    from app.notifications.bulk import Writer, insert_keyed

    notices = dict((key[:4] + (key[4][:60],), prepared) for key, prepared in reminders)
    if not notices:
        return 0
    if db.engine.dialect.name != "postgresql":
        new = record_many(list(notices))
        write_notices([prepared for key, prepared in notices.items() if key in new and prepared is not None])
        return len(new)
    keys = Writer(ReminderSent.__tablename__)
    told = [(number, prepared) for number, prepared in enumerate(notices.values()) if prepared is not None]
    notified = [(number, prepared.notification) for number, prepared in told]
    mailed = [(number, prepared.mail) for number, prepared in told if prepared.mail is not None]
    return insert_keyed(
        keys,
        _key_rows(keys, list(notices)),
        NATURAL_KEY,
        [(Writer(Notification.__tablename__), notified), (Writer(OutboxMessage.__tablename__), mailed)],
    )


def already_recorded(rule: str, object_type: str, object_id: int, recipient_id: int, occurrence_key: str) -> bool:
    return (
        db.session.scalar(
            select(ReminderSent.id).where(
                ReminderSent.rule == rule,
                ReminderSent.object_type == object_type,
                ReminderSent.object_id == object_id,
                ReminderSent.recipient_id == recipient_id,
                ReminderSent.occurrence_key == occurrence_key[:60],
            )
        )
        is not None
    )


def notify_once(recipient, notice: Notice, *, rule: str, occurrence_key: str) -> bool:
    """Notify unless this (rule, object, recipient, occurrence) was already notified."""
    if recipient is None or not recipient.is_active_account:
        return False
    if not record_once(rule, notice.object_type or "-", notice.object_id or 0, recipient.id, occurrence_key):
        return False
    notify(recipient, notice)
    return True


# --- in the app -----------------------------------------------------------------------


# The bell shows "99+" past 99: counting further would make every page of someone with thousands of
# unread notices (a manager who lets the reminders pile up) cost more than anyone else's.
BELL_COUNTS_UP_TO = 100


def unread_of(user_id):
    """SQL: how many notices of the user `user_id` (a value or a column) are unread (the bell), counted up
    to BELL_COUNTS_UP_TO."""
    unread = (
        select(literal(1))
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(BELL_COUNTS_UP_TO)
        .correlate_except(Notification)
        .subquery()
    )
    return select(func.count()).select_from(unread).scalar_subquery()


def latest_notice_of(user_id):
    """SQL: the id of the latest notice of the user `user_id` (a value or a column), or NULL."""
    return select(func.max(Notification.id)).where(Notification.user_id == user_id).scalar_subquery()


def unread_count(user) -> int:
    """The bell's count: read once per request, or taken from a query that counted it already."""
    return _notices_known(user)[0]


def latest_notice_id(user) -> int | None:
    """The id of the reader's latest notice (a dashboard's version), read like the bell's count. With the
    capped count, all a page shows of the reader's notices: past 99 unread, reading one changes nothing."""
    return _notices_known(user)[1]


def counted_notices(user, unread: int, latest: int | None) -> None:
    """A query of this request (the sign-in's) read the bell's count and the latest notice already."""
    from flask import g, has_request_context

    if has_request_context():
        g.setdefault("sharaka_notices", {})[user.id] = (int(unread or 0), latest)


def _notices_known(user) -> tuple:
    from flask import g, has_request_context

    known = g.setdefault("sharaka_notices", {}) if has_request_context() else {}
    if user.id not in known:
        unread, latest = db.session.execute(select(unread_of(user.id), latest_notice_of(user.id))).one()
        known[user.id] = (unread or 0, latest)
    return known[user.id]


def _bell_changed() -> None:
    """A notice was added or read: what was read of them earlier in this request is stale."""
    from flask import g, has_request_context

    if has_request_context():
        g.pop("sharaka_notices", None)


def notifications_query(user, *, unread_only: bool = False):
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.created_at.desc(), Notification.id.desc())


def mark_read(notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = utcnow()
        _bell_changed()


def mark_settled(kinds, object_type: str, object_id: int, readers=None) -> int:
    """Mark read the unread notices of `kinds` about one object that no longer wait on their readers: every
    reader's, or those `readers` (a condition on Notification.user_id) selects. How many were marked."""
    settled = db.session.execute(
        update(Notification)
        .where(
            Notification.kind.in_(sorted(kinds)),
            Notification.object_type == object_type,
            Notification.object_id == object_id,
            Notification.read_at.is_(None),
            *([readers] if readers is not None else []),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if settled:
        _bell_changed()
    return settled or 0


def mark_all_read(user) -> int:
    _bell_changed()
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return result.rowcount or 0


# --- mail choices and the admin's switch ------------------------------------------------


def is_mandatory(category: str) -> bool:
    return CATEGORIES.get(category, (None, True))[1]


def categories_for(user) -> dict:
    """The categories a person can receive (the weekly digest goes to managers only, the audit anchor
    to auditors only)."""
    return {name: value for name, value in CATEGORIES.items() if may_receive_mail_category(user, name)}


def wants_mail(user, category: str) -> bool:
    if is_mandatory(category):
        return True
    return db.session.get(MailOptOut, (user.id, category)) is None


def switched_off(user) -> set[str]:
    return set(db.session.scalars(select(MailOptOut.category).where(MailOptOut.user_id == user.id)))


def set_mail_choices(user, wanted: set[str]) -> None:
    """Keep mail for `wanted` categories; switch the other optional ones off. Mandatory ones stay on. Only
    the categories the person is offered (categories_for) are touched: an officer saving the page had
    switched off the managers' weekly digest they never saw, and missed it once made a manager."""
    optional = {name for name, (_label, mandatory) in categories_for(user).items() if not mandatory}
    db.session.execute(
        delete(MailOptOut).where(MailOptOut.user_id == user.id, MailOptOut.category.in_(sorted(optional)))
    )
    _switch_off(user, optional - set(wanted))


def switch_off_mail(user, category: str) -> bool:
    """Stop one optional category of mail for `user` (the one-click unsubscribe link); False for a
    mandatory category, which stays on. Switching off twice changes nothing the second time."""
    from app.core import audit

    if is_mandatory(category):
        return False
    if db.session.get(MailOptOut, (user.id, category)) is None:
        _switch_off(user, {category})
        audit.record("mail_unsubscribed", user, actor=user, changes={"category": category}, object_type="users")
    return True


def _switch_off(user, categories: set[str]) -> None:
    """Record `categories` as switched off for `user`, and withdraw their mail of them still waiting to leave
    (mail paused, the server down): the one-click unsubscribe said "done", then that mail went out anyway."""
    for category in sorted(categories):
        db.session.add(MailOptOut(user_id=user.id, category=category))
    if categories:
        db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.recipient_id == user.id,
                OutboxMessage.category.in_(sorted(categories)),
                OutboxMessage.status == "pending",
            )
            .values(status="withdrawn", last_error="The recipient switched this kind of mail off.")
        )


def mail_paused() -> bool:
    setting = db.session.get(Setting, "mail_paused")
    return bool(setting and setting.value)


def set_mail_paused(paused: bool, *, by) -> None:
    from app.core import audit

    setting = db.session.get(Setting, "mail_paused")
    if setting is None:
        setting = Setting(key="mail_paused", value=bool(paused), updated_by_id=getattr(by, "id", None))
        db.session.add(setting)
    else:
        setting.value, setting.updated_by_id = bool(paused), getattr(by, "id", None)
    db.session.flush()
    # Audit rows need an object id; the site-wide settings are object 0.
    audit.record("mail_paused" if paused else "mail_resumed", SimpleNamespace(id=0), actor=by, object_type="settings")


# --- personal calendar feed ----------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_calendar_feed(user) -> str:
    """A new secret address for the user's calendar (the old one stops working). Returns the token once."""
    token = secrets.token_urlsafe(32)
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        db.session.add(CalendarFeed(user_id=user.id, token_hash=_hash(token)))
    else:
        feed.token_hash, feed.created_at, feed.last_used_at = _hash(token), utcnow(), None
    return token


def revoke_calendar_feed(user) -> None:
    db.session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))


def calendar_feed_of(user) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def user_for_calendar_token(token: str):
    """The active owner of a feed token, or None (unknown, revoked, or account switched off)."""
    if not token or len(token) > 200:
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    if feed is None or not feed.user.is_active_account:
        return None
    now = utcnow()
    if feed.last_used_at is None or (now - feed.last_used_at).total_seconds() > 3600:
        feed.last_used_at = now  # hourly is enough, and keeps calendar polling from writing on every fetch
        commit_bookkeeping(feed)  # on its own: a calendar program is never refused for it
    return feed.user
