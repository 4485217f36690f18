"""The outbox sender: claim due messages with a lease, send them, mark them sent.

Guarantee: a message is never lost, and is sent more than once only when a
sender dies (or freezes longer than the lease) between the SMTP server
accepting it and the commit that marks it sent — then at most once more per
such crash, with the same Message-ID. Contention alone never duplicates:

- a claim takes at most one batch (a materialised CTE with SKIP LOCKED on
  PostgreSQL; BEGIN IMMEDIATE on SQLite), under a claim token of its own;
- leases are counted on the database's clock and renewed by a heartbeat while
  the sender lives, so a slow SMTP server never lets another sender take over;
- before each message the sender checks it still holds it, and it settles
  only rows claimed under its own token;
- every write is a short transaction retried on lock conflicts, so a busy
  database cannot make a sender crash after the SMTP server said yes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from app.core import audit
from app.core.db import database_now, write_transaction
from app.core.mail import ConnectionFailed, PermanentMailError, SMTPConnection, TemporaryMailError, build_message
from app.core.processes import is_gone
from app.extensions import db
from app.notifications.lapsed import lapsed, sent_without_links
from app.notifications.models import ASKED_FOR, CATEGORIES, OUTBOX_STATUSES, OutboxMessage
from app.notifications.services import absolute_url, app_path, bodies_of, is_mandatory, mail_paused
from app.notifications.unsubscribe import unsubscribe_url

log = logging.getLogger("sharaka.outbox")

# `flask outbox send` / `flask reminders run` exit codes (README, "Exit codes").
EXIT_OK, EXIT_ERROR, EXIT_SMTP_UNREACHABLE = 0, 1, 3


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    claimed: int = 0
    lost: int = 0  # claimed, then taken over by another sender before we sent them
    withdrawn: int = 0  # reminders no longer true when they would have left (lapsed.py)
    held: str | None = None  # why nothing was sent (no server configured, paused)
    held_because: str | None = None  # the same as a key: "no_server" or "paused"
    unreachable: str | None = None  # the SMTP server could not be reached
    stopped: bool = False  # the process is being stopped: the rest of the batch was given back
    interrupted: int = 0  # how many: nothing wrong with them, not retries (the jobs page says which)

    def __str__(self) -> str:
        if self.held:
            return f"outbox held: {self.held}"
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed for good"
        text += f", {self.withdrawn} withdrawn (no longer true)" if self.withdrawn else ""
        text += f", {self.interrupted} given back (the sender was stopped)" if self.interrupted else ""
        return text + (f" (SMTP server unreachable: {self.unreachable})" if self.unreachable else "")

    @property
    def exit_code(self) -> int:
        return EXIT_SMTP_UNREACHABLE if self.unreachable else EXIT_OK


@dataclass(frozen=True)
class Claimed:
    """What the sender needs of a claimed row, read once (no ORM object kept across commits)."""

    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str
    message_id: str
    language: str
    kind: str
    attempts: int
    recipient_id: int | None
    category: str
    object_id: int | None
    created_at: datetime  # when it was written: its Date header


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def release_abandoned() -> int:
    """Give back at once the messages claimed by a sender of this machine that is gone (killed): their lease
    held them "being sent" for MAIL_LEASE_SECONDS while newer mail went first. A sender on another machine
    keeps its lease (no way to ask it), as exports do (exports.services.requeue_abandoned)."""
    tokens = db.session.scalars(
        select(OutboxMessage.claimed_by).where(OutboxMessage.status == "sending").distinct()
    ).all()
    db.session.rollback()
    gone = [token for token in tokens if token and _sender_gone(token)]
    if not gone:
        return 0

    def work():
        return db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.claimed_by.in_(gone))
            .values(status="pending", claimed_by=None, lease_until=None, next_attempt_at=database_now())
            .execution_options(synchronize_session=False)
        ).rowcount

    released = write_transaction(work)
    if released:
        log.info("outbox: %d message(s) of a stopped sender given back", released)
    return released


def _sender_gone(token: str) -> bool:
    """Whether the worker_name() at the start of a claim token was a process of this machine, now gone.

    This process's own number counts as gone: its sends run one after the other (send_due, which asks this
    before it claims anything), so a claim of its number was left by an earlier send that could not settle
    (the database out of reach), or by the process before a restart that got the same number (a container's
    first process is always 1), whose messages then waited out their lease while newer mail went first."""
    host, _, rest = token.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return False
    return int(pid) == os.getpid() or is_gone(f"{socket.gethostname()[:80]}:{pid}") is True


def _due(now: datetime):
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        # A sender that died holding a lease: take its messages over once the lease is over.
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )


def claim_statement(token: str, now: datetime, lease_until: datetime, limit: int, dialect: str):
    """The one statement that claims up to `limit` due messages for `token`.

    PostgreSQL: the candidates are picked in a MATERIALIZED CTE, run once, so LIMIT
    holds (as `id IN (subquery … LIMIT n FOR UPDATE SKIP LOCKED)` the planner may
    re-run the subquery per row and take the whole queue). SQLite has one writer at a
    time (the caller holds the write lock), and the repeated condition keeps a row
    from being taken twice.
    """
    values = dict(status="sending", claimed_by=token, lease_until=lease_until, attempts=OutboxMessage.attempts + 1)
    candidates = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if dialect == "postgresql":
        picked = candidates.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        where = [OutboxMessage.id == picked.c.id]
    else:
        where = [OutboxMessage.id.in_(candidates.scalar_subquery()), _due(now)]
    return (
        update(OutboxMessage)
        .where(*where)
        .values(**values)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )


def claim(token: str, now: datetime | None, limit: int) -> list[int]:
    """Atomically take up to `limit` due messages under `token`; commits the claim."""

    def work():
        clock = database_now()
        lease_until = clock + timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
        statement = claim_statement(token, now or clock, lease_until, limit, db.engine.dialect.name)
        return sorted(db.session.execute(statement).scalars())

    return write_transaction(work)


def _load(ids: list[int]) -> list[Claimed]:
    _write_missing_bodies(ids)
    rows = db.session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.to_address,
            OutboxMessage.subject,
            OutboxMessage.body_text,
            OutboxMessage.body_html,
            OutboxMessage.message_id,
            OutboxMessage.language,
            OutboxMessage.kind,
            OutboxMessage.attempts,
            OutboxMessage.recipient_id,
            OutboxMessage.category,
            OutboxMessage.object_id,
            OutboxMessage.created_at,
        )
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()
    db.session.rollback()  # end the read: nothing holds a snapshot while we talk to the SMTP server
    return [Claimed(*row) for row in rows]


def _write_missing_bodies(ids: list[int]) -> None:
    """Write the bodies a reminder pass left to the sender (messages we hold under our claim), once:
    a message sent again after a crash carries the same text."""
    waiting = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.body_text.is_(None))
        .options(selectinload(OutboxMessage.recipient))
    ).all()
    if not waiting:
        return
    written = {message.id: bodies_of(message) for message in waiting}

    def work():
        for message_id, (body_text, body_html) in written.items():
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(body_text=body_text, body_html=body_html)
            )

    write_transaction(work)


def _without_expired_links(messages: list[Claimed], token: str, no_longer_true: dict[int, str]) -> list[Claimed]:
    """`messages`, the approval requests among them whose one-click links expired while they waited written
    again without them (lapsed.sent_without_links), and stored so (what the outbox shows is what was sent)."""
    rewrite = sent_without_links([m for m in messages if m.id not in no_longer_true])
    if not rewrite:
        return messages
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(rewrite)).options(selectinload(OutboxMessage.recipient))
    ).all()
    written = {row.id: bodies_of(row, rewrite[row.id]) for row in rows}

    def work():
        for message_id, (body_text, body_html) in written.items():
            _settle(message_id, token, body_text=body_text, body_html=body_html)

    write_transaction(work)
    return [
        replace(m, body_text=written[m.id][0], body_html=written[m.id][1]) if m.id in written else m for m in messages
    ]


def _held(message_id: int, token: str) -> bool:
    """Do we still hold this message (our claim, lease not over by the database's clock)?"""
    held = db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.id == message_id,
            OutboxMessage.claimed_by == token,
            OutboxMessage.status == "sending",
            OutboxMessage.lease_until > database_now(),
        )
    )
    db.session.rollback()
    return held is not None


def _settle(message_id: int, token: str, **values) -> bool:
    """Change a message we claimed; False if another sender took it over meanwhile."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_by == token, OutboxMessage.status == "sending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


class Heartbeat:
    """Renews the lease of one claim every third of the lease, on its own connection,
    until stopped: only a sender that died or froze loses its messages to another."""

    def __init__(self, token: str, lease_seconds: int):
        self.token, self.lease = token, timedelta(seconds=lease_seconds)
        self.interval = max(lease_seconds / 3, 0.2)
        self.engine = db.engine
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lease-{token}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.renew()
            except OperationalError as error:
                # Busy or briefly unreachable: the lease still has two thirds to run; try again.
                log.warning("lease renewal for %s failed: %s", self.token, error)

    def renew(self) -> None:
        with self.engine.connect() as connection:
            connection.execution_options(sqlite_immediate=True)
            with connection.begin():
                now = database_now(connection)
                connection.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.claimed_by == self.token,
                        OutboxMessage.status == "sending",
                        OutboxMessage.lease_until >= now,
                    )
                    .values(lease_until=now + self.lease)
                )


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


# Why mail is held, by held_because()'s key, for the log and `flask outbox send`.
HELD_REASONS = {
    "no_server": "MAIL_SERVER is not set; messages wait in the outbox",
    "paused": "mail is paused by an administrator",
}


def held_because() -> str | None:
    """Why nothing can be sent now: "no_server", "paused", or None (the sender and the outbox pages)."""
    if not current_app.config.get("MAIL_SERVER"):
        return "no_server"
    return "paused" if mail_paused() else None


def send_batch(
    *,
    now: datetime | None = None,
    worker: str | None = None,
    limit: int | None = None,
    stopping: Callable[[], bool] | None = None,
) -> SendReport:
    """Send one batch of due messages (`now`: treat messages as due at this moment, the database's clock when
    not given; `stopping()`: the process is being stopped, the messages not sent yet are given back)."""
    config = current_app.config
    report = SendReport()
    report.held_because = held_because()
    db.session.rollback()
    if report.held_because:
        report.held = HELD_REASONS[report.held_because]
        return report
    token = f"{worker or worker_name()}:{uuid.uuid4().hex[:6]}"
    moment = now or database_now()
    ids = claim(token, moment, limit or config["MAIL_BATCH_SIZE"])
    report.claimed = len(ids)
    if not ids:
        return report
    connection = SMTPConnection(config)
    try:
        with Heartbeat(token, config["MAIL_LEASE_SECONDS"]):
            _send_claimed(_load(ids), token, connection, report, moment, stopping)
    finally:
        connection.close()
        db.session.expire_all()
    return report


def _give_back(waiting: list[Claimed], token: str, error: str, after_seconds: int) -> int:
    """Return claimed messages to the queue without counting an attempt (nothing was wrong with them)."""

    def work():
        retry_at = database_now() + timedelta(seconds=after_seconds)
        return sum(
            _settle(
                m.id,
                token,
                status="pending",
                claimed_by=None,
                lease_until=None,
                attempts=OutboxMessage.attempts - 1,
                last_error=error[:2000],
                next_attempt_at=retry_at,
            )
            for m in waiting
        )

    return write_transaction(work)


def _send_claimed(
    messages: list[Claimed],
    token: str,
    connection: SMTPConnection,
    report: SendReport,
    moment: datetime,
    stopping: Callable[[], bool] | None = None,
) -> None:
    """Send claimed messages; `moment`: when they were found due (see _retry_at)."""
    config = current_app.config
    preferences_url = absolute_url(app_path("notifications.preferences"))
    with force_locale("en"):  # kept on the message as its error is, in English; the page translates
        no_longer_true = lapsed(messages)
    messages = _without_expired_links(messages, token, no_longer_true)
    db.session.rollback()
    for position, message in enumerate(messages):
        if stopping is not None and stopping():
            # Between two messages, not after the batch: at a slow relay's pace a batch outlasted the service
            # manager's patience, which then killed the process mid-message (the one way to send one twice).
            report.interrupted += _give_back(messages[position:], token, "The sender was stopped before sending it.", 0)
            report.stopped = True
            log.info("outbox: stopping; %d message(s) given back", len(messages) - position)
            return
        if not _held(message.id, token):
            report.lost += 1
            continue
        if message.id in no_longer_true:
            _withdraw(message, token, no_longer_true[message.id])
            report.withdrawn += 1
            continue
        # Each message its own signed link (its recipient, its category); one click for optional mail.
        one_click = message.recipient_id is not None and not is_mandatory(message.category)
        # Mail to an address with no account (an invitation) has no choices to point to: no header.
        # Nor to mail the person asked for (a password reset): no choice to make, so no header.
        unsubscribe = (
            None
            if message.recipient_id is None or message.category in ASKED_FOR
            else unsubscribe_url(message.recipient_id, message.category)
            if message.category in CATEGORIES
            else preferences_url
        )
        try:
            email = build_message(
                sender=config["MAIL_DEFAULT_SENDER"],
                to=message.to_address,
                subject=message.subject,
                text=message.body_text,
                html=message.body_html,
                message_id=message.message_id,
                language=message.language,
                extra_headers={"X-Sharaka-Outbox-Id": str(message.id)},
                timezone=config["MINISTRY_TIMEZONE"],
                unsubscribe_url=unsubscribe,
                one_click=one_click,
                written_at=message.created_at,
            )
        except (ValueError, TypeError) as error:  # an address or header no server would take
            _fail(message, token, f"cannot build the message: {error}")
            report.failed += 1
            continue
        try:
            connection.send(email)
        except ConnectionFailed as error:
            # The server is unreachable (or refuses our sender): nothing is wrong with the messages. Give
            # them all back without counting an attempt, and stop this batch.
            report.retried += _give_back(messages[position:], token, str(error), config["MAIL_RETRY_SECONDS"])
            report.unreachable = str(error)
            log.warning("SMTP server unreachable: %s", error)
            return
        except PermanentMailError as error:
            _fail(message, token, str(error))
            report.failed += 1
        except TemporaryMailError as error:
            if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
                _fail(message, token, str(error))
                report.failed += 1
            else:
                write_transaction(
                    lambda m=message, e=str(error)[:2000]: _settle(
                        m.id,
                        token,
                        status="pending",
                        claimed_by=None,
                        lease_until=None,
                        last_error=e,
                        next_attempt_at=_retry_at(moment, m.attempts),
                    )
                )
                report.retried += 1
        else:
            # Accepted by the server: recorded through a database outage too, or it would be sent again.
            if write_transaction(lambda m=message: _mark_sent(m, token), through_outages=True):
                report.sent += 1


def _retry_at(moment: datetime, attempts: int) -> datetime:
    """When a message refused for now is due again: its backoff after the moment it was found due, or after
    this instant if later. Counted from the moment, a run "as if it were" a later time (`outbox send --at`)
    does not find it due again at once: counted from the real clock only, long before that moment, it was
    taken again batch after batch and used up every attempt within a second. Counted from this instant too,
    a long run does not shorten the backoff of a message tried near its end."""
    return max(moment, database_now()) + backoff(attempts)


def _mark_sent(message: Claimed, token: str) -> bool:
    if not _settle(message.id, token, status="sent", sent_at=database_now(), lease_until=None, last_error=None):
        return False
    audit.record(
        "mail_sent",
        _Ref(message.id),
        object_type="outbox_messages",
        changes={
            "to": message.to_address,
            "kind": message.kind,
            "message_id": message.message_id,
            "attempt": message.attempts,
        },
    )
    return True


@dataclass(frozen=True)
class _Ref:
    """Just an id for the audit trail (the sender keeps no ORM object across commits)."""

    id: int


def _fail(message: Claimed, token: str, error: str) -> None:
    def work():
        if _settle(message.id, token, status="failed", lease_until=None, last_error=error[:2000]):
            audit.record(
                "mail_failed",
                _Ref(message.id),
                object_type="outbox_messages",
                comment=error[:2000],
                changes={"to": message.to_address, "kind": message.kind, "attempts": message.attempts},
            )

    write_transaction(work)
    log.error("mail %s to %s failed for good: %s", message.id, message.to_address, error)


def _withdraw(message: Claimed, token: str, why: str) -> None:
    def work():
        # Not an attempt: the message never reached the SMTP server (the claim counted one).
        withdrawn = _settle(
            message.id, token, status="withdrawn", lease_until=None, last_error=why, attempts=OutboxMessage.attempts - 1
        )
        if withdrawn:
            audit.record(
                "mail_withdrawn",
                _Ref(message.id),
                object_type="outbox_messages",
                comment=why,
                changes={"to": message.to_address, "kind": message.kind},
            )

    write_transaction(work)
    log.info("mail %s to %s withdrawn: %s", message.id, message.to_address, why)


def send_due(
    *, now: datetime | None = None, max_batches: int = 1000, stopping: Callable[[], bool] | None = None
) -> SendReport:
    """Send batches until nothing due at `now` (this instant when not given) is left, or the server goes
    away, or `stopping()` says the process is being stopped: the batch under way is finished, the rest waits
    for the next run."""
    total = SendReport()
    worker = worker_name()
    release_abandoned()
    # One moment for the whole run: what was due when it began. A message tried in this run (its next try
    # is after this moment, _retry_at) is not taken again by a later batch of the same run.
    moment = now or database_now()
    for _ in range(max_batches):
        if stopping is not None and stopping():
            break
        report = send_batch(now=moment, worker=worker, stopping=stopping)
        if report.held:
            return report
        for field in ("sent", "retried", "failed", "claimed", "lost", "withdrawn", "interrupted"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
        total.unreachable, total.stopped = report.unreachable, report.stopped
        if report.unreachable or report.stopped or report.claimed == 0:
            break
    return total


def retry(message: OutboxMessage, *, by) -> None:
    """An admin sends a failed message again."""
    audit.record(
        "mail_requeued",
        message,
        actor=by,
        object_type="outbox_messages",
        changes={"attempts_before": message.attempts, "last_error": message.last_error},
    )
    _send_again(message)


def retry_all_failed(*, by) -> tuple[int, int]:
    """An admin sends again, at once, every message that failed for good: not one still being retried
    (that one is pending), nor one no longer true (`lapsed`: retry()'s route refuses those one by one).
    One audit row says how many. Returns (how many go again, how many were left as no longer true)."""
    # Locked, so two admins at once do not both count (and reset) the same messages: the second,
    # let through, finds them pending and leaves them (PostgreSQL re-checks the WHERE; SQLite has one writer).
    failed = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed").with_for_update()))
    no_longer_true = lapsed(failed)
    again = [message for message in failed if message.id not in no_longer_true]
    for message in again:
        _send_again(message)
    if again:
        # The outbox as a whole is object 0, as the site-wide settings are.
        audit.record(
            "mail_requeued_all",
            _Ref(0),
            actor=by,
            object_type="outbox_messages",
            changes={"count": len(again), "no_longer_true": len(no_longer_true)},
        )
    return len(again), len(no_longer_true)


def _send_again(message: OutboxMessage) -> None:
    # Attempts start again (the last error stays until the next try); the audit row keeps the count.
    message.status, message.next_attempt_at, message.attempts = "pending", database_now(), 0
    message.claimed_by = message.lease_until = None


def outbox_counts() -> dict[str, int]:
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    counts = {status: 0 for status in OUTBOX_STATUSES}
    counts.update({status: count for status, count in rows})
    return counts
