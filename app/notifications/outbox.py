"""The outbox sender: claim due messages with a lease, send them, mark them sent.

Guarantee: a message is never lost, and is sent more than once only when a
sender dies between the SMTP server accepting it and the commit that marks it
sent (then at most once more per such crash: its lease expires and another
pass sends it again, with the same Message-ID). Each message is committed on
its own, so a crash costs at most that one message.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from app.core import audit
from app.core.mail import ConnectionFailed, PermanentMailError, SMTPConnection, TemporaryMailError, build_message
from app.core.models import utcnow
from app.extensions import db
from app.notifications.models import OutboxMessage
from app.notifications.services import mail_paused

log = logging.getLogger("sharaka.outbox")


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: str | None = None  # why nothing was sent (no server configured, paused)
    unreachable: str | None = None  # the SMTP server could not be reached


    def __str__(self) -> str:
        if self.held:
            return f"outbox held: {self.held}"
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed for good"
        return text + (f" (SMTP server unreachable: {self.unreachable})" if self.unreachable else "")


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _due(now: datetime):
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        # A sender that died holding a lease: take its messages over once the lease is over.
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )


def claim(worker: str, now: datetime, limit: int) -> list[int]:
    """Atomically take up to `limit` due messages for `worker`; commits the claim.

    One conditional UPDATE: on PostgreSQL the candidate rows are locked with
    SKIP LOCKED so two senders take different rows; on SQLite writers are
    serialised and the repeated condition keeps a row from being taken twice.
    """
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    candidates = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (update(OutboxMessage)
                 .where(OutboxMessage.id.in_(candidates.scalar_subquery()), _due(now))
                 .values(status="sending", claimed_by=worker, lease_until=now + lease,
                         attempts=OutboxMessage.attempts + 1)
                 .returning(OutboxMessage.id)
                 .execution_options(synchronize_session=False))
    ids = sorted(db.session.execute(statement).scalars())
    db.session.commit()
    return ids


def _settle(message_id: int, worker: str, **values) -> bool:
    """Change a message we hold; False if our lease was lost to another sender meanwhile."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_by == worker,
               OutboxMessage.status == "sending")
        .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def send_batch(*, now: datetime | None = None, worker: str | None = None, limit: int | None = None) -> SendReport:
    """Send one batch of due messages."""
    config = current_app.config
    report = SendReport()
    if not config.get("MAIL_SERVER"):
        report.held = "MAIL_SERVER is not set; messages wait in the outbox"
        return report
    if mail_paused():
        db.session.rollback()
        report.held = "mail is paused by an administrator"
        return report
    now = now or utcnow()
    worker = worker or worker_name()
    ids = claim(worker, now, limit or config["MAIL_BATCH_SIZE"])
    if not ids:
        return report
    connection = SMTPConnection(config)
    try:
        for position, message_id in enumerate(ids):
            message = db.session.get(OutboxMessage, message_id)
            if message is None or message.claimed_by != worker or message.status != "sending":
                continue
            try:
                email = build_message(
                    sender=config["MAIL_DEFAULT_SENDER"], to=message.to_address, subject=message.subject,
                    text=message.body_text, html=message.body_html, message_id=message.message_id,
                    language=message.language, extra_headers={"X-Sharaka-Outbox-Id": str(message.id)})
            except (ValueError, TypeError) as error:  # an address or header no server would take
                _fail(message, worker, f"cannot build the message: {error}")
                report.failed += 1
                continue
            try:
                connection.send(email)
            except ConnectionFailed as error:
                # The server is unreachable: nothing is wrong with the messages. Give
                # them all back without counting an attempt, and stop this batch.
                for waiting_id in ids[position:]:
                    _settle(waiting_id, worker, status="pending", claimed_by=None, lease_until=None,
                            attempts=OutboxMessage.attempts - 1, last_error=str(error)[:2000],
                            next_attempt_at=utcnow() + timedelta(seconds=config["MAIL_RETRY_SECONDS"]))
                    report.retried += 1
                db.session.commit()
                report.unreachable = str(error)
                log.warning("SMTP server unreachable: %s", error)
                break
            except PermanentMailError as error:
                _fail(message, worker, str(error))
                report.failed += 1
            except TemporaryMailError as error:
                if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
                    _fail(message, worker, str(error))
                    report.failed += 1
                else:
                    _settle(message.id, worker, status="pending", claimed_by=None, lease_until=None,
                            last_error=str(error)[:2000], next_attempt_at=utcnow() + backoff(message.attempts))
                    report.retried += 1
                db.session.commit()
            else:
                if _settle(message.id, worker, status="sent", sent_at=utcnow(), lease_until=None, last_error=None):
                    audit.record("mail_sent", message, object_type="outbox_messages", changes={
                        "to": message.to_address, "kind": message.kind, "message_id": message.message_id,
                        "attempt": message.attempts})
                    report.sent += 1
                db.session.commit()
    finally:
        connection.close()
        db.session.expire_all()
    return report


def _fail(message: OutboxMessage, worker: str, error: str) -> None:
    if _settle(message.id, worker, status="failed", lease_until=None, last_error=error[:2000]):
        audit.record("mail_failed", message, object_type="outbox_messages", comment=error[:2000], changes={
            "to": message.to_address, "kind": message.kind, "attempts": message.attempts})
    db.session.commit()
    log.error("mail %s to %s failed for good: %s", message.id, message.to_address, error)


def send_due(*, now: datetime | None = None, max_batches: int = 1000) -> SendReport:
    """Send batches until nothing is due (or the server goes away)."""
    total = SendReport()
    worker = worker_name()
    for _ in range(max_batches):
        report = send_batch(now=now, worker=worker)
        if report.held:
            return report
        total.sent += report.sent
        total.retried += report.retried
        total.failed += report.failed
        total.unreachable = report.unreachable
        if report.unreachable or report.sent + report.retried + report.failed == 0:
            break
    return total


def retry(message: OutboxMessage, *, by) -> None:
    """An admin sends a failed message again."""
    # Attempts start again (the last error stays until the next try); the audit row keeps the count.
    audit.record("mail_requeued", message, actor=by, object_type="outbox_messages",
                 changes={"attempts_before": message.attempts, "last_error": message.last_error})
    message.status, message.next_attempt_at, message.attempts = "pending", utcnow(), 0
    message.claimed_by = message.lease_until = None


def outbox_counts() -> dict[str, int]:
    from sqlalchemy import func

    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    counts = {status: 0 for status in ("pending", "sending", "sent", "failed")}
    counts.update({status: count for status, count in rows})
    return counts
