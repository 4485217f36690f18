"""What a job does when one agreement (or one reminder) fails while the others go on.

The failing item was rolled back alone (its own savepoint or transaction). Here it is made
visible once, not logged every hour forever: an audit row on the agreement and a notice to
every active admin, the first time this job meets this error on this item; and the job's
record keeps the list (shown on /admin/jobs and by `flask jobs status`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass

from sqlalchemy import select

from app.core import audit
from app.core.audit import AuditEvent
from app.core.permissions import holders_clause
from app.extensions import db

log = logging.getLogger("sharaka.jobs")
MAX_KEPT = 20  # items kept on the job's record (the audit trail has every one)


@dataclass
class ItemFailure:
    step: str  # the transition or reminder rule
    error: str
    object_type: str = "agreements"
    object_id: int | None = None
    reference: str | None = None
    agreement_id: int | None = None

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.step}\n{self.error}".encode()).hexdigest()[:16]


def failures_from_results(results) -> list[ItemFailure]:
    """The failed lines of run_date_transitions' results."""
    from app.agreements.models import Agreement

    failures = []
    for reference, transition, outcome in results:
        if not outcome.startswith("failed: "):
            continue
        agreement_id = db.session.scalar(select(Agreement.id).where(Agreement.reference == reference))
        failures.append(
            ItemFailure(
                step=transition,
                error=outcome.removeprefix("failed: "),
                object_id=agreement_id,
                reference=reference,
                agreement_id=agreement_id,
            )
        )
    return failures


def _agreement_of(failure: ItemFailure):
    from app.agreements.models import Agreement
    from app.deliverables.models import Occurrence

    if failure.object_type == "agreements" and failure.object_id:
        return db.session.get(Agreement, failure.object_id)
    if failure.object_type == "deliverable_occurrences" and failure.object_id:
        occurrence = db.session.get(Occurrence, failure.object_id)
        return occurrence.deliverable.agreement if occurrence is not None else None
    return None


def report_failures(job: str, failures: list[ItemFailure]) -> list[dict]:
    """Record each failure (audit + admins' notice, once per job, item and error); the caller
    commits. Returns what the job's record keeps."""
    from app.auth.models import User
    from app.notifications.services import Notice, app_path, notify_once

    if not failures:
        return []
    admins = list(
        db.session.scalars(
            select(User).where(holders_clause("mail.job_failed"), User.is_active_account.is_(True)).order_by(User.id)
        )
    )
    for failure in failures:
        agreement = _agreement_of(failure)
        if agreement is not None:
            failure.reference, failure.agreement_id = agreement.reference, agreement.id
        log.error("%s: %s %s failed: %s", job, failure.reference or failure.object_type, failure.step, failure.error)
        occurrence_key = f"{job}:{failure.key}"
        if agreement is not None and not _already_recorded(agreement, occurrence_key):
            audit.record(
                "job_failed",
                agreement,
                changes={"job": job, "step": failure.step, "error": failure.error, "key": occurrence_key},
            )
        link = app_path("operations.list_jobs")
        for admin in admins:
            notify_once(
                admin,
                Notice(
                    kind="job_failed",
                    category="job_failed",
                    link=link,
                    object_type=failure.object_type,
                    object_id=failure.object_id or 0,
                    params={
                        "job": job,
                        "reference": failure.reference or "—",
                        "step": failure.step,
                        "error": failure.error[:300],
                    },
                ),
                rule="job_failed",
                occurrence_key=occurrence_key,
            )
    return [asdict(f) for f in failures[:MAX_KEPT]]


def _already_recorded(agreement, occurrence_key: str) -> bool:
    last = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "agreements",
            AuditEvent.object_id == agreement.id,
            AuditEvent.action == "job_failed",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return last is not None and (last.changes or {}).get("key") == occurrence_key
