"""A government-sized portfolio in bulk INSERTs: minutes, not hours.

    build(url, agreements=10_000)   # on a migrated, empty database (SQLite or PostgreSQL)

On top of the demo portfolio (its users sign in to the benchmark): 300 partner
organisations, 40 officers, N agreements in a realistic mix of types and stages, their
parties, deliverables (~10 occurrences per agreement, most of the past ones handed in), approval
rounds and decisions, negotiation rounds, notices, and an audit trail of at least
100 rows per agreement (1,000,000 at 10,000 agreements).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, insert, select, text

from app.agreements.models import Agreement, AgreementParty
from app.auth.models import User
from app.core import clock
from app.core.audit import AuditEvent, chain_head, move_chain_head, row_digest
from app.deliverables.models import Deliverable, Occurrence, Submission, fill_first_hand_ins
from app.extensions import db
from app.notifications.models import Notification
from app.organizations.models import Organization
from app.workflow.models import ApprovalDecision, ApprovalRound, NegotiationRound
from app.workflow.stage_history import rebuild

# Stage mix of a living portfolio: most agreements in force or finished, a tenth being drafted.
STATES = [
    ("draft", 10),
    ("internal_review", 6),
    ("negotiation", 8),
    ("signature", 4),
    ("signed", 3),
    ("active", 40),
    ("suspended", 2),
    ("expired", 15),
    ("closed", 8),
    ("cancelled", 4),
]
TYPES = [("mou", 50), ("convention", 35), ("protocol", 15)]
PATH = ["draft", "internal_review", "negotiation", "signature", "signed", "active"]
IN_FORCE = {"signed", "active", "suspended", "expired", "closed"}
CHUNK = 5_000
AUDIT_PER_AGREEMENT = 100


class Progress:
    def __init__(self, label: str, total: int):
        self.label, self.total, self.done, self.started = label, max(total, 1), 0, time.perf_counter()

    def add(self, count: int) -> None:
        self.done += count
        width = 30
        filled = int(width * min(self.done, self.total) / self.total)
        sys.stderr.write(
            f"\r  {self.label:<22} [{'#' * filled}{'.' * (width - filled)}] {self.done:>9,}"
            f"  {time.perf_counter() - self.started:5.1f} s"
        )
        sys.stderr.flush()

    def end(self) -> None:
        sys.stderr.write("\n")


def _insert(model, rows: list[dict], progress: Progress | None = None) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(model), rows[start : start + CHUNK])
        if progress:
            progress.add(len(rows[start : start + CHUNK]))


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def build(agreements: int, *, seed: int = 18, today: date | None = None) -> dict:
    """Add the portfolio to the database of the current app context; commit; return counts."""
    rng = random.Random(seed)
    today = today or clock.today()
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
    demo_partner_orgs = list(
        db.session.scalars(
            select(Organization.id).where(
                Organization.is_home.is_(False),
                Organization.id.in_(select(User.organization_id).where(User.role == "partner")),
            )
        )
    )
    password_hash = db.session.scalar(select(User.password_hash).where(User.role == "officer"))
    _insert(
        Organization,
        [
            {
                "slug": f"bench-partner-{n}",
                "name_fr": f"Partenaire {n}",
                "name_en": f"Partner {n}",
                "kind": rng.choice(["company", "university", "ngo", "public_body"]),
                "is_home": False,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(300)
        ],
    )
    partners = list(db.session.scalars(select(Organization.id).where(Organization.slug.like("bench-partner-%"))))
    _insert(
        User,
        [
            {
                "email": f"bench.officer{n}@example.ma",
                "full_name": f"Officer {n}",
                "role": "officer",
                "organization_id": home.id,
                "password_hash": password_hash,
                "language": "fr",
            }
            for n in range(40)
        ],
    )
    staff = {
        role: list(db.session.scalars(select(User.id).where(User.role == role).order_by(User.id)))
        for role in ("officer", "manager", "legal")
    }
    owners = staff["officer"] + staff["manager"]

    # Agreements: the demo officers and managers own a share like everyone else's.
    progress = Progress("agreements", agreements)
    first_number = (db.session.scalar(select(func.count()).select_from(Agreement)) or 0) + 1
    rows = []
    for n in range(agreements):
        state = _pick(rng, STATES)
        kind = _pick(rng, TYPES)
        created = now - timedelta(days=rng.randint(30, 365 * 4))
        signed_on = effective_on = expires_on = None
        if state in IN_FORCE:
            signed_on = min((created + timedelta(days=rng.randint(20, 200))).date(), today)
            effective_on = signed_on
            years = rng.choice([1, 2, 3, 5])
            expires_on = signed_on + relativedelta(years=years)
            if state in ("expired", "closed"):
                expires_on = min(expires_on, today - timedelta(days=rng.randint(1, 300)))
                expires_on = max(expires_on, effective_on + timedelta(days=1))
            elif expires_on <= today:
                expires_on = today + timedelta(days=rng.randint(1, 700))
        rows.append(
            {
                "reference": f"GOV-{first_number + n:06d}",
                "type": kind,
                "state": state,
                "title_fr": f"Convention de partenariat n° {n}",
                "title_en": f"Partnership agreement no. {n}",
                "search_text": f"gov-{first_number + n:06d} convention de partenariat {n}",
                "owner_id": owners[n % len(owners)],
                "signed_on": signed_on,
                "effective_on": effective_on,
                "expires_on": expires_on,
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "state_entered_at": now - timedelta(days=rng.randint(0, 120)),
            }
        )
    _insert(Agreement, rows, progress)
    progress.end()
    created_rows = db.session.execute(
        select(Agreement.id, Agreement.state, Agreement.signed_on, Agreement.expires_on, Agreement.created_at)
        .where(Agreement.reference.like("GOV-%"))
        .order_by(Agreement.id)
    ).all()
    # Parties: the demo partners take part in a few dozen each, the others share the rest.
    party_rows, partner_of = [], {}
    for index, row in enumerate(created_rows):
        organization = (
            demo_partner_orgs[index % len(demo_partner_orgs)]
            if demo_partner_orgs and index % 150 == 0
            else partners[index % len(partners)]
        )
        partner_of[row.id] = organization
        party_rows.append({"agreement_id": row.id, "organization_id": organization, "role": "partner"})
        if index % 7 == 0:
            party_rows.append(
                {
                    "agreement_id": row.id,
                    "organization_id": partners[(index * 13 + 5) % len(partners)],
                    "role": "partner",
                }
            )
    _insert(AgreementParty, party_rows)

    counts = _deliverables(rng, created_rows, partner_of, home.id, today, now)
    counts.update(_workflow(rng, created_rows, staff, now))
    counts["audit_events"] = _audit(rng, created_rows, now)
    progress = Progress("stays in stages", len(created_rows))
    for start in range(0, len(created_rows), CHUNK):
        chunk = [row.id for row in created_rows[start : start + CHUNK]]
        rebuild(db.session.connection(), chunk)  # bulk rows bypass the flush listener
        progress.add(len(chunk))
    progress.end()
    _notifications(created_rows, staff, now)
    db.session.commit()
    counts["agreements"] = agreements
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def settle() -> None:
    """The database as production's autovacuum leaves one after a bulk load (PostgreSQL vacuums a table
    once inserts pass a fifth of it): vacuumed, so each table's visibility map lets an index-only scan
    read the index alone, and analysed. Only analysed, the 10,000-agreement portfolio's stage analytics
    fetched each of its 40,270 stays from the table (19 ms; 5 ms vacuumed): the pages' figures were a
    database no production server keeps. Nothing to do on SQLite, which keeps no visibility map."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))


def _deliverables(rng, created_rows, partner_of, home_id, today, now) -> dict:
    """A quarterly report and a yearly review per agreement that came into force, due from its
    start to its end (or a year ahead); the past ones mostly handed in and accepted."""
    deliverable_rows = []
    for row in created_rows:
        if row.signed_on is None:
            continue
        plan = [("Rapport trimestriel", "quarterly"), ("Revue annuelle", "yearly")]
        if row.id % 4 == 0:
            plan.append(("Relevé mensuel", "monthly"))
        for title, recurrence in plan:
            first_due = row.signed_on + relativedelta(months={"quarterly": 3, "yearly": 12, "monthly": 1}[recurrence])
            if row.expires_on is not None and row.expires_on < first_due:
                continue  # ended before its first due date
            deliverable_rows.append(
                {
                    "agreement_id": row.id,
                    "title_fr": title,
                    "title_en": title,
                    "recurrence": recurrence,
                    "responsible_organization_id": partner_of[row.id]
                    if recurrence == "quarterly" or row.id % 3
                    else home_id,
                    "first_due_on": first_due,
                    "until_on": row.expires_on,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    _insert(Deliverable, deliverable_rows)
    deliverables = db.session.execute(
        select(Deliverable.id, Deliverable.recurrence, Deliverable.first_due_on, Deliverable.until_on)
        .where(Deliverable.agreement_id >= created_rows[0].id)
        .order_by(Deliverable.id)
    ).all()
    progress = Progress("occurrences", len(deliverables) * 8)
    occurrence_rows = []
    horizon = today + timedelta(days=365)
    for deliverable in deliverables:
        step = relativedelta(months={"quarterly": 3, "yearly": 12, "monthly": 1}[deliverable.recurrence])
        due, last = deliverable.first_due_on, min(deliverable.until_on or horizon, horizon)
        while due <= last:
            if due < today - timedelta(days=30):
                status = rng.choices(["accepted", "submitted", "pending", "sent_back", "waived"], [78, 6, 8, 4, 4])[0]
            elif due < today:
                status = rng.choice(["pending", "submitted", "accepted"])
            else:
                status = "pending"
            occurrence_rows.append({"deliverable_id": deliverable.id, "due_on": due, "status": status, "version": 1})
            due += step
    _insert(Occurrence, occurrence_rows, progress)
    progress.end()
    handed = (
        db.session.execute(
            select(Occurrence.id, Occurrence.due_on, Occurrence.status).where(
                Occurrence.status.in_(("accepted", "submitted", "sent_back")),
                Occurrence.deliverable_id >= deliverables[0].id,
                ~Occurrence.submissions.any(),
            )
        ).all()
        if deliverables
        else []
    )
    submission_rows = []
    for occurrence in handed:
        moment = datetime.combine(occurrence.due_on, datetime.min.time(), tzinfo=timezone.utc) + timedelta(
            days=rng.randint(-10, 12), hours=rng.randint(8, 17)
        )
        submission_rows.append(
            {
                "occurrence_id": occurrence.id,
                "number": 1,
                "submitted_at": min(moment, now),
                "note": "Rapport remis.",
                "decision": {"accepted": "accept", "sent_back": "send_back"}.get(occurrence.status),
                "reviewed_at": min(moment + timedelta(days=3), now) if occurrence.status != "submitted" else None,
            }
        )
    _insert(Submission, submission_rows, Progress("hand-ins", len(submission_rows)))
    fill_first_hand_ins(db.session)
    sys.stderr.write("\n")
    return {"occurrences": len(occurrence_rows), "submissions": len(submission_rows)}


def _workflow(rng, created_rows, staff, now) -> dict:
    """Approval rounds (open for agreements in review, approved for those past it) and negotiation rounds."""
    round_rows = []
    for row in created_rows:
        if row.state == "draft" or row.state == "cancelled":
            continue
        is_open = row.state == "internal_review"
        round_rows.append(
            {
                "agreement_id": row.id,
                "transition": "approve_review",
                "from_state": "internal_review",
                "requested_at": now - timedelta(days=rng.randint(1, 40) if is_open else rng.randint(200, 900)),
                "status": "open" if is_open else "approved",
                "requested_by_id": None,
            }
        )
    _insert(ApprovalRound, round_rows)
    rounds = db.session.execute(
        select(ApprovalRound.id, ApprovalRound.status, ApprovalRound.requested_at).where(
            ApprovalRound.agreement_id >= created_rows[0].id
        )
    ).all()
    decision_rows = []
    for round_ in rounds:
        people = [rng.choice(staff["legal"])] + ([rng.choice(staff["manager"])] if round_.status != "open" else [])
        if round_.status == "open" and round_.id % 2:
            people = []
        for person in people:
            decision_rows.append(
                {
                    "round_id": round_.id,
                    "step": "legal_and_head",
                    "approver_id": person,
                    "counted_user_id": person,
                    "decision": "approve",
                    "decided_at": round_.requested_at + timedelta(days=rng.randint(1, 9)),
                }
            )
    _insert(ApprovalDecision, decision_rows)
    negotiation_rows = []
    for row in created_rows:
        if row.state == "negotiation":
            for number in range(1, row.id % 3 + 1):
                negotiation_rows.append(
                    {
                        "agreement_id": row.id,
                        "number": number,
                        "side": "ministry" if number % 2 else "partner",
                        "sent_at": now - timedelta(days=40 - number * 10),
                    }
                )
    _insert(NegotiationRound, negotiation_rows)
    return {"approval_rounds": len(round_rows), "decisions": len(decision_rows)}


class _Chain:
    """The audit chain's head, carried on by the rows the bench writes: each is sealed as the app seals its
    own (app/core/audit.py: its place, the hash before it, its hash), so `flask audit verify` finds a
    benchmark's trail whole; written unsealed, they read as a break in the chain. Ids are given here, as a
    row's hash covers its id."""

    def __init__(self):
        self.seq, self.hash = chain_head(db.session.connection())
        self.next_id = (db.session.scalar(select(func.max(AuditEvent.id))) or 0) + 1

    def seal(self, rows: list[dict]) -> list[dict]:
        for row in rows:
            row.update(id=self.next_id, actor_id=None, comment=None)
            self.next_id += 1
            self.seq += 1
            sealed = row_digest(seq=self.seq, prev_hash=self.hash, **row)
            row.update(chain_seq=self.seq, prev_hash=self.hash, row_hash=sealed)
            self.hash = sealed
        return rows

    def close(self) -> None:
        move_chain_head(db.session.connection(), self.seq, self.hash)
        if db.session.get_bind().dialect.name == "postgresql":  # the ids given here: the sequence follows them
            db.session.execute(
                text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), (SELECT max(id) FROM audit_events))")
            )


def _audit(rng, created_rows, now) -> int:
    """The stage history of every agreement, then the day-to-day rows (edits, hand-ins, reviews,
    views of documents) up to AUDIT_PER_AGREEMENT per agreement, sealed in the audit chain."""
    total = len(created_rows) * AUDIT_PER_AGREEMENT
    progress = Progress("audit trail", total)
    chain = _Chain()
    batch, written = [], 0
    for row in created_rows:
        target = PATH.index(row.state) if row.state in PATH else (len(PATH) - 1 if row.state in IN_FORCE else 0)
        moment = row.created_at
        batch.append(
            {
                "occurred_at": moment,
                "actor_label": "bench",
                "object_type": "agreements",
                "object_id": row.id,
                "action": "created",
                "changes": {"after": {"state": "draft"}},
            }
        )
        path = PATH[: target + 1] + ([row.state] if row.state not in PATH else [])
        for source, target_state in zip(path, path[1:]):
            moment += timedelta(days=rng.randint(3, 40), hours=rng.randint(0, 8))
            batch.append(
                {
                    "occurred_at": min(moment, now),
                    "actor_label": "bench",
                    "object_type": "agreements",
                    "object_id": row.id,
                    "action": "transition",
                    "changes": {"before": {"state": source}, "after": {"state": target_state}},
                }
            )
        for number in range(AUDIT_PER_AGREEMENT - len(path)):
            batch.append(
                {
                    "occurred_at": min(moment + timedelta(hours=number * 7), now),
                    "actor_label": "bench",
                    "object_type": "agreements" if number % 3 else "deliverable_occurrences",
                    "object_id": row.id,
                    "action": "updated" if number % 3 else "submitted",
                    "changes": {"after": {"notes": f"step {number}"}},
                }
            )
        if len(batch) >= CHUNK * 4:
            _insert(AuditEvent, chain.seal(batch), progress)
            written += len(batch)
            batch = []
    _insert(AuditEvent, chain.seal(batch), progress)
    chain.close()
    progress.end()
    return written + len(batch)


def _notifications(created_rows, staff, now) -> None:
    rows = [
        {
            "user_id": staff["officer"][0],
            "kind": "agreement_moved",
            "category": "agreement_activity",
            "params": {"reference": f"#{row.id}", "state": {"fr": row.state}},
            "link": f"/agreements/{row.id}",
            "object_type": "agreements",
            "object_id": row.id,
            "created_at": now - timedelta(minutes=row.id),
        }
        for row in created_rows[:2000]
    ]
    _insert(Notification, rows)
